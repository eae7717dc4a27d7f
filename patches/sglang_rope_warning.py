"""sglang's RoPE helper warns on its Triton fallback (no FlashInfer: AMD, or NVIDIA without it):
a graph break in every attention layer, every call. sglang 0.5.8-0.5.10.post1; fixed in 0.5.11."""
from fluxfix import Patch, hookimpl
from fluxfix.warn_once import WarningSites

ROPE = "sglang.multimodal_gen.runtime.layers.rotary_embedding"


class RopeWarning(WarningSites, Patch):
    name = "sglang-rope-warning"
    summary = "RoPE Triton-fallback warning shown once, outside the compiled graph"
    host = "sglang"
    targets = (ROPE, f"{ROPE}.utils")  # a module up to 0.5.8, a package from 0.5.9
    functions = ("apply_flashinfer_rope_qk_inplace",)
    upstream = "sglang #23648 (0.5.11)"


@hookimpl
def fluxfix_patches():
    return [RopeWarning()]
