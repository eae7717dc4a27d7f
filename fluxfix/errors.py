"""Exceptions said in one line: fluxfix reports a host's failures (an import, a compile, a model
that cannot be built) inside a status reason or a table cell, never as a traceback."""
from __future__ import annotations


def one_line(exc: BaseException, limit: int = 160) -> str:
    """`Type: first line of the message` (just `Type` when the message is empty)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit]}" if text else type(exc).__name__
