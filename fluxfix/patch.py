"""What a patch is: a declaration plus two small functions, inspect and apply."""
from __future__ import annotations

import contextlib
import enum
from dataclasses import dataclass, field
from typing import Any, Callable


class Verdict(str, enum.Enum):
    APPLIED = "applied"
    NOT_NEEDED = "not needed"
    HOST_MISSING = "host not installed"
    TARGET_CHANGED = "target changed"
    DISABLED = "disabled"
    FAILED = "failed"
    WAITING = "waiting for import"


class StepAside(Exception):
    """Raised by `Patch.inspect` when the defect is not there; carries the verdict and why."""

    def __init__(self, verdict: Verdict, reason: str):
        super().__init__(reason)
        self.verdict = verdict
        self.reason = reason


class Patch:
    """Base class of every fluxfix patch, built-in or third-party.

    A subclass sets the class attributes and implements:
      inspect(module) -> sites   the places in `module` that still have the defect,
                                 or raise StepAside(verdict, reason);
      apply(module, sites) -> undo   change those places in place; `undo()` restores
                                 the very same original objects;
      defect() -> str | None     run the host's own code at the patch's target and say how the
                                 defect shows (None when it does not): every contract test case
                                 asserts through it.
    """

    summary: str = ""
    host: str = ""  # distribution whose code is patched, e.g. "sglang"
    targets: tuple[str, ...] = ()  # modules inspected as soon as they are imported
    upstream: str = ""  # the upstream fix this mirrors or goes beyond
    # host release specifier -> verdict on a machine like CI's (no GPU): the README's support matrix
    # and the matrix test come from it; text after the verdict (in parentheses) is shown, not compared
    expected: dict[str, str] = {}
    # the same on ROCm (checked on a simulated ROCm machine), where it differs from `expected`
    expected_rocm: dict[str, str] = {}
    # modules the targets import that only some machines have (e.g. AMD's aiter): where one is
    # missing the targets never import, and `fluxfix status` says the patch is not needed here
    needs: tuple[str, ...] = ()
    contract_release: str = ""  # a release with the defect, where the contract cases run
    contract_state: tuple = ()  # edits (file, old, new) that put that release into the defective state, if it needs them
    # edits (file in the host's dir, old text or "" to append, new text) after which the target has a
    # shape the patch does not know: it must step aside ("target changed"), or raise in strict mode
    drift: tuple = ()
    contract_skips: dict[str, str] = {}  # contract case -> why it cannot run for this patch
    # "VAR=value" for a patch that changes what the host does rather than removing a defect: off
    # until the user sets it (or names the patch in FLUXFIX); see fluxfix.settings.CHOICES
    opt_in: str = ""
    # a call the patch itself keeps out of the graph on purpose (compile-disabled), said in words:
    # `fluxfix doctor` labels a disabled-function break that only appears with fluxfix with it
    boundary: str = ""

    @property
    def name(self) -> str:
        """A built-in patch is named after its module: patches/<host>/<words>.py is `<host>-<words>`;
        a third-party patch sets `name` itself."""
        parts = type(self).__module__.split(".")
        if len(parts) == 3 and parts[0] == "patches":
            return f"{parts[1]}-{parts[2].replace('_', '-')}"
        raise TypeError(f"{type(self).__qualname__} ({type(self).__module__}) must set a `name`")

    def inspect(self, module: Any) -> Any:
        raise NotImplementedError

    def apply(self, module: Any, sites: Any) -> Callable[[], None]:
        raise NotImplementedError

    def defect(self) -> str | None:
        raise NotImplementedError(f"{self.name} declares no defect() check")

    def expected_verdict(self, release: str, rocm: bool = False) -> str | None:
        """The declared verdict for a host release (first matching specifier), or None."""
        from packaging.specifiers import SpecifierSet

        for spec, verdict in (self.expected_rocm or self.expected if rocm else self.expected).items():
            if SpecifierSet(spec).contains(release, prereleases=True):
                return verdict
        return None

    def contract_setup(self) -> None:
        """Put the process into the state the patch's target machines run in (e.g. a simulated
        ROCm machine) before a contract case starts. Default: nothing."""

    def import_context(self):
        """The context in which `fluxfix status` imports this patch's targets (e.g. answering a
        host's import-time device query on a machine without that device). Default: none."""
        return contextlib.nullcontext()

    def explains(self, brk: Any) -> bool:
        """Whether a graph break (fluxfix.breaks.Break: reason, file, line, code) is the defect
        this patch removes; `fluxfix doctor` uses it to name the patch for each break."""
        return False


@dataclass
class Outcome:
    """What happened to one target module of one patch."""

    module: str
    verdict: Verdict
    reason: str


@dataclass
class Record:
    """The state of one patch in this process, as `fluxfix status` shows it."""

    name: str
    summary: str
    host: str
    host_version: str | None
    verdict: Verdict
    reason: str
    modules: dict[str, Outcome] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "summary": self.summary,
            "host": self.host,
            "host_version": self.host_version,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "modules": {m: {"verdict": o.verdict.value, "reason": o.reason} for m, o in self.modules.items()},
        }
