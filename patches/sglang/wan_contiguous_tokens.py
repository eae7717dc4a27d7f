"""sglang before 0.5.17: Wan's transformer hands its first block the patch embedding's transposed
view of the tokens, every later block a contiguous tensor, so its blocks compiled alone
(`FLUXFIX_COMPILE=regional`) compile once per layout: on an H100 (0.5.10, Wan 2.1) two graphs at the
first size and two at the next, the second 5-6 s each. While the first block runs compiled code of
its own, the view is made contiguous before the block loop (fluxfix.contiguous_tokens); eager runs
and a whole-model compile are untouched.

Checked on a simulated ROCm machine: 0.5.8-0.5.16's platform for a CPU cannot build a model, and
their Wan norms call a CUDA-only Triton kernel, so the host's forward runs up to the first block there.
"""
from fluxfix import hookimpl
from fluxfix.contiguous_tokens import ContiguousTokensSites, first_block_layout, patchify_drift
from patches.sglang.host import SglangPatch, warp_size_answered
from patches.sglang.simulated_rocm import RocmContract

WANVIDEO = "sglang.multimodal_gen.runtime.models.dits.wanvideo"


class WanContiguousTokens(RocmContract, ContiguousTokensSites, SglangPatch):
    targets = (WANVIDEO,)
    upstream = "sglang 0.5.17 (contiguous for every caller)"
    expected = {"<0.5.17": "applied", ">=0.5.17": "not needed (fixed upstream)"}
    contract_release = "0.5.11"
    drift = patchify_drift("sglang/multimodal_gen/runtime/models/dits/wanvideo.py")

    def small_model(self):
        """sglang's Wan (narrow, two blocks) as its loader builds it, on a simulated ROCm machine."""
        import torch

        from patches.sglang import models, simulated_rocm

        simulated_rocm.enter()
        with warp_size_answered():
            import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first)
        return models.build("wan", 2, "cpu", torch.float32, height=64, width=64, frames=5, text_len=8,
                            narrow=models.NARROW["wan"], attention_backend="aiter")

    def defect(self):
        """The small Wan, its first block compiled alone, run up to that block."""
        built = self.small_model()
        return first_block_layout(built.model, built.step)


@hookimpl
def fluxfix_patches():
    return [WanContiguousTokens()]
