"""Opt-in (FLUXFIX_COMPILE=regional): sglang's `--enable-torch-compile` compiles each repeated
transformer block instead of the whole transformer.

sglang compiles the denoiser with `module.compile(...)` (its denoising stage). With fluxfix's
patches FLUX.1 is one graph, whose first compile took 85 s where the blocks alone take about 20 s
(BENCHMARKS.md), and again at each new resolution. `--regional-compile` (0.5.17+) does this
only for models that declare `_compile_conditions`; FLUX.1 declares none before 0.5.23. Here a
model's blocks are the ones its `_compile_conditions` match, else the entries of its block lists
(`transformer_blocks`, `single_transformer_blocks`, ...). Every release 0.5.8-0.5.23.
"""
from fluxfix import hookimpl
from fluxfix.regional import RegionalCompileSites, listed_blocks
from patches.sglang.host import SglangPatch

BASE = "sglang.multimodal_gen.runtime.models.dits.base"


class RegionalCompile(RegionalCompileSites, SglangPatch):
    summary = "opt-in: a whole-transformer compile compiles each repeated block instead (FLUXFIX_COMPILE=regional)"
    targets = (BASE,)
    base = "BaseDiT"
    upstream = "sglang --regional-compile (0.5.17+, models that declare _compile_conditions)"
    expected = {">=0.5.8": "applied"}
    contract_release = "0.5.23"  # sglang's models build on a machine without a GPU from 0.5.21 on
    drift = ((f"{BASE.replace('.', '/')}.py", "",  # the host's base class gains a compile() of its own
              "\n\ndef _own_compile(self, *args, **kwargs):\n    return super(BaseDiT, self).compile(*args, **kwargs)\n\n\n"
              "BaseDiT.compile = _own_compile\n"),)

    def repeated_blocks(self, model) -> list:
        conditions = getattr(model, "_compile_conditions", None) or ()
        declared = [m for name, m in model.named_modules() if name and any(c(name, m) for c in conditions)]
        return declared or listed_blocks(model)

    def small_model(self):
        """sglang's FLUX.1 (narrow, one block of each kind)."""
        import torch

        from patches.sglang.models import NARROW, build

        return build("flux", 1, "cpu", torch.float32, height=64, width=64, text_len=8, narrow=NARROW["flux"]).model


@hookimpl
def fluxfix_patches():
    return [RegionalCompile()]
