"""`warnings.warn` calls inside host functions, rerouted to a compile-safe warn-once.

Dynamo breaks the graph at every `warnings.warn`. The host function object stays the same (so
names bound earlier by `from x import f` see the change); it gets a copy of its own code in which
the attribute looked up on the warnings module is `_fluxfix_warn_once` instead of `warn`. That
function warns once per (message, category), and is marked `assume_constant_result`, so dynamo
runs it while tracing (the warning still shows) and leaves nothing of it in the graph.
"""
from __future__ import annotations

import dis
import inspect
import threading
import types
import warnings
from typing import Callable, Iterator

ATTR = "_fluxfix_warn_once"
_seen: set[tuple[str, type]] = set()
_lock = threading.Lock()
_rewritten: dict[types.FunctionType, types.CodeType] = {}  # function -> its original code


def warn_once(message, category=None, stacklevel=1, source=None):
    if category is None:
        category = type(message) if isinstance(message, Warning) else UserWarning
    with _lock:
        key = (str(message), category)
        if key in _seen:
            return None
        _seen.add(key)
    warnings.warn(message, category, stacklevel=stacklevel + 1, source=source)
    return None


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def warn_calls(code: types.CodeType) -> tuple[int, bool]:
    """(number of `warnings.warn` lookups, whether every use of the name `warn` is one)."""
    calls, clean = 0, True
    for c in _codes(code):
        instructions = list(dis.get_instructions(c))
        for prev, ins in zip([None] + instructions, instructions):
            if ins.argval != "warn" or ins.opname.startswith("LOAD_CONST"):
                continue
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and prev and prev.opname.startswith("LOAD_") and prev.argval == "warnings":
                calls += 1
            else:
                clean = False  # the name means something else here: renaming it would change that too
    return calls, clean


def _renamed(code: types.CodeType) -> types.CodeType:
    consts = tuple(_renamed(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    names = tuple(ATTR if n == "warn" else n for n in code.co_names)
    return code.replace(co_names=names, co_consts=consts)


def wrapped_chain(obj) -> list[types.FunctionType]:
    """The functions of a decorator chain (`__wrapped__`), outermost first; static and class
    methods give their function."""
    chain, seen = [], set()
    while obj is not None and id(obj) not in seen:
        seen.add(id(obj))
        func = obj.__func__ if isinstance(obj, (staticmethod, classmethod)) else obj
        if inspect.isfunction(func):
            chain.append(func)
        obj = getattr(func, "__wrapped__", None)
    return chain


def innermost_with_warn(obj) -> types.FunctionType | None:
    """The function in a decorator chain (`__wrapped__`) whose own code calls warnings.warn."""
    return next((func for func in wrapped_chain(obj) if warn_calls(func.__code__)[0]), None)


def reroute(func: types.FunctionType) -> Callable[[], None]:
    """Swap the warn calls of `func` in place; return the undo."""
    import torch  # the host imported it already

    with _lock:
        if func in _rewritten:
            return lambda: None
        if not hasattr(warnings, ATTR):
            setattr(warnings, ATTR, torch.compiler.assume_constant_result(warn_once))
        _rewritten[func] = func.__code__
        func.__code__ = _renamed(func.__code__)

    def undo():
        with _lock:
            func.__code__ = _rewritten.pop(func)
            if not _rewritten and hasattr(warnings, ATTR):
                delattr(warnings, ATTR)

    return undo


def functions_defined_in(module) -> dict[str, object]:
    """Module-level functions and methods of classes that `module` itself defines, by qualname."""
    found = {}
    for name, value in vars(module).items():
        if inspect.isclass(value) and value.__module__ == module.__name__:
            for attr, member in vars(value).items():
                if inspect.isfunction(member) or isinstance(member, (staticmethod, classmethod)):
                    found[f"{value.__qualname__}.{attr}"] = member
        elif callable(value) and getattr(value, "__module__", None) == module.__name__:
            found[name] = value
    return found


class WarningSites:
    """Mixin for a Patch whose defect is `warnings.warn` in code that runs compiled.

    Declare `functions` (qualified names in the target modules; empty means every function and
    method the module defines) and inherit inspect/apply.
    """

    functions: tuple[str, ...] = ()

    def inspect(self, module):
        from fluxfix.patch import StepAside, Verdict

        defined = functions_defined_in(module)
        wanted = {q: defined[q] for q in self.functions if q in defined} if self.functions else defined
        if self.functions and not wanted:
            elsewhere = [q for q in self.functions if hasattr(module, q)]
            if elsewhere:
                raise StepAside(Verdict.NOT_NEEDED, f"{module.__name__} re-exports {', '.join(elsewhere)} (checked where it is defined)")
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} no longer defines {', '.join(self.functions)}")
        sites, unsafe = {}, []
        for qualname, obj in wanted.items():
            func = innermost_with_warn(obj)
            if func is not None:
                if warn_calls(func.__code__)[1]:
                    sites[qualname] = func
                else:
                    unsafe.append(qualname)
        if unsafe:
            raise StepAside(Verdict.TARGET_CHANGED, f"the name 'warn' has another use in {', '.join(unsafe)}")
        if not sites:
            where = ", ".join(self.functions) if self.functions else module.__name__
            raise StepAside(Verdict.NOT_NEEDED, f"no warnings.warn left in {where} (fixed upstream)")
        return sites

    def explains(self, brk) -> bool:
        in_target = any(brk.file.endswith((t.replace(".", "/") + ".py", t.replace(".", "/") + "/__init__.py")) for t in self.targets)
        return in_target and "warnings.warn(" in brk.code

    def apply(self, module, sites):
        undos = [reroute(func) for func in sites.values()]
        return lambda: [undo() for undo in reversed(undos)]


def warning_break(error: str | None) -> str | None:
    """`error` (from fluxfix.breaks.fullgraph_error) if dynamo stopped at a warnings.warn call, else None."""
    from fluxfix.breaks import break_site

    return error if "warnings.warn(" in (break_site(error) or "") else None
