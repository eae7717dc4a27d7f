"""sglang's Triton GroupNorm+SiLU launcher, the VAE decoder's fast path on NVIDIA, called through a
torch custom op while compiling, so that a compiled VAE decode stops compiling again at every image size.

From 0.5.17 (FLUX.2's VAE; from 0.5.21 also FLUX.1's, SD3's and Z-Image's) sglang's CUDA platform puts
a two-pass Triton kernel in place of the decoder's GroupNorm+SiLU pairs. Its Python launcher,
`_gn_silu_rows`, sizes the launch from the row count (height x width): `nchunks = cdiv(rows, ...)`, then
`BLOCK_K=... triton.next_power_of_2(nchunks)`, a `tl.constexpr`. torch.compile traces the launcher and
must turn every constexpr into a constant, so every graph that normalizes through it is guarded on the
row count (sglang's own `next_power_of_2`, installed onto triton, uses `int.bit_length`: the guard is
the exact chunk count). Seen in an H100 server log (sglang 0.5.23, FLUX.1, `FLUXFIX_COMPILE=regional`):
at 768x1344 after 1024x1024, every ResnetBlock2D graph compiled again on
`((-1) + ((511 + H*W) // 512)) == 127` (7 graphs, 24.6 s); the host's whole-decode compile meets the
same guard at every size. While compiling, the launcher is called through `fluxfix::sglang_group_norm_silu_rows`:
the graph sees only its output's shape, goes dynamic at the second size and stays so. The op runs the
host's launcher unchanged at run time; outside compiled code the host's launcher runs directly.
"""
import ast

from fluxfix import StepAside, Verdict, hookimpl, recode
from fluxfix.kernel_op import NAMESPACE, KernelOp, route_through_op, signature_matches
from patches.sglang.host import SglangPatch

LAUNCHER = "_gn_silu_rows"
MODULES = ("sglang.kernels.ops.diffusion.norm.group_norm_silu_twopass_triton",  # 0.5.21+
           "sglang.kernels.ops.diffusion.triton.group_norm_silu_twopass")  # 0.5.17


def same_layout(x3, weight, bias, num_groups, eps, apply_silu):
    import torch

    return torch.empty_like(x3)  # the launcher's output: empty_like of its contiguous (N, rows, C) input


GROUP_NORM_SILU_ROWS = KernelOp(
    attr=LAUNCHER,
    function=LAUNCHER,
    op="sglang_group_norm_silu_rows",
    schema="(Tensor x3, Tensor weight, Tensor bias, int num_groups, float eps, bool apply_silu) -> Tensor",
    fake=same_layout,
    only_while_compiling=True,
)


def size_derived_constexprs(func) -> list[str]:
    """Keyword arguments of the function's kernel launches (`kernel[grid](..., NAME=value)`) whose
    value is computed with `next_power_of_2` from the input's size: what dynamo must specialize."""
    tree = recode.syntax(func)
    assigned = {target.id: node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    found = []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Subscript):
            for keyword in call.keywords:
                value = assigned.get(keyword.value.id) if isinstance(keyword.value, ast.Name) else keyword.value
                if value is not None and "next_power_of_2" in ast.unparse(value):
                    found.append(f"{keyword.arg}={ast.unparse(value)}")
    return found


def raised_in(exc: BaseException, function: str) -> bool:
    """The error came from inside `function`: a frame of its own, or (dynamo's errors) its user code."""
    import traceback

    return function in str(exc) or any(frame.name == function for frame in traceback.extract_tb(exc.__traceback__))


class GroupNormSiluOp(SglangPatch):
    summary = "the VAE decoder's Triton GroupNorm+SiLU launcher called through a torch custom op while compiling (no recompile per image size)"
    targets = MODULES
    upstream = "none (0.5.23 still sizes the launch from the row count)"
    expected = {"<0.5.17": "not needed (no Triton GroupNorm+SiLU launcher)", ">=0.5.17": "applied"}
    contract_release = "0.5.23"
    drift = ((f"{MODULES[0].replace('.', '/')}.py", "def _gn_silu_rows(x3, weight, bias, num_groups, eps, apply_silu):",
              "def _gn_silu_rows(x3, weight, bias, num_groups, eps, apply_silu, out=None):"),)

    def inspect(self, module):
        func = vars(module).get(LAUNCHER)
        if func is None:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {LAUNCHER}")
        if f"_fluxfix_op_{GROUP_NORM_SILU_ROWS.op}" in func.__code__.co_names:
            raise StepAside(Verdict.NOT_NEEDED, f"{LAUNCHER} already routed through {NAMESPACE}::{GROUP_NORM_SILU_ROWS.op}")
        if not signature_matches(func, GROUP_NORM_SILU_ROWS):
            raise StepAside(Verdict.TARGET_CHANGED, f"{LAUNCHER} does not match the declared {GROUP_NORM_SILU_ROWS.schema}")
        if not size_derived_constexprs(func):
            raise StepAside(Verdict.TARGET_CHANGED, f"{LAUNCHER} no longer passes its kernels a next_power_of_2 of the input's size")
        return {f"{module.__name__}.{LAUNCHER} -> {NAMESPACE}::{GROUP_NORM_SILU_ROWS.op}": func}

    def apply(self, module, sites):
        return route_through_op(next(iter(sites.values())), GROUP_NORM_SILU_ROWS)

    def defect(self):
        """The host's `group_norm_silu_4d` compiled (dynamic=None, as sglang compiles) on fake CUDA
        tensors at three sizes: it takes two graphs unless the launcher's guard on the row count
        compiles a third. Without a GPU, dynamo cannot trace into the launcher at all (its device
        context and Triton's driver need one): the error from inside it is the defect here."""
        import importlib

        import torch
        from torch._subclasses.fake_tensor import FakeTensorMode

        from fluxfix.engine import ENGINE

        with self.import_context():  # Triton modules ask the warp size at import
            module = next(importlib.import_module(m) for m in MODULES if not ENGINE.absent(m))
        graphs = []

        def count(gm, example_inputs):
            graphs.append(gm)
            return gm

        torch._dynamo.reset()
        compiled = torch.compile(lambda x, w, b: module.group_norm_silu_4d(x, w, b, 8, 1e-6), backend=count)
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            weight, bias = torch.empty(32, device="cuda"), torch.empty(32, device="cuda")
            for height, width in ((64, 64), (48, 80), (40, 40)):
                x = torch.empty(1, 32, height, width, device="cuda").to(memory_format=torch.channels_last)
                try:
                    if compiled(x, weight, bias) is None:
                        raise RuntimeError(f"{module.__name__}.group_norm_silu_4d declined the inputs: nothing was traced")
                except Exception as exc:
                    if not raised_in(exc, LAUNCHER):
                        raise
                    return f"dynamo traces into {LAUNCHER}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        return f"{len(graphs)} graphs for three sizes (the launcher's guard on the row count)" if len(graphs) > 2 else None


@hookimpl
def fluxfix_patches():
    return [GroupNormSiluOp()]
