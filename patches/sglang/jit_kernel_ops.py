"""sglang's tvm-ffi JIT kernels, made compile-safe as torch custom ops.

The CUDA timestep embedding (every DiT's time embedder on NVIDIA), the in-place QK-norm (the
QK-norm/RoPE fallback path, the one AMD takes) and, from 0.5.23, the RMSNorm kernel `rmsnorm_hf`
call `module.<kernel>(...)` on a tvm-ffi module.
Dynamo cannot trace that call, so FLUX never compiles into one graph, in any release. sglang wraps
some of its kernels as torch ops already (the fused QK-norm+RoPE; the in-place QK-norm from
0.5.23 on); this patch does the same for those it left out, and steps aside where it did.
"""
from fluxfix import hookimpl
from fluxfix.kernel_op import KernelOp, KernelOps
from fluxfix.breaks import fullgraph_error
from patches.sglang.host import SglangPatch, warp_size_answered

LAYERS = "sglang.multimodal_gen.runtime.layers"
JIT_LOADER = "_jit_"  # sglang's kernel functions load their tvm-ffi module through _jit_<kernel>_module()


def timestep_embedding_fake(t, dim, *flags, **named):  # the op drops arguments left at their default
    import torch

    return t.new_empty((t.shape[0], dim), dtype=torch.float32)  # the host allocates float32 (N, dim)


TIMESTEP_EMBEDDING = KernelOp(
    attr="timestep_embedding_cuda",
    function="timestep_embedding",
    op="sglang_timestep_embedding",
    schema="(Tensor t, SymInt dim, bool flip_sin_to_cos=False, float downscale_freq_shift=0.0, float scale=1.0, "
    "int max_period=10000, ScalarType dtype=float32) -> Tensor",
    fake=timestep_embedding_fake,
    kernel_call="timestep_embedding",
    loader=JIT_LOADER,
)

INPLACE_QKNORM = KernelOp(
    attr="fused_inplace_qknorm",
    function="fused_inplace_qknorm",
    op="sglang_fused_inplace_qknorm",
    schema="(Tensor(a!) q, Tensor(b!) k, Tensor q_weight, Tensor k_weight, float eps=1e-06, *, SymInt head_dim=0) -> ()",
    fake=lambda q, k, q_weight, k_weight, eps=1e-6, *, head_dim=0: None,  # writes q and k in place
    kernel_call="qknorm",
    loader=JIT_LOADER,
)


RMSNORM_HF = KernelOp(  # 0.5.23+: RMSNorm.forward_cuda of models that cast before the weight multiply
    attr="rmsnorm_hf",
    function="rmsnorm_hf",
    op="sglang_rmsnorm_hf",
    schema="(Tensor input, Tensor weight, float eps=1e-06, Tensor? out=None) -> Tensor",
    fake=lambda input, weight, eps=1e-6, out=None: input.new_empty(input.shape),  # the host's empty_like(input)
    kernel_call="rmsnorm_hf",
    loader=JIT_LOADER,
    direct_when_given=("out",),  # the kernel would return the `out` it was given: callers that pass it run as before
)


class JitKernelOps(KernelOps, SglangPatch):
    summary = "tvm-ffi JIT kernels (timestep embedding, in-place QK-norm, rmsnorm_hf) called through torch custom ops"
    kernels = {
        f"{LAYERS}.visual_embedding": (TIMESTEP_EMBEDDING,),
        f"{LAYERS}.layernorm": (INPLACE_QKNORM, RMSNORM_HF),
    }
    targets = tuple(kernels)
    upstream = "none (sglang wraps other kernels this way, e.g. fused QK-norm+RoPE)"
    # 0.5.8 takes the timestep embedding from sgl_kernel (a torch op); 0.5.23 wraps the in-place
    # QK-norm as a torch op itself and adds rmsnorm_hf
    expected = {"<0.5.9": "applied (QK-norm)", ">=0.5.9,<0.5.23": "applied", ">=0.5.23": "applied (timestep, RMSNorm)"}
    drift = (("sglang/jit_kernel/timestep_embedding.py", "def timestep_embedding(\n    t: torch.Tensor,",
              "def timestep_embedding(\n    t: torch.Tensor,\n    period_scale: float,"),)

    def defect(self):
        """The timestep-embedding kernel traced on meta tensors (it needs a GPU to run)."""
        import torch

        with warp_size_answered():
            from sglang.multimodal_gen.runtime.layers import visual_embedding
        timestep = visual_embedding.timestep_embedding_cuda
        return fullgraph_error(lambda t: timestep(t, 256, True), torch.randn(3, device="meta"))


@hookimpl
def fluxfix_patches():
    return [JitKernelOps()]
