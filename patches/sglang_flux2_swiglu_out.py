"""FLUX.2's SwiGLU helper compares data pointers: a graph break in every block's feed-forward.

sglang 0.5.2x's `_flux2_swiglu(x, out)` (models/dits/flux_2.py) writes its result into `out` (a
slice of the next GEMM's input) and checks `result.data_ptr() != out.data_ptr()` to see whether
the fused kernel already wrote there. Dynamo cannot trace data pointers ("DataPtrVariable() has
no type") and abandons the frame. When compiling, the host's own `_flux2_swiglu_impl` takes its
reference branch, which always returns a new tensor, so the answer is known: copy into `out`.
The new code says exactly that while compiling and runs the host's original code otherwise.
"""
from fluxfix import Patch, StepAside, Verdict, hookimpl
from fluxfix import recode
from fluxfix.device_query import warp_size_answered

FLUX2 = "sglang.multimodal_gen.runtime.models.dits.flux_2"
HELPER, IMPL = "_flux2_swiglu", "_flux2_swiglu_impl"
ORIGINAL = "_fluxfix_original_flux2_swiglu"


class Flux2SwigluOut(Patch):
    name = "sglang-flux2-swiglu-out"
    summary = "FLUX.2 SwiGLU writes into `out` without a data-pointer test while compiling"
    host = "sglang"
    import_context = staticmethod(warp_size_answered)  # for `fluxfix status` on a machine without a GPU
    targets = (FLUX2,)
    upstream = "none yet (sglang 0.5.23 still compares data pointers)"

    def inspect(self, module):
        helper, impl = getattr(module, HELPER, None), getattr(module, IMPL, None)
        if helper is None:
            raise StepAside(Verdict.NOT_NEEDED, f"no {HELPER} in {FLUX2} (FLUX.2's SwiGLU has no `out` path here)")
        if impl is None or not hasattr(helper, "__code__"):
            raise StepAside(Verdict.TARGET_CHANGED, f"{HELPER} is there but {IMPL} is not: the helper changed")
        if "data_ptr" not in helper.__code__.co_names:
            raise StepAside(Verdict.NOT_NEEDED, f"{HELPER} does not compare data pointers here")
        names = impl.__code__.co_names
        if not ("is_compiling" in names and "compiler" in names):
            raise StepAside(Verdict.TARGET_CHANGED, f"{IMPL} has no torch.compiler.is_compiling() branch to rely on")
        if recode.plain_signature(helper) != "(x, out)":
            raise StepAside(Verdict.TARGET_CHANGED, f"{HELPER}{recode.plain_signature(helper)}: expected (x, out)")
        return {f"{FLUX2}.{HELPER}": helper}

    def explains(self, brk) -> bool:
        return "DataPtr" in brk.reason and any(HELPER in frame for frame in brk.stack)

    def apply(self, module, sites):
        (helper,) = sites.values()
        source = (f"def {HELPER}(x, out):\n"
                  f"    if out is not None and torch.compiler.is_compiling():\n"
                  f"        return out.copy_({IMPL}(x, None))\n"
                  f"    return {ORIGINAL}(x, out)\n")
        code = recode.compile_like(helper, source)
        return recode.recode(helper, code, {ORIGINAL: recode.original_as_function(helper)})


@hookimpl
def fluxfix_patches():
    return [Flux2SwigluOut()]
