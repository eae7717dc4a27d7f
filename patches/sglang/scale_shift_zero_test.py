"""sglang's Triton scale-shift launcher (`fuse_scale_shift_kernel`, x * (c + scale) + shift) reads
its scalar scale and shift back to the host to skip the kernel when both are zero
(`scale.any() or shift.any()`; `abs().max() == 0` up to 0.5.9). Under torch.compile that is a
data-dependent branch: a graph break on every call that passes scalars (Wan's norm layers on
their native path). Found by `fluxfix doctor` on the GPU (Wan 2.1, sglang 0.5.10 and 0.5.23).

While compiling, with both scalars, the launcher computes what its kernel computes, and keeps its
zero fast path as a `torch.where` instead of a host branch; inductor fuses it into one kernel.
Every other call, and every call outside compiled code, runs the host's code unchanged.
"""
from dataclasses import replace

from fluxfix import hookimpl
from fluxfix.compile_branch import CompileBranch, CompileBranches
from fluxfix.breaks import fullgraph_error
from fluxfix.engine import ENGINE
from patches.sglang.host import SglangPatch, warp_size_answered

WHILE_COMPILING = """
if scale.numel() == 1 and shift.numel() == 1 and scale.dim() <= 1 and shift.dim() <= 1:
    # 0-dim scalars keep x's dtype, as the kernel's store into empty_like(x) does
    moved = x * ({c} + scale.reshape(())) + shift.reshape(())
    return torch.where((scale != 0) | (shift != 0), moved, x)"""

READ_BACK_ANY = CompileBranch(  # 0.5.10+: `scale.any() or shift.any()`
    owner="", function="fuse_scale_shift_kernel", parameters="(x, scale, shift, scale_constant, block_l, block_c)",
    defect=("any",), when_compiling=WHILE_COMPILING.format(c="scale_constant"),
)
READ_BACK_MAX = replace(READ_BACK_ANY, defect=("abs", "max"))  # 0.5.9: `abs().max() == 0`
# 0.5.8: the same test, in a launcher without scale_constant (its kernel computes x * (1 + scale) + shift)
READ_BACK_MAX_NO_CONSTANT = replace(READ_BACK_MAX, parameters="(x, scale, shift, block_l, block_c)",
                                    when_compiling=WHILE_COMPILING.format(c="1"))

# where the launcher lives: 0.5.8, 0.5.9-0.5.11, 0.5.17, 0.5.21+. From 0.5.11 a machine without a GPU
# binds the module's name to the host's torch fallback instead, which has no defect.
BRANCHES = {
    "sglang.multimodal_gen.runtime.layers.triton_ops": (READ_BACK_MAX_NO_CONSTANT,),
    "sglang.jit_kernel.diffusion.triton.scale_shift": (READ_BACK_ANY, READ_BACK_MAX),
    "sglang.kernels.ops.diffusion.triton.scale_shift": (READ_BACK_ANY,),
    "sglang.kernels.ops.diffusion.modulate.scale_shift_triton": (READ_BACK_ANY,),
}


class ScaleShiftZeroTest(CompileBranches, SglangPatch):
    summary = "the Triton scale-shift launcher's host-side zero test becomes a torch.where while compiling"
    branches = BRANCHES
    targets = tuple(BRANCHES)
    breaks_on = ("Data-dependent branching",)
    upstream = "none yet (0.5.23 still reads scale/shift back to the host)"
    # from 0.5.11 a machine without a GPU binds the launcher's name to sglang's torch fallback
    expected = {"<0.5.11": "applied", ">=0.5.11": "not needed (no GPU)"}
    expected_rocm = {">=0.5.8": "applied"}  # a GPU machine: the Triton launcher everywhere
    drift = (("sglang/jit_kernel/diffusion/triton/scale_shift.py", "def fuse_scale_shift_kernel(\n    x: torch.Tensor,",
              "def fuse_scale_shift_kernel(\n    x: torch.Tensor,\n    gate: torch.Tensor,"),)

    def defect(self):
        """The Triton launcher with scalar scale and shift, traced on fake CUDA tensors (no GPU needed)."""
        import importlib

        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode

        with warp_size_answered():
            module = next(importlib.import_module(m) for m in BRANCHES if not ENGINE.absent(m))
        with FakeTensorMode():
            fake = (torch.empty(2, 8, 16, device="cuda", dtype=torch.bfloat16), torch.zeros(1, device="cuda"),
                    torch.zeros(1, device="cuda"))
        return fullgraph_error(module.fuse_scale_shift_kernel, *fake)


@hookimpl
def fluxfix_patches():
    return [ScaleShiftZeroTest()]
