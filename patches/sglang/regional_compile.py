"""Opt-in (FLUXFIX_COMPILE=regional): sglang's `--enable-torch-compile` compiles each repeated
transformer block instead of the whole transformer.

sglang compiles the denoiser with `module.compile(...)` (its denoising stage). With fluxfix's
patches FLUX.1 is one graph, whose first compile took 85 s where the blocks alone take about 20 s
(BENCHMARKS.md), and again at each new resolution. `--regional-compile` (0.5.17+) does this
only for models that declare `_compile_conditions`; FLUX.1 declares none before 0.5.23. Here a
model's blocks are the ones its `_compile_conditions` match, else the entries of its block lists
(`transformer_blocks`, `single_transformer_blocks`, ...). Every release 0.5.8-0.5.23.
"""
from fluxfix import StepAside, Verdict, hookimpl
from fluxfix.regional import class_method, compile_method, compiled_regions, listed_blocks
from patches.sglang.host import SglangPatch

BASE = "sglang.multimodal_gen.runtime.models.dits.base"


def repeated_blocks(model) -> list:
    conditions = getattr(model, "_compile_conditions", None) or ()
    declared = [m for name, m in model.named_modules() if name and any(c(name, m) for c in conditions)]
    return declared or listed_blocks(model)


class RegionalCompile(SglangPatch):
    summary = "opt-in: a whole-transformer compile compiles each repeated block instead (FLUXFIX_COMPILE=regional)"
    targets = (BASE,)
    opt_in = "FLUXFIX_COMPILE=regional"
    upstream = "sglang --regional-compile (0.5.17+, models that declare _compile_conditions)"
    expected = {">=0.5.8": "applied"}
    contract_release = "0.5.23"  # sglang's models build on a machine without a GPU from 0.5.21 on
    drift = ((f"{BASE.replace('.', '/')}.py", "",  # the host's base class gains a compile() of its own
              "\n\ndef _own_compile(self, *args, **kwargs):\n    return super(BaseDiT, self).compile(*args, **kwargs)\n\n\n"
              "BaseDiT.compile = _own_compile\n"),)

    def defect(self):
        """`model.compile()` on sglang's FLUX.1 (narrow, one block of each kind) compiles it whole."""
        import torch

        from patches.sglang.models import NARROW, build

        net = build("flux", 1, "cpu", torch.float32, height=64, width=64, text_len=8, narrow=NARROW["flux"]).model
        net.compile(backend="eager")
        whole, blocks = compiled_regions(net)
        return f"{type(net).__name__}.compile() compiles it whole" if whole else None if blocks else "nothing compiled"

    def inspect(self, module):
        base = getattr(module, "BaseDiT", None)
        if base is None:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__}.BaseDiT is gone")
        if "compile" in vars(base):
            raise StepAside(Verdict.TARGET_CHANGED, "BaseDiT defines compile() itself")
        return {"BaseDiT.compile": base}

    def apply(self, module, sites):
        return class_method(sites["BaseDiT.compile"], "compile", compile_method(repeated_blocks))


@hookimpl
def fluxfix_patches():
    return [RegionalCompile()]
