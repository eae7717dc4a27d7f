"""AITER attention (sglang's AMD backend) inside the compiled graph.

sglang 0.5.17 and 0.5.21 wrap `AITerImpl.forward` in `torch.compiler.disable`: with compile on,
every attention call of every block is a graph break (sgl-project/sglang#27702, open, proposes a
custom op). 0.5.23 compiles its BF16 path and keeps only its FP8 and eager-BF16 paths out.

Here `forward` gets the host's own code back without the disable, and its one opaque kernel call,
`aiter.flash_attn_func(...)`, goes through a torch custom op (`fluxfix::aiter_flash_attn`) whose
real implementation is that same call and whose fake gives flash attention's output shapes. With
SGLANG_DIFFUSION_AITER_FP8_ATTN=1 the patch steps aside: its FP8 kernels stay outside the graph,
as upstream keeps them. `forward_varlen` (packed sequences; no FLUX path) stays as it is.
"""
from __future__ import annotations

import ast
import inspect

from fluxfix import StepAside, Verdict, hookimpl, recode
from fluxfix.kernel_op import register_op
from patches.sglang.host import SglangPatch, warp_size_answered
from patches.sglang.simulated_rocm import RocmContract

BACKEND = "sglang.multimodal_gen.runtime.layers.attention.backends.aiter"
OPS = {  # the host's return_lse -> (op name, schema)
    False: ("aiter_flash_attn", "(Tensor q, Tensor k, Tensor v, float dropout_p, bool causal) -> Tensor"),
    True: ("aiter_flash_attn_lse", "(Tensor q, Tensor k, Tensor v, float dropout_p, bool causal) -> (Tensor, Tensor)"),
}
CALLER = "_fluxfix_aiter_flash_attn"  # the name the new forward code calls (added to the host module)


def flash_attn(q, k, v, dropout_p, causal):
    """The host's call, unchanged (the op's real implementation)."""
    import aiter

    return aiter.flash_attn_func(q, k, v, dropout_p=dropout_p, causal=causal, return_attn_probs=False, return_lse=False)


def flash_attn_lse(q, k, v, dropout_p, causal):
    import aiter

    return aiter.flash_attn_func(q, k, v, dropout_p=dropout_p, causal=causal, return_attn_probs=False, return_lse=True)


def out_like(q, k, v):
    """flash attention's output: [batch, seq_q, heads, head_dim of v], q's dtype."""
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


def fake(q, k, v, dropout_p, causal):
    return out_like(q, k, v)


def fake_lse(q, k, v, dropout_p, causal):
    import torch

    lse = q.new_empty((q.shape[0], q.shape[2], q.shape[1]), dtype=torch.float32)  # [batch, heads, seq_q]
    return out_like(q, k, v), lse


IMPLS = {False: (flash_attn, fake), True: (flash_attn_lse, fake_lse)}


def caller(op, impl):
    """What the new forward calls: the op while compiling; eagerly the host's call itself."""
    import torch

    def call(q, k, v, dropout_p, causal):
        if torch.compiler.is_compiling():
            return op(q, k, v, dropout_p, causal)
        return impl(q, k, v, dropout_p, causal)

    return call


def kernel_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "flash_attn_func"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "aiter")


def return_lse(call: ast.Call) -> bool | None:
    """The host's literal return_lse, where the call has exactly the form the op covers (q, k, v;
    dropout_p and causal from self; no attention probabilities), else None."""
    named = {kw.arg: ast.unparse(kw.value) for kw in call.keywords}
    if [ast.unparse(a) for a in call.args] != ["query", "key", "value"] or set(named) != {
            "dropout_p", "causal", "return_attn_probs", "return_lse"}:
        return None
    if (named["dropout_p"], named["causal"], named["return_attn_probs"]) != ("self.dropout_p", "self.causal", "False"):
        return None
    return {"True": True, "False": False}.get(named["return_lse"])


