"""A `contextvars.ContextVar` whose value compiled code can change.

dynamo cannot trace `ContextVar.set()` or `.reset()` (torch 2.14-2.15: "ContextVar mutation not
supported"), so host code that keeps per-call state in one breaks the graph at every change. The
stand-in here has the same API and, in eager code, the same per-context values: each context's value
lives in a one-item list bound in a ContextVar of its own, and eager code sets and resets exactly as
before (a new list per set, the real token back). Compiled code reads and changes, in place, the list
eager code bound last; dynamo traces that on every torch (it cannot read a ContextVar before 2.14),
writes the change back after the graph, and eager code after it sees the change in its own context.
The one difference: compiled code takes the list bound last in any thread, so two threads running the
same host code under compile at once would share it (a host's VAE decodes on one thread per worker).
"""
from __future__ import annotations

import contextvars
import functools

import torch

_UNSET = object()


class _InPlaceToken:
    """What a traced `set` returns: `reset` with it puts the previous value back into the same list."""

    __slots__ = ("previous",)

    def __init__(self, previous):
        self.previous = previous


class CellContextVar:
    """Stands in for `var` (its name and default); eager get/set/reset behave as the ContextVar's."""

    def __init__(self, var: contextvars.ContextVar):
        _skip_own_frames()
        self.original = var
        self.name = var.name
        self._default = _default_of(var)
        self._cells = contextvars.ContextVar(f"fluxfix:{var.name}")
        self._cell = None  # the list eager code bound last: what compiled code reads and changes

    def get(self, *default):
        cell = self._cell if torch.compiler.is_compiling() else self._cells.get(None)
        if cell is not None:
            return cell[0]
        if default:
            return default[0]
        if self._default is _UNSET:
            raise LookupError(self.original)
        return self._default

    def set(self, value):
        if torch.compiler.is_compiling() and self._cell is not None:  # change the value where it lives
            previous, self._cell[0] = self._cell[0], value
            return _InPlaceToken(previous)
        cell = [value]
        token = self._cells.set(cell)  # in compiled code with no value set before: a graph break, as before
        self._cell = cell
        return token

    def reset(self, token):
        if isinstance(token, _InPlaceToken):
            (self._cell if torch.compiler.is_compiling() else self._cells.get())[0] = token.previous
        else:
            self._cells.reset(token)
            self._cell = self._cells.get(None)

    def __repr__(self):
        return f"<fluxfix CellContextVar {self.name!r}>"


def _default_of(var: contextvars.ContextVar):
    """The ContextVar's default (what `get()` gives before any set), or _UNSET where it has none."""
    try:
        return contextvars.Context().run(var.get)  # an empty context: no value set there
    except LookupError:
        return _UNSET


@functools.cache
def _skip_own_frames():
    # eager callers (the host's context managers, its loops between compiled calls) run these as
    # plain Python; traced callers inline them
    from fluxfix.eager import frames_skipped

    frames_skipped(CellContextVar.get, CellContextVar.set, CellContextVar.reset)
