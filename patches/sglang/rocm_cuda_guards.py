"""Guards that pick a CUDA-only JIT kernel by testing `tensor.is_cuda`, which is true on ROCm too.

sglang 0.5.21's `can_use_modulate_scale_shift_cuda` (FLUX.1's norm + modulate) and
`can_use_residual_gate_add_cuda` (every FLUX.1 and FLUX.2 block's gated residual; 0.5.17 has an
earlier copy used by LTX-2) send ROCm to a kernel built for CUDA. Eagerly the host tries it, fails,
remembers the failure and takes its torch fallback from then on; while compiling it re-raises
(`if torch.compiler.is_compiling(): raise`), so a compiled forward on ROCm fails or breaks there.
0.5.23 answers False on a HIP build of torch (upstream #34579). While compiling on ROCm these guards
answer the same: the compiled forward takes the fallback the host settles on eagerly. Eager calls
and every other platform run the host's own code.
"""
from fluxfix import StepAside, Verdict, hookimpl
from fluxfix.compile_branch import CompileBranch, CompileBranches
from patches.sglang.host import SglangPatch, on_rocm, warp_size_answered
from patches.sglang.simulated_rocm import RocmContract

ROCM_ANSWERS_FALSE = "if torch.version.hip is not None:\n    return False"

MODULATE = CompileBranch(owner="", function="can_use_modulate_scale_shift_cuda", parameters="(x, scale, shift)",
                         defect=("is_cuda",), when_compiling=ROCM_ANSWERS_FALSE)
RESIDUAL_GATE = CompileBranch(owner="", function="can_use_residual_gate_add_cuda", parameters="(residual, update, gate)",
                              defect=("is_cuda",), when_compiling=ROCM_ANSWERS_FALSE)
BRANCHES = {
    "sglang.kernels.ops.diffusion.modulate.modulate_scale_shift_jit": (MODULATE,),
    "sglang.kernels.kda_kernels.residual_gate_add_jit": (RESIDUAL_GATE,),
    "sglang.kernels.ops.diffusion.residual_gate_add": (RESIDUAL_GATE,),  # 0.5.17 (LTX-2)
}


class RocmCudaGuards(RocmContract, CompileBranches, SglangPatch):
    summary = "on ROCm, guards that test tensor.is_cuda to pick a CUDA-only kernel answer False while compiling"
    branches = BRANCHES
    targets = tuple(BRANCHES)
    breaks_on = ("data pointer", "DataPtr")
    upstream = "sglang #34579 (0.5.23)"
    expected = {">=0.5.8": "not needed (off ROCm)"}
    expected_rocm = {"<0.5.17": "not needed (no such guard)", ">=0.5.17,<0.5.21": "applied (LTX-2's guard)",
                     ">=0.5.21,<0.5.23": "applied", ">=0.5.23": "not needed (fixed upstream)"}
    contract_release = "0.5.21"
    drift = (("sglang/kernels/ops/diffusion/modulate/modulate_scale_shift_jit.py",
              "def can_use_modulate_scale_shift_cuda(\n    x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor\n)",
              "def can_use_modulate_scale_shift_cuda(\n    x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor, gate=None\n)"),
             ("sglang/kernels/kda_kernels/residual_gate_add_jit.py",
              "def can_use_residual_gate_add_cuda(\n    residual: torch.Tensor, update: torch.Tensor, gate: torch.Tensor\n)",
              "def can_use_residual_gate_add_cuda(\n    residual: torch.Tensor, update: torch.Tensor, gate: torch.Tensor, out=None\n)"))

    def defect(self):
        """FLUX.1's modulate helper compiled with fullgraph=True on a simulated ROCm machine, on fake
        GPU tensors (they report is_cuda, as ROCm's do; no kernel runs)."""
        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode

        from fluxfix.breaks import fullgraph_error
        from patches.sglang import simulated_rocm

        simulated_rocm.enter()
        with warp_size_answered():
            from sglang.kernels.ops.diffusion.modulate import modulate_scale_shift_jit as module
        with FakeTensorMode():
            x = torch.empty(2, 8, 64, device="cuda", dtype=torch.bfloat16)
            scale, shift = (torch.empty(2, 64, device="cuda", dtype=torch.bfloat16) for _ in range(2))
        return fullgraph_error(module.modulate_scale_shift, x, scale, shift)

    def inspect(self, module):
        if not on_rocm():
            raise StepAside(Verdict.NOT_NEEDED, "not ROCm: tensor.is_cuda means CUDA here")
        sites = super().inspect(module)
        fixed = [name for name, (func, _) in sites.items() if "hip" in func.__code__.co_names]
        if fixed:
            raise StepAside(Verdict.NOT_NEEDED, f"{', '.join(fixed)} already answers False on ROCm (fixed upstream)")
        return sites


@hookimpl
def fluxfix_patches():
    return [RocmCudaGuards()]
