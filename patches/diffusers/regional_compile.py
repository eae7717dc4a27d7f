"""Opt-in (FLUXFIX_COMPILE=regional): `pipe.transformer.compile()` compiles the model's repeated
blocks (what `compile_repeated_blocks` does) instead of the whole transformer.

A whole FLUX.1 transformer took 109 s to compile, and more than 115 s again at a second
resolution, where its repeated blocks took 20 s and 17 s for the same speed
(../shared/diffusers-landscape.md). Users who call `.compile()` (the docs' first example, and
sglang's diffusers backend) get that without changing code. The blocks are the classes the model
lists in `_repeated_blocks`, else the entries of its block lists. `torch.compile(model)` returns
a new module and is left alone. Every release 0.36.0-0.42.1.
"""
from fluxfix import StepAside, Verdict, hookimpl
from fluxfix.regional import RegionalCompileSites, listed_blocks
from patches.diffusers.host import DiffusersPatch

MODELING = "diffusers.models.modeling_utils"


class RegionalCompile(RegionalCompileSites, DiffusersPatch):
    summary = "opt-in: a whole-transformer .compile() compiles each repeated block instead (FLUXFIX_COMPILE=regional)"
    targets = (MODELING,)
    base = "ModelMixin"
    upstream = "diffusers compile_repeated_blocks (the same blocks, when asked for by name)"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/models/modeling_utils.py", "_repeated_blocks = []", "_compiled_blocks = []"),)

    def repeated_blocks(self, model) -> list:
        declared = set(getattr(model, "_repeated_blocks", None) or ())
        return [m for m in model.modules() if type(m).__name__ in declared] or listed_blocks(model)

    def small_model(self):
        """A small FLUX.1 transformer."""
        from patches.diffusers.models import small_flux

        return small_flux()[0]

    def inspect(self, module):
        if "_repeated_blocks" not in vars(getattr(module, "ModelMixin", object)):
            raise StepAside(Verdict.TARGET_CHANGED, "ModelMixin no longer declares _repeated_blocks")
        return super().inspect(module)


@hookimpl
def fluxfix_patches():
    return [RegionalCompile()]
