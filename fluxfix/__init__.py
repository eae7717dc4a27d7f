"""fluxfix: compile-safe replacements for the helpers in installed host libraries that break
torch.compile graphs. `import fluxfix` activates it; see the README for the other ways."""
from __future__ import annotations

from fluxfix.engine import ENGINE, FluxfixError
from fluxfix.patch import Patch, Record, StepAside, Verdict
from fluxfix.registry import hookimpl

__all__ = ["activate", "revert", "status", "Patch", "Record", "StepAside", "Verdict", "FluxfixError", "hookimpl"]


def activate() -> bool:
    """Apply the chosen patches now and to host modules imported later; a second call is a no-op."""
    return ENGINE.activate()


def revert() -> None:
    """Restore every original object fluxfix replaced (the same objects, not copies)."""
    ENGINE.revert()


def status(import_targets: bool = False) -> list[Record]:
    """One record per known patch; with import_targets, import host modules first for final verdicts."""
    if import_targets:
        ENGINE.import_targets()
    return ENGINE.records()


activate()
