"""Give a host function new code in place: the function object stays the same, so names bound
earlier by `from x import f` see the change, and `undo()` restores the very same code."""
from __future__ import annotations

import inspect
import types
from typing import Callable


def original_as_function(func: types.FunctionType) -> types.FunctionType:
    """A second function object running the host's original code."""
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    copy.__kwdefaults__ = func.__kwdefaults__
    return copy


def compile_like(func: types.FunctionType, source: str) -> types.CodeType:
    """Code for `source` (a `def` of func's name) that passes for func's own in tracebacks."""
    namespace: dict = {}
    exec(compile(source, func.__code__.co_filename, "exec"), namespace)
    code = namespace[func.__name__].__code__
    return code.replace(co_name=func.__code__.co_name, co_qualname=func.__code__.co_qualname,
                        co_firstlineno=func.__code__.co_firstlineno)


def same_parameters(func: types.FunctionType, code: types.CodeType) -> bool:
    """Whether `code` takes exactly func's parameters (the defaults stay func's own)."""
    own = func.__code__
    return (code.co_varnames[:code.co_argcount + code.co_kwonlyargcount] == own.co_varnames[:own.co_argcount + own.co_kwonlyargcount]
            and (code.co_argcount, code.co_kwonlyargcount, code.co_flags & 0x0C) == (own.co_argcount, own.co_kwonlyargcount, own.co_flags & 0x0C)
            and not code.co_freevars)


def plain_signature(func: types.FunctionType) -> str:
    """func's parameter list with defaults and annotations dropped (they stay on func itself)."""
    params = [p.replace(default=inspect.Parameter.empty, annotation=inspect.Parameter.empty)
              for p in inspect.signature(func).parameters.values()]
    return str(inspect.Signature(params))


def recode(func: types.FunctionType, code: types.CodeType, names: dict) -> Callable[[], None]:
    """Swap func's code for `code`, which may use `names` (added to func's module); return the undo."""
    if not same_parameters(func, code):
        raise ValueError(f"new code for {func.__qualname__} must take the same parameters")
    original = func.__code__
    func.__globals__.update(names)
    func.__code__ = code

    def undo():
        func.__code__ = original
        for name in names:
            func.__globals__.pop(name, None)

    return undo


def syntax(func: types.FunctionType):
    """func's own source as a syntax tree (a module holding its def)."""
    import ast
    import textwrap

    return ast.parse(textwrap.dedent(inspect.getsource(func)))


def rewritten(func: types.FunctionType, transform: Callable) -> types.CodeType:
    """Code for func's own source after `transform(def_node)` has edited its syntax tree (the def's
    decorators are dropped), compiled at the host file's own lines so tracebacks still point there."""
    import ast

    first = inspect.getsourcelines(func)[1]
    tree = syntax(func)
    node = tree.body[0]
    node.decorator_list = []
    transform(node)
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, first - 1)
    namespace = dict(func.__globals__)  # the def evaluates its annotations with the host's names
    exec(compile(tree, func.__code__.co_filename, "exec"), namespace)
    return namespace[func.__name__].__code__.replace(co_name=func.__code__.co_name, co_qualname=func.__code__.co_qualname)


def statements_replaced(func: types.FunctionType, matches: Callable, replacement: Callable) -> types.CodeType:
    """Code for func's own source with every statement `matches(stmt)` accepts replaced by the list
    of statements `replacement(stmt)` returns (at any depth)."""
    import ast

    def transform(node):
        for parent in ast.walk(node):
            for field, value in ast.iter_fields(parent):
                if isinstance(value, list) and any(matches(v) for v in value):
                    setattr(parent, field, [s for v in value for s in (replacement(v) if matches(v) else [v])])

    return rewritten(func, transform)
