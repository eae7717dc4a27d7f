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
from fluxfix.regional import class_method, compile_method, compiled_regions, listed_blocks
from patches.diffusers.host import DiffusersPatch

MODELING = "diffusers.models.modeling_utils"


def repeated_blocks(model) -> list:
    declared = set(getattr(model, "_repeated_blocks", None) or ())
    return [m for m in model.modules() if type(m).__name__ in declared] or listed_blocks(model)


class RegionalCompile(DiffusersPatch):
    summary = "opt-in: a whole-transformer .compile() compiles each repeated block instead (FLUXFIX_COMPILE=regional)"
    targets = (MODELING,)
    opt_in = "FLUXFIX_COMPILE=regional"
    upstream = "diffusers compile_repeated_blocks (the same blocks, when asked for by name)"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/models/modeling_utils.py", "_repeated_blocks = []", "_compiled_blocks = []"),)

    def defect(self):
        """`model.compile()` on a small FLUX.1 transformer compiles it whole."""
        from patches.diffusers.models import small_flux

        model, _ = small_flux()
        model.compile(backend="eager")
        whole, blocks = compiled_regions(model)
        return f"{type(model).__name__}.compile() compiles it whole" if whole else None if blocks else "nothing compiled"

    def inspect(self, module):
        mixin = getattr(module, "ModelMixin", None)
        if mixin is None or "_repeated_blocks" not in vars(mixin):
            raise StepAside(Verdict.TARGET_CHANGED, "ModelMixin no longer declares _repeated_blocks")
        if "compile" in vars(mixin):
            raise StepAside(Verdict.TARGET_CHANGED, "ModelMixin defines compile() itself")
        return {"ModelMixin.compile": mixin}

    def apply(self, module, sites):
        return class_method(sites["ModelMixin.compile"], "compile", compile_method(repeated_blocks))


@hookimpl
def fluxfix_patches():
    return [RegionalCompile()]
