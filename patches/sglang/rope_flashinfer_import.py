"""sglang 0.5.8-0.5.9 import FlashInfer inside their RoPE helper, on every call:

    try:
        from flashinfer.rope import apply_rope_with_cos_sin_cache_inplace
    except ImportError:
        <warn, then the Triton fallback>

Where FlashInfer is missing (every AMD machine; NVIDIA ones without it) dynamo cannot trace the
failed import ("Import failure") and breaks the graph in every attention layer. Whether the import
succeeds does not change while the process runs, so it is decided once, when the patch applies:
where it fails, the helper's own code is kept with the `try` replaced by its `except` body. Where
FlashInfer imports, nothing breaks and the patch steps aside. From 0.5.10 the import is at module
level (behind a CUDA check). With this applied, `sglang-rope-warning` handles the warning there too.
"""
from __future__ import annotations

import ast
import importlib

from fluxfix import StepAside, Verdict, hookimpl, recode
from patches.sglang.host import SglangPatch, warp_size_answered

ROPE = "sglang.multimodal_gen.runtime.layers.rotary_embedding"
FUNCTION = "apply_flashinfer_rope_qk_inplace"
IMPORTED = "flashinfer.rope"


def flashinfer_import(node: ast.AST) -> bool:
    """`try: from flashinfer.rope import ... except ImportError: ...`, nothing else in the try."""
    return (isinstance(node, ast.Try) and len(node.body) == 1 and isinstance(node.body[0], ast.ImportFrom)
            and node.body[0].module == IMPORTED and len(node.handlers) == 1 and not node.orelse and not node.finalbody
            and isinstance(node.handlers[0].type, ast.Name) and node.handlers[0].type.id == "ImportError"
            and node.handlers[0].name is None)


def imports_here() -> str | None:
    """Why the import fails in this process, or None where it succeeds."""
    try:
        importlib.import_module(IMPORTED)
    except ImportError as exc:
        return str(exc)
    return None


class RopeFlashinferImport(SglangPatch):
    summary = "RoPE helper's in-function FlashInfer import decided once, outside the compiled graph (where FlashInfer is missing)"
    targets = (ROPE,)
    upstream = "sglang 0.5.10 (the import moved to module level)"
    expected = {"<0.5.10": "applied (FlashInfer missing)", ">=0.5.10": "not needed (no import inside)"}
    contract_release = "0.5.9"
    drift = ((f"{ROPE.replace('.', '/')}.py", "    except ImportError:\n        # Triton fallback",
              "    except (ImportError, OSError):\n        # Triton fallback"),)

    def defect(self):
        """The helper traced with fullgraph=True (its Triton fallback would need a GPU to run): the
        break at the failed import, if that is where tracing stops."""
        import torch

        from fluxfix.breaks import fullgraph_error

        with warp_size_answered():  # 0.5.8's Triton RoPE module asks for the warp size at import
            module = importlib.import_module(ROPE)
        q, k, cache = torch.randn(1, 4, 2, 8), torch.randn(1, 4, 2, 8), torch.randn(16, 8)
        error = fullgraph_error(lambda q, k: getattr(module, FUNCTION)(q, k, cache), q, k)
        return error if error and "Import failure" in error.splitlines()[0] else None

    def inspect(self, module):
        func = vars(module).get(FUNCTION)
        if func is None:
            raise StepAside(Verdict.NOT_NEEDED, f"{module.__name__} defines no {FUNCTION} in this release")
        if IMPORTED not in func.__code__.co_names:
            raise StepAside(Verdict.NOT_NEEDED, f"{FUNCTION} imports nothing inside the function here")
        tree = recode.syntax(func)
        found = [n for n in ast.walk(tree) if flashinfer_import(n)]
        if len(found) != 1:
            raise StepAside(Verdict.TARGET_CHANGED, f"{FUNCTION} no longer has one `try: from {IMPORTED} import ... "
                            "except ImportError:` block")
        why = imports_here()
        if why is None:
            raise StepAside(Verdict.NOT_NEEDED, f"{IMPORTED} imports here: nothing breaks")
        return {f"{FUNCTION} (its {IMPORTED} import fails here: {why})": func}

    def apply(self, module, sites):
        (func,) = sites.values()
        code = recode.statements_replaced(func, flashinfer_import, lambda block: block.handlers[0].body)
        return recode.recode(func, code, {})

    def explains(self, brk) -> bool:
        return "Import failure" in brk.reason and any(frame.endswith(f" in {FUNCTION}") for frame in brk.stack)


@hookimpl
def fluxfix_patches():
    return [RopeFlashinferImport()]
