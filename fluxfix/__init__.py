"""fluxfix: compile-safe replacements for the helpers in installed host libraries that break
torch.compile graphs. `import fluxfix` activates it; see the README for the other ways.

Tools that import fluxfix's modules and want to choose the moment of activation run with
FLUXFIX=0 (the import is then inert) and call `fluxfix.activate(environ={...})` when they want."""
from __future__ import annotations

from fluxfix.engine import ENGINE, FluxfixError
from fluxfix.host import Host
from fluxfix.patch import Patch, Record, StepAside, Verdict
from fluxfix.registry import hookimpl

__all__ = ["activate", "revert", "status", "Host", "Patch", "Record", "StepAside", "Verdict", "FluxfixError", "hookimpl"]


def activate(environ=None) -> bool:
    """Apply the chosen patches now and to host modules imported later; a second call is a no-op.
    The settings are read from `environ` (default: this process's environment)."""
    from fluxfix import settings

    return ENGINE.activate(settings.read(environ) if environ is not None else None)


def revert() -> None:
    """Restore every original object fluxfix replaced (the same objects, not copies), newest first."""
    ENGINE.revert()


def status(import_targets: bool = False) -> list[Record]:
    """One record per known patch, in name order; with import_targets, import host modules first
    for final verdicts."""
    if import_targets:
        ENGINE.import_targets()
    return ENGINE.records()


activate()
