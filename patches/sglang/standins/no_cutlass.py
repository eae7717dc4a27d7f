"""Harness shim for Wan 2.1 and Qwen-Image on a GPU machine without nvidia-cutlass-dsl (see README.md):
used by bench_sglang.py, by run_gpu.sh's doctor runs for those models and, for Wan, in every process of sglang's
server (benchmarks/serve_harness/sitecustomize.py); named in every result."""
import importlib.util
import inspect
import sys


def route_to_native() -> list[str]:
    """Same for every variant: sglang's norm layers for widths that are multiples of 256 (Wan 2.1:
    1536, Qwen-Image: 3072) call CuTe DSL kernels, and 0.5.2x's Wan imports a CuTe DSL fused
    RMSNorm+RoPE; both need nvidia-cutlass-dsl and flashinfer (about 160 MB), which cannot travel.
    The norm layers run their own `forward_native` instead, and the fused RMSNorm+RoPE reports
    itself unusable, so the model takes its own unfused path. Returns what was stood in."""
    import types

    done = []
    rope = "sglang.kernels.ops.diffusion.rope.rmsnorm_interleaved_rope_cutedsl"
    try:
        present = importlib.util.find_spec(rope) is not None  # imports its parent packages: they may be absent
    except ImportError:
        present = False
    if present and importlib.util.find_spec("cutlass") is None:
        stand_in = types.ModuleType(rope)

        def _unavailable(*args, **kwargs):
            raise RuntimeError(f"{rope} is stood in (no nvidia-cutlass-dsl)")

        def __getattr__(name):  # dunders stay missing: module scans read __file__ and the like
            if name.startswith("__"):
                raise AttributeError(name)
            return _unavailable

        stand_in.__getattr__ = __getattr__
        stand_in.can_use_fused_rmsnorm_interleaved_rope = lambda *args, **kwargs: False
        sys.modules[rope] = stand_in
        done.append("cutedsl fused RMSNorm+RoPE (reports unusable)")
    from sglang.multimodal_gen.runtime.layers import layernorm

    def native(self, *args, **kwargs):  # as sglang's own fallback calls it
        return self.forward_native(*args, **kwargs)

    cute = ("cutedsl", "fused_norm_scale_shift", "fused_scale_residual_norm_scale_shift", "norm_tanh_mul_add")
    for name, cls in vars(layernorm).items():
        own = isinstance(cls, type) and "forward_cuda" in vars(cls) and "forward_native" in dir(cls)
        if own and any(word in inspect.getsource(cls.forward_cuda) for word in cute):
            cls.forward_cuda = native
            done.append(f"{name}.forward_cuda -> forward_native (CuTe DSL)")
    return done
