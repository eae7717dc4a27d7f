"""sglang's RoPE helper warns on its Triton fallback (no FlashInfer: AMD, or NVIDIA without it):
a graph break in every attention layer, every call. sglang 0.5.10-0.5.10.post1; fixed in 0.5.11.

0.5.8-0.5.9 import FlashInfer inside the function and warn in its `except ImportError`: without
FlashInfer dynamo breaks at that failed import first, so the warning is never traced there;
`sglang-rope-flashinfer-import` (applied first: patches apply in name order) decides that import
outside the graph, after which the warning is handled here too. Where it is disabled, this patch
steps aside on those releases.
"""
import dis

from fluxfix import StepAside, Verdict, hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.warn_once import WarningSites, warning_break
from patches.sglang.host import SglangPatch, warp_size_answered

ROPE = "sglang.multimodal_gen.runtime.layers.rotary_embedding"


def imports_inside(func) -> list[str]:
    return [i.argval for i in dis.get_instructions(func.__code__) if i.opname == "IMPORT_NAME" and i.argval != "warnings"]


class RopeWarning(WarningSites, SglangPatch):
    summary = "RoPE Triton-fallback warning shown once, outside the compiled graph"
    targets = (ROPE, f"{ROPE}.utils")  # a module up to 0.5.9, a package from 0.5.10
    functions = ("apply_flashinfer_rope_qk_inplace",)
    upstream = "sglang #23648 (0.5.11)"
    expected = {"<0.5.10": "applied (after sglang-rope-flashinfer-import)",
                ">=0.5.10,<0.5.11": "applied", ">=0.5.11": "not needed (fixed upstream)"}
    drift = ((f"{ROPE.replace('.', '/')}/utils.py", "def apply_flashinfer_rope_qk_inplace(", "def apply_rope_qk_inplace_renamed("),
             (f"{ROPE.replace('.', '/')}/__init__.py", "apply_flashinfer_rope_qk_inplace", "apply_rope_qk_inplace_renamed"))

    def defect(self):
        """Traced only: its Triton fallback cannot run without a GPU, and fullgraph=True stops at the
        first break. Unpatched that is the warning; patched, tracing gets past it to the launch."""
        import torch

        with warp_size_answered():  # 0.5.8's Triton RoPE module asks for the warp size at import
            from sglang.multimodal_gen.runtime.layers.rotary_embedding import apply_flashinfer_rope_qk_inplace as rope
        q, k, cache = torch.randn(1, 4, 2, 8), torch.randn(1, 4, 2, 8), torch.randn(16, 8)
        return warning_break(fullgraph_error(lambda q, k: rope(q, k, cache), q, k))

    def inspect(self, module):
        sites = super().inspect(module)
        for qualname, func in sites.items():
            inside = imports_inside(func)
            if inside:
                raise StepAside(
                    Verdict.NOT_NEEDED,
                    f"{qualname} imports {', '.join(inside)} inside the function; without it dynamo breaks at "
                    "that import before the warning (sglang-rope-flashinfer-import removes that break)",
                )
        return sites


@hookimpl
def fluxfix_patches():
    return [RopeWarning()]
