"""Host functions that run eagerly inside a compiled caller while the frames they call compile."""
from __future__ import annotations

import functools
import types


def frames_skipped(*functions) -> None:
    """Mark each function's code so that dynamo never makes a frame of its own of it: called from eager
    code it runs eagerly (no frame callback, no compile of its own); called from traced code it is
    inlined as usual. For small helpers that eager code calls between compiled regions."""
    from torch._dynamo.eval_frame import skip_code

    for function in functions:
        skip_code(function.__code__)


def not_traced(function):
    """`function` (or, if compile-disabled already, the function under that) as dynamo's non-recursive
    skip: its own frame runs eagerly, the frames it calls compile.

    dynamo's `disable(recursive=False)` alone makes a traced call to it a graph break, but every time it
    runs, its frame goes through dynamo's Python frame callback again (skip-file checks, a bytecode
    scan) before being let through: about half a millisecond per call on a fast host, in the gap
    between two offloaded blocks where the GPU waits. So the function runs as a copy of its own
    code object that is marked skipped in the interpreter hook itself (frame skipped, callees compiled):
    no callback at all. A copy, so that the host's own function keeps its code's state when reverted."""
    import torch

    inner = getattr(function, "__wrapped__", function)
    own = types.FunctionType(inner.__code__.replace(), inner.__globals__, inner.__name__, inner.__defaults__, inner.__closure__)
    own.__kwdefaults__ = inner.__kwdefaults__
    frames_skipped(own)
    return torch.compiler.disable(functools.update_wrapper(own, inner), recursive=False)
