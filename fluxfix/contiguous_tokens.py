"""The tokens a transformer hands its first block, made contiguous where its blocks are compiled alone.

Wan's transformer (sglang before 0.5.17, diffusers before 0.40) patchifies with
`hidden_states = hidden_states.flatten(2).transpose(1, 2)` and passes that transposed view to its
first block; every later block gets the contiguous tensor a block returns. Compiled block by block
(regional compilation: FLUXFIX_COMPILE=regional, diffusers' compile_repeated_blocks), the block class
compiles once per layout: on an H100, sglang 0.5.10's Wan 2.1 compiled its block twice at the first
size and twice again at the next (guard "stride mismatch at index 1. expected 1, actual 1536", the
second compile 5-6 s; BENCHMARKS.md). Both hosts later made the view contiguous for every caller.
Here it is made contiguous only while the first block runs compiled code of its own, called from eager
code: the same values in a new layout for compiled code; eager runs, and a whole-model compile, run
exactly as the host wrote them.
"""
from __future__ import annotations

import ast
import inspect

from fluxfix import recode
from fluxfix.patch import StepAside, Verdict

PATCHIFY = "hidden_states = hidden_states.flatten(2).transpose(1, 2)"
MADE_CONTIGUOUS = "hidden_states = hidden_states.contiguous()"
CHECK = "_fluxfix_compiled_alone"  # the name the new forward code calls (added to the host module)
GUARDED = f"if {CHECK}(self.blocks[0]):\n    {MADE_CONTIGUOUS}"


def compiled_alone(module) -> bool:
    """`module` runs compiled code of its own (`module.compile()`), and the caller is not being compiled."""
    import torch

    return not torch.compiler.is_compiling() and getattr(module, "_compiled_call_impl", None) is not None


def is_patchify(node: ast.AST) -> bool:
    return isinstance(node, ast.Assign) and ast.unparse(node) == PATCHIFY


def patchified_contiguous(tree: ast.AST) -> bool:
    """The forward makes its patchified tokens contiguous where it makes them (sglang 0.5.17's
    `flatten(2).transpose(1, 2).contiguous()`, 0.5.21's `patch_embedding(..., tokens=True).contiguous()`)."""
    return any(isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "hidden_states"
               and isinstance(node.value, ast.Call) and ast.unparse(node.value.func).endswith(".contiguous")
               and any(part in ast.unparse(node.value) for part in (".transpose(1, 2)", "patch_embedding("))
               for node in ast.walk(tree))


def handoffs(tree: ast.AST) -> tuple[int, int]:
    """(patchify statements, those of them the next statement already makes contiguous)."""
    found = done = 0
    for parent in ast.walk(tree):
        for _, body in ast.iter_fields(parent):
            if not isinstance(body, list):
                continue
            for stmt, after in zip(body, body[1:] + [None]):
                if is_patchify(stmt):
                    found += 1
                    done += after is not None and ast.unparse(after) == MADE_CONTIGUOUS
    return found, done


def patchify_drift(path: str) -> tuple:
    """A patch's drift: the host file at `path` patchifying some other way (`.mT`), which it must not guess at."""
    return ((path, f"        {PATCHIFY}\n", "        hidden_states = hidden_states.flatten(2).mT\n"),)


def first_block_input(model, step, compiled: bool = True):
    """Run `step()`, one forward of `model` (the host's own code), up to its first block's call and return
    the tokens that block gets (None where it never runs): compiled alone (`compiled`: as `block.compile()`
    leaves it) or eagerly."""

    class Reached(Exception):
        pass

    given = []

    def first_block(*args, **kwargs):  # where the block's code (compiled or eager) would run
        given.append(args[0] if args else kwargs["hidden_states"])
        raise Reached

    block = model.blocks[0]
    if compiled:
        block._compiled_call_impl = first_block  # what `block.compile()` sets: the block now runs compiled code
        undo = lambda: setattr(block, "_compiled_call_impl", None)  # noqa: E731
    else:
        undo = block.register_forward_pre_hook(lambda module, args, kwargs: first_block(*args, **kwargs), with_kwargs=True).remove
    try:
        step()
    except Reached:
        pass
    finally:
        undo()
    return given[0] if given else None


def first_block_layout(model, step) -> str | None:
    """How the tokens reach the first block compiled alone, said in a line where they are not contiguous."""
    tokens = first_block_input(model, step)
    if tokens is None:
        return f"{type(model).__name__}'s forward never called its first block"
    if tokens.is_contiguous():
        return None
    return (f"{type(model).__name__} hands its first block, compiled alone, a transposed view of its tokens "
            f"(shape {tuple(tokens.shape)}, strides {tokens.stride()}): the block class compiles once per layout")


class ContiguousTokensSites:
    """Mixin for a host's patch: `model`, the transformer class in the target module whose forward
    patchifies into a transposed view and loops over `self.blocks` (Wan's, in both hosts)."""

    summary = "Wan's first block gets contiguous tokens where the blocks are compiled alone: one graph per size, not one per layout"
    model = "WanTransformer3DModel"

    def forward_of(self, module):
        cls = getattr(module, self.model, None)
        forward = vars(cls).get("forward") if isinstance(cls, type) else None
        if forward is None:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__}.{self.model}.forward is gone")
        return inspect.unwrap(forward)  # diffusers 0.37 wraps it (apply_lora_scale): its own code is inside

    def inspect(self, module):
        forward = self.forward_of(module)
        tree = recode.syntax(forward)
        found, done = handoffs(tree)
        if found == 0 and patchified_contiguous(tree):
            raise StepAside(Verdict.NOT_NEEDED, f"{self.model} makes its tokens contiguous itself (fixed upstream)")
        if found != 1 or "self.blocks" not in ast.unparse(tree):
            raise StepAside(Verdict.TARGET_CHANGED, f"{self.model}.forward no longer patchifies with one `{PATCHIFY}` "
                                                    "before a loop over self.blocks")
        if done:
            raise StepAside(Verdict.NOT_NEEDED, f"{self.model} makes its tokens contiguous itself (fixed upstream)")
        return {f"{self.model}.forward: `{PATCHIFY}`": forward}

    def apply(self, module, sites):
        (forward,) = sites.values()
        code = recode.statements_replaced(forward, is_patchify, lambda stmt: [stmt, ast.parse(GUARDED).body[0]])
        return recode.recode(forward, code, {CHECK: compiled_alone})
