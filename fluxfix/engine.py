"""Activation: wait for each patch's target modules, inspect them, apply, remember the undo."""
from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import threading
from importlib.metadata import PackageNotFoundError, version

import wrapt

from typing import Callable

from fluxfix import held_lines, registry, settings as settings_mod
from fluxfix.errors import one_line
from fluxfix.host import Host
from fluxfix.patch import Outcome, Patch, Record, StepAside, Verdict

log = logging.getLogger("fluxfix")


class FluxfixError(RuntimeError):
    """Raised only in strict mode (FLUXFIX_STRICT=1), when a patch cannot do its job."""


def host_version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


class Engine:
    def __init__(self) -> None:
        # Held only around inspect+apply of one module, never while importing: a host
        # module's post-import hook runs with that module's import lock held.
        self._lock = threading.RLock()
        self.active = False
        self.settings: settings_mod.Settings | None = None
        self.patches: dict[str, Patch] | None = None
        self.outcomes: dict[str, dict[str, Outcome]] = {}  # patch name -> module -> outcome
        self.hosts: dict[str, Host] = {}
        # every change made, oldest first, across patches: revert undoes newest first, so patches
        # that change the same host module (three change sglang's layernorm) unwind in order
        self._undo: list[tuple[str, str, Callable[[], None]]] = []
        self._hooked: set[str] = set()

    # -- choosing ---------------------------------------------------------------------------
    def load_patches(self) -> dict[str, Patch]:
        with self._lock:
            if self.patches is None:
                found = registry.load()
                self.patches, self.hosts = found.patches, found.hosts
            return self.patches

    def why_off(self, patch: Patch) -> str | None:
        s = self.settings
        if s is None or not s.enabled:
            return f"fluxfix is off (FLUXFIX={s.raw})" if s else "fluxfix is not active"
        if patch.name in s.disabled:
            return "named in FLUXFIX_DISABLE"
        if s.only is not None and patch.name not in s.only:
            return "not named in FLUXFIX"
        if patch.opt_in and patch.opt_in not in s.opted_in and s.only is None:  # naming it in FLUXFIX opts in too
            return f"opt-in: set {patch.opt_in}"
        return None

    # -- activation -------------------------------------------------------------------------
    def activate(self, settings: settings_mod.Settings | None = None) -> bool:
        """Patch what is imported now and what will be. Returns False when settings say off."""
        with self._lock:
            if self.active:
                return True
            self.settings = settings or settings_mod.read()
            if not self.settings.enabled:
                log.debug("fluxfix: off (FLUXFIX=%s)", self.settings.raw)
                return False
            patches = self.load_patches()
            settings_mod.warn_unknown(self.settings, set(patches))
            self.active = True
            targets = {t for p in patches.values() if self.why_off(p) is None for t in p.targets}
            new = sorted(targets - self._hooked)
            self._hooked |= targets
        # Outside the lock: registering fires the hook at once for modules already imported.
        for name in new:
            wrapt.register_post_import_hook(self._on_import, name)
        for name in sorted(targets - set(new)):  # hooked by an earlier activation
            if name in sys.modules:
                self._on_import(sys.modules[name])
        return True

    def _on_import(self, module) -> None:
        if not self.active:
            return
        spec = getattr(module, "__spec__", None)
        if getattr(spec, "_initializing", False):
            # Another thread is still executing it: importing waits until it is done.
            module = importlib.import_module(module.__name__)
        for patch in list((self.patches or {}).values()):  # in name order: deterministic
            if module.__name__ in patch.targets and self.why_off(patch) is None:
                self._apply(patch, module)

    def _apply(self, patch: Patch, module) -> None:
        name = module.__name__
        with self._lock:
            done = self.outcomes.setdefault(patch.name, {})
            if not self.active or name in done:
                return  # exactly once per module, whichever thread gets here first
            try:
                sites = patch.inspect(module)
                undo = patch.apply(module, sites)
                self._undo.append((patch.name, name, undo))
                done[name] = Outcome(name, Verdict.APPLIED, "patched " + ", ".join(sites))
                held_lines.info("fluxfix: %s applied to %s", patch.name, ", ".join(sites))
                return
            except StepAside as aside:
                reason = aside.reason
                if aside.verdict is Verdict.TARGET_CHANGED:
                    reason += f" ({patch.host} {host_version(patch.host)})"
                done[name] = Outcome(name, aside.verdict, reason)
                held_lines.info("fluxfix: %s steps aside in %s: %s", patch.name, name, aside.reason)
                if self.settings.strict and aside.verdict is Verdict.TARGET_CHANGED:
                    raise FluxfixError(self._describe(patch, name, aside.reason) + "; unset FLUXFIX_STRICT to run unpatched") from None
            except Exception as exc:  # never let a patch break the host's import
                reason = f"{type(exc).__name__}: {exc}"
                # one warning a patch: its other target modules failing too add nothing new for the user
                said = any(o.verdict is Verdict.FAILED for o in done.values())
                done[name] = Outcome(name, Verdict.FAILED, reason)
                (log.debug if said else log.warning)("fluxfix: %s; the host is left unpatched", self._describe(patch, name, reason))
                if self.settings.strict:
                    raise FluxfixError(self._describe(patch, name, reason)) from exc

    @staticmethod
    def _describe(patch: Patch, module: str, reason: str) -> str:
        return f"patch {patch.name} could not apply to {module} ({patch.host} {host_version(patch.host)}): {reason}"

    def revert(self) -> None:
        """Put back the original objects, newest change first; activate() may run again later."""
        with self._lock:
            while self._undo:
                patch, module, undo = self._undo.pop()
                try:
                    undo()
                except Exception as exc:  # keep unwinding: the rest must still come back
                    log.warning("fluxfix: could not undo %s in %s: %s", patch, module, one_line(exc))
            self.outcomes.clear()
            self.active = False

    # -- reporting --------------------------------------------------------------------------
    def import_targets(self) -> None:
        """Import every target of every chosen patch so that status gives final verdicts."""
        wanted = [(patch, target) for patch in self.load_patches().values()
                  if self.why_off(patch) is None and host_version(patch.host) is not None for target in patch.targets]
        failed = []
        for patch, target in wanted:
            missing = [m for m in patch.needs if self.absent(m)]
            if missing:
                with self._lock:
                    self.outcomes.setdefault(patch.name, {}).setdefault(
                        target, Outcome(target, Verdict.NOT_NEEDED, f"no {', '.join(missing)} here: {target} needs it"))
                continue
            if self.absent(target):  # e.g. a module that moved between releases: another target has it
                with self._lock:
                    self.outcomes.setdefault(patch.name, {}).setdefault(
                        target, Outcome(target, Verdict.NOT_NEEDED, f"no {target} in this {patch.host} release"))
                continue
            error = self._try_import(patch, target)
            if error:
                failed.append((patch, target))
        # A host module can fail alone on a circular import and load fine once its siblings did.
        for patch, target in failed:
            error = self._try_import(patch, target)
            if error:
                with self._lock:
                    self.outcomes.setdefault(patch.name, {}).setdefault(
                        target, Outcome(target, Verdict.WAITING, f"cannot import here: {error}"))

    @staticmethod
    def absent(target: str) -> bool:
        """The installed host has no such module, or no such parent package."""
        try:
            return importlib.util.find_spec(target) is None
        except ModuleNotFoundError as exc:
            return bool(exc.name) and (target == exc.name or target.startswith(exc.name + "."))
        except Exception:  # the parent exists but fails to import: _try_import says why
            return False

    @staticmethod
    def _try_import(patch: Patch, target: str) -> str | None:
        try:
            if importlib.util.find_spec(target) is not None:
                with patch.import_context():
                    importlib.import_module(target)
        except Exception as exc:  # e.g. a model module that needs a GPU to import
            return one_line(exc, 100)
        return None

    def records(self) -> list[Record]:
        with self._lock:
            return [self._record(p) for p in self.load_patches().values()]

    def _record(self, patch: Patch) -> Record:
        hv = host_version(patch.host)
        outcomes = dict(self.outcomes.get(patch.name, {}))
        record = Record(patch.name, patch.summary, patch.host, hv, Verdict.WAITING, "", outcomes)
        off = self.why_off(patch)
        by_verdict: dict[Verdict, list[Outcome]] = {}
        for o in outcomes.values():
            by_verdict.setdefault(o.verdict, []).append(o)
        if off:
            record.verdict, record.reason = Verdict.DISABLED, off
        elif hv is None:
            record.verdict, record.reason = Verdict.HOST_MISSING, f"{patch.host} is not installed"
        else:
            for verdict in (Verdict.FAILED, Verdict.APPLIED, Verdict.TARGET_CHANGED, Verdict.NOT_NEEDED, Verdict.WAITING):
                if verdict in by_verdict:
                    record.verdict = verdict
                    record.reason = "; ".join(o.reason for o in by_verdict[verdict])
                    break
            else:
                record.reason = "none of its target modules is imported yet: " + ", ".join(patch.targets)
        return record


ENGINE = Engine()
