"""sglang's fused norm layers warn each time they fall back to the native path: a graph break
per call in every block. Every release 0.5.8-0.5.23; no upstream fix."""
from fluxfix import hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.warn_once import WarningSites, warning_break
from patches.sglang.host import SglangPatch, warp_size_answered


class NormFallbackWarnings(WarningSites, SglangPatch):
    summary = "fused-norm fallback warnings shown once, outside the compiled graph (same path runs)"
    targets = ("sglang.multimodal_gen.runtime.layers.layernorm",)
    functions = ()  # every warnings.warn the module's functions and methods make
    upstream = "none"
    expected = {">=0.5.8": "applied"}  # no upstream fix
    # a function of the module that uses the name `warn` for something else: renaming it would change that too
    drift = (("sglang/multimodal_gen/runtime/layers/layernorm.py", "",
              "\n\ndef _drifted(warn):\n    warnings.warn('drifted')\n    return warn\n"),)

    def defect(self):
        """A real fused-norm layer on its fallback path (hidden size not a multiple of 256), or in
        0.5.8 the real QK-norm fallback, traced with fullgraph=True."""
        import torch

        with warp_size_answered():
            from sglang.multimodal_gen.runtime.layers import layernorm
        if hasattr(layernorm, "LayerNormScaleShift") and hasattr(layernorm.LayerNormScaleShift, "forward_cuda"):
            norm = layernorm.LayerNormScaleShift(64, elementwise_affine=True)
            args = torch.randn(2, 8, 64), torch.randn(2, 1, 64), torch.randn(2, 1, 64)
            return warning_break(fullgraph_error(norm.forward_cuda, *args))
        q_norm, k_norm = layernorm.RMSNorm(16), layernorm.RMSNorm(16)
        return warning_break(fullgraph_error(
            lambda q, k: layernorm.apply_qk_norm(q, k, q_norm, k_norm, 16, allow_inplace=False),
            torch.randn(2, 8, 64), torch.randn(2, 8, 64)))


@hookimpl
def fluxfix_patches():
    return [NormFallbackWarnings()]
