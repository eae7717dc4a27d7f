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
from fluxfix.patches.sglang_host import SglangPatch

READ_BACK_ANY = CompileBranch(
    owner="", function="fuse_scale_shift_kernel", parameters="(x, scale, shift, scale_constant, block_l, block_c)",
    defect=("any",),
    when_compiling="""
if scale.numel() == 1 and shift.numel() == 1 and scale.dim() <= 1 and shift.dim() <= 1:
    # 0-dim scalars keep x's dtype, as the kernel's store into empty_like(x) does
    moved = x * (scale_constant + scale.reshape(())) + shift.reshape(())
    return torch.where((scale != 0) | (shift != 0), moved, x)""",
)
READ_BACK_MAX = replace(READ_BACK_ANY, defect=("abs", "max"))  # 0.5.8-0.5.9: `abs().max() == 0`

# where the launcher lives: 0.5.8, 0.5.9-0.5.11, 0.5.17, 0.5.21+
MODULES = ("sglang.multimodal_gen.runtime.layers.triton_ops", "sglang.jit_kernel.diffusion.triton.scale_shift",
           "sglang.kernels.ops.diffusion.triton.scale_shift", "sglang.kernels.ops.diffusion.modulate.scale_shift_triton")


class ScaleShiftZeroTest(CompileBranches, SglangPatch):
    name = "sglang-scale-shift-zero-test"
    summary = "the Triton scale-shift launcher's host-side zero test becomes a torch.where while compiling"
    branches = {module: (READ_BACK_ANY, READ_BACK_MAX) for module in MODULES}
    targets = MODULES
    breaks_on = ("Data-dependent branching",)
    upstream = "none yet (0.5.23 still reads scale/shift back to the host)"


@hookimpl
def fluxfix_patches():
    return [ScaleShiftZeroTest()]
