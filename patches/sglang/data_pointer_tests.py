"""sglang helpers that compare tensor data pointers inside compiled code: dynamo cannot trace
`data_ptr()` ("DataPtrVariable() has no type" / "Data pointer comparison") and abandons the frame.
Found by `fluxfix doctor` on the GPU, sglang 0.5.23; both are in every block's forward:

- FLUX.2's SwiGLU `_flux2_swiglu(x, out)` (models/dits/flux_2.py, 0.5.23) checks whether its
  fused kernel already wrote into `out`. While compiling, the host's own `_flux2_swiglu_impl` takes
  its reference branch, which returns a new tensor, so the answer is known: copy it into `out`.
- `FP32LayerNorm._cached_fp32_param` (layers/layernorm.py, 0.5.17+; Wan's norms) caches the fp32
  copy of a weight keyed by its data pointer. While compiling, the conversion is part of the graph
  instead (inductor folds it into the norm), exactly as its own uncached path computes it.
"""
from fluxfix import hookimpl
from fluxfix.compile_branch import CompileBranch, CompileBranches
from fluxfix.breaks import fullgraph_error
from patches.sglang.host import SglangPatch, warp_size_answered

RUNTIME = "sglang.multimodal_gen.runtime"

FLUX2_SWIGLU = CompileBranch(
    owner="", function="_flux2_swiglu", parameters="(x, out)", defect=("data_ptr",),
    relies_on=("_flux2_swiglu_impl", ("compiler", "is_compiling")),
    when_compiling="""
if out is None:
    return _flux2_swiglu_impl(x, None)
return out.copy_(_flux2_swiglu_impl(x, None))""",
)

FP32_PARAM_CACHE = CompileBranch(
    owner="FP32LayerNorm", function="_cached_fp32_param", parameters="(self, attr, param, device)",
    defect=("data_ptr",),
    when_compiling="""
if param is None:
    return None
if torch.is_grad_enabled():
    return param.float().to(device=device)
return param.detach().to(device=device, dtype=torch.float32)""",
)


class DataPointerTests(CompileBranches, SglangPatch):
    summary = "helpers that compare data pointers take a compile-safe branch while compiling"
    branches = {f"{RUNTIME}.models.dits.flux_2": (FLUX2_SWIGLU,), f"{RUNTIME}.layers.layernorm": (FP32_PARAM_CACHE,)}
    targets = tuple(branches)
    breaks_on = ("DataPtr", "data pointer")
    upstream = "none yet (0.5.23 still has both); sglang fixed the same pattern in Qwen-Image's own code"
    expected = {"<0.5.17": "not needed", ">=0.5.17,<0.5.23": "applied (norm cache)", ">=0.5.23": "applied (both)"}
    contract_release = "0.5.23"
    drift = (("sglang/multimodal_gen/runtime/layers/layernorm.py", "def _cached_fp32_param(\n        self, attr: str,",
              "def _cached_fp32_param(\n        self, cache_key, attr: str,"),
             ("sglang/multimodal_gen/runtime/models/dits/flux_2.py", "def _flux2_swiglu(", "def _flux2_swiglu_drifted("))

    def defect(self):
        """FP32LayerNorm's fp32 weight cache, keyed by the weight's data pointer (0.5.17+), as every
        call after the first finds it: filled."""
        import torch

        with warp_size_answered():
            from sglang.multimodal_gen.runtime.layers import layernorm
        norm = layernorm.FP32LayerNorm(64, elementwise_affine=True)
        x = torch.randn(2, 8, 64, dtype=torch.bfloat16)
        with torch.no_grad():
            norm(x)
            return fullgraph_error(norm, x)


@hookimpl
def fluxfix_patches():
    return [DataPointerTests()]
