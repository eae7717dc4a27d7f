"""Opaque kernel calls (JIT-compiled extensions called through a foreign-function interface),
routed through a torch custom op so that torch.compile keeps them in the graph.

Dynamo cannot trace a call into a tvm-ffi module ("Unsupported method call") and breaks the graph
there. The fix keeps the host's function object (so names copied earlier by `from x import f` see
it) and gives it new code: a one-line trampoline with the same parameters that calls a registered
`torch.library` op. The op's real implementation is the host's original code, unchanged; its fake
implementation, declared with the op, tells the compiler the output's shape and dtype, and its
schema declares which inputs the kernel writes in place.
"""
from __future__ import annotations

import inspect
import threading
import types
from dataclasses import dataclass
from typing import Callable

from fluxfix import recode

NAMESPACE = "fluxfix"
_lock = threading.Lock()
_ops: dict[str, tuple] = {}  # op name -> (its CustomOpDef, its schema, the function it runs)


@dataclass(frozen=True)
class KernelOp:
    """One opaque kernel entry point, declared in a few lines.

    attr:   the name the calling module binds the kernel function to
    function: the kernel function's own name (where it is defined)
    op:     the custom op's name (in the `fluxfix` namespace)
    schema: the op's schema; its argument names must be the function's parameter names, and
            `Tensor(a!)` marks what the kernel writes in place
    fake:   shapes and dtypes of the result from the inputs (None for in-place kernels)
    kernel_call: the method the function calls on its JIT-loaded module (the opaque call; what
            KernelOps looks for)
    loader: the prefix of the names through which the function loads that module (e.g. "_jit_")
    direct_when_given: optional parameters (e.g. `out`) that, when a caller passes them, send the
            call to the host's original code instead: an op may not return a tensor it was given,
            so the op is only ever reached with them left at None
    only_while_compiling: outside compiled code the host's original code runs directly (for a
            kernel eager Python can call as it is, e.g. a Triton launcher: no dispatcher cost)
    """

    attr: str
    function: str
    op: str
    schema: str
    fake: Callable
    kernel_call: str = ""
    loader: str = ""
    direct_when_given: tuple[str, ...] = ()
    only_while_compiling: bool = False

    def _parsed(self):
        import torch

        return torch._C.parse_schema(f"{NAMESPACE}::{self.op}{self.schema}")  # torch's own schema parser

    def arg_names(self) -> list[str]:
        return [a.name for a in self._parsed().arguments]

    def mutated(self) -> list[str]:
        return [a.name for a in self._parsed().arguments if a.alias_info is not None and a.alias_info.is_write]


def is_registered_op(obj) -> bool:
    """Already a torch op (sglang's own custom ops, sgl_kernel's C++ ops): dynamo handles it."""
    import torch

    custom = getattr(getattr(torch, "_library", None), "custom_ops", None)
    kinds = (torch._ops.OpOverload, torch._ops.OpOverloadPacket) + ((custom.CustomOpDef,) if custom else ())
    return isinstance(obj, kinds) or isinstance(obj, types.BuiltinFunctionType)


def _chain(obj):
    """`obj` and what it wraps (functools.wraps' __wrapped__), outermost first."""
    seen = set()
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        yield obj
        obj = getattr(obj, "__wrapped__", None)


def wraps_registered_op(obj) -> bool:
    """A registered op itself, or a wrapper around the kernel that dispatches to one (sglang's
    register_custom_op keeps the kernel function as __wrapped__ and the op in its closure)."""
    for layer in _chain(obj):
        if is_registered_op(layer):
            return True
        cells = getattr(layer, "__closure__", None) or ()
        if any(is_registered_op(c.cell_contents) for c in cells if _filled(c)):
            return True
    return False


def _filled(cell) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def opaque_function(obj, spec: KernelOp) -> types.FunctionType | None:
    """The function in a decorator chain whose own code makes the opaque JIT-module call."""
    for layer in _chain(obj):
        if inspect.isfunction(layer):
            names = layer.__code__.co_names
            if spec.kernel_call in names and any(n.startswith(spec.loader) for n in names):
                return layer
    return None


def signature_matches(func: types.FunctionType, spec: KernelOp) -> bool:
    params = inspect.signature(func).parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return names == spec.arg_names() and all(p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)