class AiterAttention(RocmContract, SglangPatch):
    summary = "AITER attention (AMD) compiles inside the graph: its kernel call goes through a torch custom op"
    targets = (BACKEND,)
    upstream = "sglang #27702 (open); 0.5.23 compiles the BF16 path"
    # on a machine without aiter (every CUDA machine) the backend module never imports
    needs = ("aiter",)
    expected = {">=0.5.8": "not needed (no aiter: ROCm only)"}
    expected_rocm = {"<0.5.17": "not needed (forward not compile-disabled)", ">=0.5.17,<0.5.23": "applied",
                     ">=0.5.23": "not needed (fixed upstream)"}
    contract_release = "0.5.21"
    drift = ((f"{BACKEND.replace('.', '/')}.py", "            return_attn_probs=False,\n            return_lse=False,\n",
              "            return_attn_probs=False,\n            return_lse=False,\n            window_size=(-1, -1),\n"),)

    def defect(self):
        """AITerImpl.forward compiled with fullgraph=True, on a simulated ROCm machine (aiter's
        attention computed by torch reference ops: patches.sglang.simulated_rocm)."""
        import torch

        from fluxfix.breaks import fullgraph_error
        from patches.sglang import simulated_rocm

        simulated_rocm.enter()
        with warp_size_answered():
            import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first)
            from sglang.multimodal_gen.runtime.layers.attention.backends import aiter as backend
        impl = backend.AITerImpl(num_heads=2, head_size=16, softmax_scale=0.25)
        q, k, v = (torch.randn(1, 8, 2, 16) for _ in range(3))
        return fullgraph_error(lambda q, k, v: impl.forward(q, k, v), q, k, v)

    def inspect(self, module):
        impl = getattr(module, "AITerImpl", None)
        forward = vars(impl).get("forward") if isinstance(impl, type) else None
        if forward is None:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__}.AITerImpl.forward is gone")
        if not getattr(forward, "_torchdynamo_disable", False):
            raise StepAside(Verdict.NOT_NEEDED, "AITerImpl.forward is not compile-disabled in this release"
                            + (" (fixed upstream: only its FP8 and eager paths are)" if hasattr(impl, "_forward_fp8") else ""))
        inner = getattr(forward, "__wrapped__", None)
        if not inspect.isfunction(inner):
            raise StepAside(Verdict.TARGET_CHANGED, "AITerImpl.forward's compile-disabled function is not a plain function")
        if getattr(module, "_use_fp8_attn", False):
            raise StepAside(Verdict.NOT_NEEDED, "SGLANG_DIFFUSION_AITER_FP8_ATTN=1: its FP8 kernels stay outside the "
                            "graph, as upstream keeps them")
        calls = [n for n in ast.walk(recode.syntax(inner)) if kernel_call(n)]
        lse = return_lse(calls[0]) if len(calls) == 1 else None
        if lse is None:
            raise StepAside(Verdict.TARGET_CHANGED, "AITerImpl.forward no longer makes one aiter.flash_attn_func(query, "
                            "key, value, dropout_p=..., causal=..., return_attn_probs=False, return_lse=...) call")
        return {f"AITerImpl.forward -> fluxfix::{OPS[lse][0]}": (impl, forward, inner, lse)}

    def apply(self, module, sites):
        ((impl, forward, inner, lse),) = sites.values()
        name, schema = OPS[lse]
        op, impl_call = register_op(name, schema, *IMPLS[lse])

        def route(node):
            for parent in ast.walk(node):
                for field, value in ast.iter_fields(parent):
                    if isinstance(value, ast.AST) and kernel_call(value):
                        setattr(parent, field, ast.Call(ast.Name(CALLER, ast.Load()), [
                            ast.Name("query", ast.Load()), ast.Name("key", ast.Load()), ast.Name("value", ast.Load()),
                            ast.parse("self.dropout_p", mode="eval").body, ast.parse("self.causal", mode="eval").body], []))

        undo_code = recode.recode(inner, recode.rewritten(inner, route), {CALLER: caller(op, impl_call)})
        impl.forward = inner  # the host's function, its disable wrapper set aside

        def undo():
            impl.forward = forward
            undo_code()

        return undo

    def explains(self, brk) -> bool:
        return "attn_impl.forward" in brk.code or any(frame.endswith("in forward") and "backends/aiter.py" in frame
                                                       for frame in brk.stack)


@hookimpl
def fluxfix_patches():
    return [AiterAttention()]
