"""fluxfix's INFO lines ("applied", "steps aside") from before the process set up logging, said once it has.

A host configures logging after its first imports: sglang's workers import the modules fluxfix patches
first (platform checks, the request object) and set up their log handlers later, and until a handler
exists Python drops INFO records. Those lines are held and said, in order and with their own times,
at fluxfix's first line after a handler appears. Warnings are not held: Python's last-resort handler
prints them at once.
"""
from __future__ import annotations

import logging
import threading

log = logging.getLogger("fluxfix")
LIMIT = 500  # a process that never sets up logging holds at most this many
_held: list[logging.LogRecord] = []
_lock = threading.RLock()  # re-entrant: a handler may import a module that fluxfix patches


def info(msg: str, *args) -> None:
    """log.info, held while no handler would take it."""
    with _lock:
        if not log.hasHandlers():
            if len(_held) < LIMIT:
                _held.append(log.makeRecord(log.name, logging.INFO, __file__, 0, msg, args, None))
            return
        while _held:
            record = _held.pop(0)
            if log.isEnabledFor(record.levelno):
                log.handle(record)
    log.info(msg, *args)
