"""diffusers' `deprecate()` warns with `warnings.warn` (`utils/deprecation_utils.py`): reached from a
forward (Qwen-Image's deprecated `txt_seq_lens` in 0.37.0, sglang's pin) it is a graph break on every
step. Every release 0.36.0-0.42.1 has the helper; which forwards reach it depends on the release.
The warning becomes compile-safe (`fluxfix.warn_once`): eagerly it warns exactly as before; while
compiling it is shown once, as dynamo traces.
"""
from fluxfix import hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.warn_once import WarningSites
from patches.diffusers.host import DiffusersPatch


class DeprecationWarnings(WarningSites, DiffusersPatch):
    summary = "deprecate() warnings reached from a forward no longer break the graph"
    targets = ("diffusers.utils.deprecation_utils",)
    functions = ("deprecate",)
    upstream = "none"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/utils/deprecation_utils.py", "warnings.warn(warning + message, FutureWarning, stacklevel=stacklevel)",
              "warn = warnings.warn  # the name now means something else here\n"
              "            warn(warning + message, FutureWarning, stacklevel=stacklevel)"),)

    def defect(self):
        """diffusers' own deprecate() on a deprecated argument, called where a forward calls it."""
        import torch
        from diffusers.utils import deprecate

        def forward(x, **kwargs):
            scale = deprecate("scale", "99.0.0", "Pass `weight` instead.", take_from=kwargs)
            return x * scale

        return fullgraph_error(lambda x: forward(x, scale=2.0), torch.randn(3))


@hookimpl
def fluxfix_patches():
    return [DeprecationWarnings()]
