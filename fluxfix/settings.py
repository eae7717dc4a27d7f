"""The environment variables users set, parsed once, with one clear warning for bad values."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger("fluxfix")

OFF = frozenset({"", "0", "off", "false", "no", "none"})
ALL = frozenset({"1", "all", "on", "true", "yes"})


@dataclass(frozen=True)
class Settings:
    enabled: bool  # False: fluxfix does nothing in this process
    only: frozenset[str] | None  # patch names picked by FLUXFIX, None for all
    disabled: frozenset[str]  # FLUXFIX_DISABLE
    strict: bool  # FLUXFIX_STRICT: raise instead of stepping aside
    raw: str = ""  # FLUXFIX as the user wrote it, for reasons ("fluxfix is off (FLUXFIX=false)")
    opted_in: frozenset[str] = frozenset()  # opt-in choices given, as "VAR=value" (FLUXFIX_COMPILE=regional)


def autoload_wanted(environ=os.environ) -> bool:
    """The interpreter-start test: as cheap as it can be, no imports."""
    return environ.get("FLUXFIX", "").strip().lower() not in OFF


def _names(value: str) -> frozenset[str]:
    return frozenset(n.strip() for n in value.split(",") if n.strip())


def read(environ=os.environ) -> Settings:
    """Settings for an explicit activation (`import fluxfix` is itself an opt-in)."""
    raw = environ.get("FLUXFIX")
    choice = (raw or "").strip().lower()
    if raw is not None and choice in OFF:
        enabled, only = False, None
    elif raw is None or choice in ALL:
        enabled, only = True, None
    else:
        enabled, only = True, _names(raw)
        if not only:
            log.warning("fluxfix: FLUXFIX=%r names no patch, so every patch stays off; use 1 (all patches), "
                        "0 (off) or a comma list of patch names (valid names: `fluxfix status`)", raw)
    strict_raw = environ.get("FLUXFIX_STRICT", "").strip().lower()
    if strict_raw not in OFF | ALL:
        log.warning(
            "fluxfix: FLUXFIX_STRICT=%r is not understood; use 1 (raise when a patch cannot apply) "
            "or 0 (step aside, the default). Treating it as 0.",
            environ.get("FLUXFIX_STRICT"),
        )
    return Settings(
        opted_in=_opted_in(environ),
        enabled=enabled,
        only=only,
        disabled=_names(environ.get("FLUXFIX_DISABLE", "")),
        strict=strict_raw in ALL,
        raw=(raw or "").strip(),
    )


# opt-in variables: the values they take; a patch with `opt_in = "VAR=value"` waits for that choice
CHOICES = {"FLUXFIX_COMPILE": {"whole": "compile what the host compiles (the default)",
                               "regional": "a whole-model .compile() compiles each repeated block instead "
                                           "(a compiled VAE decode: its resnet blocks)"}}


def _opted_in(environ) -> frozenset[str]:
    chosen = set()
    for var, choices in CHOICES.items():
        value = environ.get(var, "").strip().lower()
        if value in choices:
            chosen.add(f"{var}={value}")
        elif value:
            log.warning("fluxfix: %s=%r is not understood; use %s. Ignoring it.", var, environ.get(var),
                        " or ".join(f"{c} ({what})" for c, what in choices.items()))
    return frozenset(chosen)


def warn_unknown(settings: Settings, known: set[str]) -> None:
    """One warning per variable that names patches fluxfix does not have."""
    for var, names in (("FLUXFIX", settings.only or frozenset()), ("FLUXFIX_DISABLE", settings.disabled)):
        unknown = sorted(names - known)
        if unknown:
            log.warning(
                "fluxfix: %s names unknown patch(es) %s; valid names: %s%s. Unknown names are ignored.",
                var,
                ", ".join(repr(n) for n in unknown),
                ", ".join(sorted(known)) or "(none installed)",
                " (or 1/all, 0/off)" if var == "FLUXFIX" else "",
            )
