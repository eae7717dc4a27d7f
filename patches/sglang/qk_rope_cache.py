"""sglang 0.5.21 and 0.5.23 build the RoPE module of their unfused QK-norm+RoPE path lazily, inside
the forward (`apply_qk_norm_rope`, runtime/layers/layernorm.py), and keep it in a module-level dict:

    rotary_emb = _QK_NORM_ROPE_DICT.get(rope_key)
    if rotary_emb is None:
        rotary_emb = RotaryEmbedding(...)
        _QK_NORM_ROPE_DICT[rope_key] = rotary_emb

That path is the one a CPU, an AMD GPU or a CUDA GPU without the fused JIT kernel takes. When the
first call is compiled (as `sglang generate --enable-torch-compile` runs it), dynamo has to put the
new module into the dict after the graph and cannot rebuild it there (its bound `_forward_method`):
"Reconstruction failure", and the whole transformer frame is abandoned. While compiling, the module
is now made for the trace only and not stored (the same module, the same arithmetic); eager calls
store it exactly as before, so eager behaviour is unchanged.
"""
from __future__ import annotations

import ast

from fluxfix import StepAside, Verdict, hookimpl, recode
from patches.sglang.host import SglangPatch, warp_size_answered

LAYERNORM = "sglang.multimodal_gen.runtime.layers.layernorm"
FUNCTION = "apply_qk_norm_rope"
CACHE = "_QK_NORM_ROPE_DICT"
STORE = f"{CACHE}[rope_key] = rotary_emb"
EAGER_ONLY = "not torch.compiler.is_compiling()"


def is_store(node: ast.AST) -> bool:
    return isinstance(node, ast.Assign) and ast.unparse(node) == STORE


class QkRopeCache(SglangPatch):
    summary = "the QK-norm+RoPE path's lazily built RoPE module no longer breaks a compiled first call"
    targets = (LAYERNORM,)
    upstream = "none yet (0.5.23 still builds it inside the forward)"
    expected = {"<0.5.21": "not needed (no lazy RoPE module)", ">=0.5.21": "applied"}
    contract_release = "0.5.23"
    drift = (("sglang/multimodal_gen/runtime/layers/layernorm.py", f"        {STORE}\n",
              f"        {CACHE}.setdefault(rope_key, rotary_emb)\n"),)

    def defect(self):
        """The unfused path compiled with fullgraph=True from its first call, for a head size no
        model has stored yet."""
        import torch

        from fluxfix.breaks import fullgraph_error

        with warp_size_answered():
            import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first)
            from sglang.multimodal_gen.runtime.layers import layernorm
        if CACHE not in vars(layernorm):
            return None
        head_dim = 24  # a key of its own: FLUX's 128, the tests' 16 may be stored already
        norm_q, norm_k = layernorm.RMSNorm(head_dim, eps=1e-6), layernorm.RMSNorm(head_dim, eps=1e-6)
        q, k, cache = torch.randn(1, 4, 2, head_dim), torch.randn(1, 4, 2, head_dim), torch.randn(4, head_dim)
        error = fullgraph_error(lambda q, k: getattr(layernorm, FUNCTION)(q, k, norm_q, norm_k, head_dim, cache), q, k)
        vars(layernorm)[CACHE].pop((head_dim, False), None)  # leave the host's cache as it was
        return error

    def inspect(self, module):
        func = vars(module).get(FUNCTION)
        if func is None or CACHE not in vars(module):
            raise StepAside(Verdict.NOT_NEEDED, f"{module.__name__} has no {FUNCTION} with a lazily filled {CACHE}")
        stores = [n for n in ast.walk(recode.syntax(func)) if is_store(n)]
        if len(stores) != 1:
            raise StepAside(Verdict.TARGET_CHANGED, f"{FUNCTION} no longer stores its RoPE module with one `{STORE}`")
        return {f"{FUNCTION}: `{STORE}` eager only": func}

    def apply(self, module, sites):
        (func,) = sites.values()
        code = recode.statements_replaced(func, is_store, lambda store: [
            ast.If(ast.parse(EAGER_ONLY, mode="eval").body, [store], [])])
        names = {} if "torch" in func.__globals__ else {"torch": __import__("torch")}
        return recode.recode(func, code, names)

    def explains(self, brk) -> bool:
        return any(frame.endswith(f" in {FUNCTION}") for frame in brk.stack) or "RotaryEmbedding" in brk.reason


@hookimpl
def fluxfix_patches():
    return [QkRopeCache()]
