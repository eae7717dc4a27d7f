"""`logger.debug(...)` / `.info` / `.warning` calls inside host functions that run compiled, made
compile-safe: the warn-once mechanism (`fluxfix.warn_once`) for the `logging` module.

Dynamo breaks the graph at a call into a `logging.Logger`. The host function object stays the same;
it gets a copy of its own code in which the global name of its module's logger (`logger`) is
`_fluxfix_logger`: a stand-in whose methods call the very same logger method. Eagerly every call
logs exactly as before. The methods are marked `assume_constant_result`, so while compiling dynamo
runs them once as it traces (the record is still emitted, once) and leaves nothing in the graph.
"""
from __future__ import annotations

import dis
import inspect
import threading
import types
from typing import Callable

from fluxfix.warn_once import _codes, functions_defined_in, wrapped_chain

NAME = "_fluxfix_logger"
LEVELS = ("debug", "info", "warning")
_lock = threading.Lock()
_users: dict[int, set] = {}  # id of a module's globals -> its functions rerouted now


class CompileSafeLogger:
    """Stands in for a host module's logger inside patched functions; anything but the calls
    rerouted here is the real logger's."""

    def __init__(self, logger):
        import torch  # the host imported it already

        self._logger = logger
        for level in LEVELS:
            setattr(self, level, torch.compiler.assume_constant_result(self._method(getattr(logger, level))))

    @staticmethod
    def _method(method):
        def log(msg, *args, **kwargs):
            kwargs.setdefault("stacklevel", 2)  # the record names the host's line, as before
            method(msg, *args, **kwargs)

        return log

    def __getattr__(self, name):
        return getattr(self._logger, name)


def logger_calls(code: types.CodeType, name: str = "logger") -> tuple[int, bool]:
    """(number of `<name>.debug/info/warning` lookups, whether every use of the global is one)."""
    calls, clean = 0, True
    for c in _codes(code):
        instructions = list(dis.get_instructions(c))
        for ins, nxt in zip(instructions, instructions[1:] + [None]):
            if ins.opname == "LOAD_GLOBAL" and ins.argval == name:
                if nxt is not None and nxt.opname in ("LOAD_ATTR", "LOAD_METHOD") and nxt.argval in LEVELS:
                    calls += 1
                else:
                    clean = False
    return calls, clean


def _renamed(code: types.CodeType, name: str) -> types.CodeType:
    consts = tuple(_renamed(c, name) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_names=tuple(NAME if n == name else n for n in code.co_names), co_consts=consts)


def reroute(func: types.FunctionType, name: str = "logger") -> Callable[[], None]:
    """Make `func`'s logger calls compile-safe in place; return the undo. The stand-in leaves the
    module with the last of its rerouted functions."""
    with _lock:
        original = func.__code__
        if NAME not in func.__globals__:
            func.__globals__[NAME] = CompileSafeLogger(func.__globals__[name])
        users = _users.setdefault(id(func.__globals__), set())
        users.add(func)
        func.__code__ = _renamed(original, name)

    def undo():
        with _lock:
            func.__code__ = original
            users.discard(func)
            if not users:
                func.__globals__.pop(NAME, None)
                _users.pop(id(func.__globals__), None)

    return undo


class LoggerSites:
    """Mixin for a Patch whose defect is logger calls in code that runs compiled. Declare
    `functions` (qualified names in the target modules: the functions that run inside the compiled
    forward, not set-up code) and inherit inspect/apply."""

    functions: tuple[str, ...] = ()

    def inspect(self, module):
        from fluxfix.patch import StepAside, Verdict

        if not hasattr(module, "logger"):
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no module logger")
        defined = functions_defined_in(module)
        sites, unsafe, missing = {}, [], []
        for qualname in self.functions:
            func = defined.get(qualname)
            func = getattr(func, "__func__", func)
            if not inspect.isfunction(func):
                missing.append(qualname)
                continue
            for layer in wrapped_chain(func):  # a decorator's wrapper logs from its own module, too
                home = layer.__globals__.get("__name__")  # functools.wraps copies the wrapped one's names: ask the code
                name = layer.__code__.co_qualname if home == module.__name__ else f"{home}.{layer.__code__.co_qualname}"
                calls, clean = logger_calls(layer.__code__)
                if calls and clean and "logger" in layer.__globals__:
                    sites[name] = layer
                elif calls:
                    unsafe.append(name)
        if unsafe:
            raise StepAside(Verdict.TARGET_CHANGED, f"the module's logger has another use in {', '.join(unsafe)}")
        if not sites:
            if missing and len(missing) == len(self.functions):
                raise StepAside(Verdict.NOT_NEEDED, f"no {', '.join(missing)} in {module.__name__}")
            raise StepAside(Verdict.NOT_NEEDED, f"no logger calls left in {', '.join(self.functions)} (fixed upstream)")
        return sites

    def explains(self, brk) -> bool:
        in_target = any(brk.file.endswith(t.replace(".", "/") + ".py") for t in self.targets)
        return in_target and "logger." in brk.code

    def apply(self, module, sites):
        undos = [reroute(func) for func in sites.values()]
        return lambda: [undo() for undo in reversed(undos)]