def register_op(name: str, schema: str, impl: Callable, fake: Callable, mutates: tuple[str, ...] = ()):
    """The custom op `fluxfix::<name>` running `impl`, with `fake` for its output shapes: registered
    once per process (a re-activation gets the same op; another function under the same name is
    refused). Returns the op and the impl it runs."""
    import torch

    with _lock:
        if name in _ops:
            op, first_schema, first_impl = _ops[name]
            if first_schema != schema or first_impl.__code__ is not impl.__code__:
                raise ValueError(f"custom op {NAMESPACE}::{name} is already registered for {first_impl.__qualname__} "
                                 f"({first_schema}); {impl.__qualname__} ({schema}) needs an op name of its own")
            return op, first_impl
        op = torch.library.custom_op(f"{NAMESPACE}::{name}", mutates_args=list(mutates), schema=schema)(impl)
        op.register_fake(fake)
        _ops[name] = (op, schema, impl)
        return op, impl


def _trampoline_source(func: types.FunctionType, spec: KernelOp, op_name: str, original_name: str, asks: str) -> str:
    """A def with exactly `func`'s parameters that passes them on to the op bound to `op_name`
    (or, where a `direct_when_given` parameter is set or, with only_while_compiling, `asks()` says it is not
    compiling, to the original bound to `original_name`)."""
    params = inspect.signature(func).parameters.values()
    call = ", ".join(p.name if p.kind is p.POSITIONAL_OR_KEYWORD else f"{p.name}={p.name}" for p in params)
    body = "".join(f"    if {name} is not None:\n        return {original_name}({call})\n" for name in spec.direct_when_given)
    if spec.only_while_compiling:
        body += f"    if not {asks}():\n        return {original_name}({call})\n"
    return f"def {func.__name__}{recode.plain_signature(func)}:\n{body}    return {op_name}({call})\n"


def route_through_op(func: types.FunctionType, spec: KernelOp) -> Callable[[], None]:
    """Make `func` call the custom op for `spec` (in place); return the undo."""
    op, original = register_op(spec.op, spec.schema, recode.original_as_function(func), spec.fake, tuple(spec.mutated()))
    # names of this op's own: the undo removes them, so nothing is shared with another function's trampoline
    op_name, original_name, asks = f"_fluxfix_op_{spec.op}", f"_fluxfix_original_{spec.op}", f"_fluxfix_compiling_{spec.op}"
    names = {op_name: op._opoverload, original_name: original}
    if spec.only_while_compiling:
        import torch

        names[asks] = torch.compiler.is_compiling
    source = _trampoline_source(func, spec, op_name, original_name, asks)
    return recode.recode(func, recode.compile_like(func, source), names)


class KernelOps:
    """Mixin for a Patch whose defect is opaque kernel calls made from its target modules.

    Declare `kernels`: {target module: (KernelOp, ...)}; inspect/apply are inherited.
    """

    kernels: dict[str, tuple[KernelOp, ...]] = {}

    def inspect(self, module):
        from fluxfix.patch import StepAside, Verdict

        sites, notes, changed = {}, [], []
        for spec in self.kernels.get(module.__name__, ()):
            bound = getattr(module, spec.attr, None)
            if bound is None:
                notes.append(f"{module.__name__} does not call {spec.attr} in this release")
            elif wraps_registered_op(bound):
                notes.append(f"{spec.attr} already calls a registered torch op here")
            elif f"_fluxfix_op_{spec.op}" in getattr(getattr(bound, "__code__", None), "co_names", ()):
                notes.append(f"{spec.attr} already routed through fluxfix::{spec.op}")
            else:
                func = opaque_function(bound, spec)
                if func is None:  # e.g. a diffusers fallback or sgl_kernel's own torch op
                    notes.append(f"{spec.attr} makes no JIT-module call .{spec.kernel_call}(...) here")
                elif not signature_matches(func, spec):
                    changed.append(f"{spec.attr}{inspect.signature(func)} does not match the declared {spec.schema}")
                else:
                    sites[f"{func.__module__}.{func.__qualname__} -> {NAMESPACE}::{spec.op}"] = (func, spec)
        if changed:
            raise StepAside(Verdict.TARGET_CHANGED, "; ".join(changed))
        if not sites:
            raise StepAside(Verdict.NOT_NEEDED, "; ".join(notes) or f"nothing declared for {module.__name__}")
        return sites

    def explains(self, brk) -> bool:
        """The break is in the kernel function, or below it (loading its JIT module)."""
        specs = [spec for specs in self.kernels.values() for spec in specs]
        inside = any(frame.endswith(f" in {spec.function}") for frame in brk.stack for spec in specs)
        return inside or any(f".{spec.kernel_call}(" in brk.code for spec in specs)

    def apply(self, module, sites):
        undos = [route_through_op(func, spec) for func, spec in sites.values()]
        return lambda: [undo() for undo in reversed(undos)]
