"""Cached class-level checks that torch.compile folds to constants instead of breaking on.

Dynamo cannot trace a classmethod over functools.lru_cache (the cache wrapper is C code) and
abandons the calling frame. The replacement is a plain Python classmethod that calls the very
same cached function, so eager calls still compute lazily, once, the same value; marked with
`torch.compiler.assume_constant_result`, dynamo calls it once while tracing and bakes the result.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable


def is_cached_classmethod(value: Any) -> bool:
    return isinstance(value, classmethod) and isinstance(value.__func__, functools._lru_cache_wrapper)


def is_predicate(name: str) -> bool:
    """Only checks (is_*/has_*) are folded: their results are plain constants dynamo can bake;
    cached getters may return ops or objects that must stay live."""
    return name.startswith(("is_", "has_"))


def cached_classmethods(module) -> dict[str, tuple[type, str, classmethod]]:
    """Every classmethod-over-lru_cache check defined by a class of `module`, by qualified name."""
    found = {}
    for cls in vars(module).values():
        if inspect.isclass(cls) and cls.__module__ == module.__name__:
            for attr, value in vars(cls).items():
                if is_predicate(attr) and is_cached_classmethod(value):
                    found[f"{cls.__qualname__}.{attr}"] = (cls, attr, value)
    return found


def fold(cls: type, attr: str, original: classmethod) -> Callable[[], None]:
    """Replace `cls.attr` with its compile-safe twin; return the undo."""
    import torch  # the host imported it already

    cached = original.__func__

    def check(klass, *args, **kwargs):
        return cached(klass, *args, **kwargs)

    # Dynamo looks the constant up again by name on the class, so the names must match.
    check.__name__ = attr
    check.__qualname__ = f"{cls.__qualname__}.{attr}"
    check.__doc__ = cached.__doc__
    check.__fluxfix_original__ = original
    setattr(cls, attr, classmethod(torch.compiler.assume_constant_result(check)))
    return lambda: setattr(cls, attr, original)
