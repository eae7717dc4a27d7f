"""One contract, run for every registered patch (each built-in, and a third-party one built here as a
real distribution): activated before, between and after the host's imports, twice, disabled by name,
reverted (the very same objects back) and re-activated, raising while applying, and strict on a
copy of the host whose target drifted. Where the host's code changes or comes back, each case judges
by the patch's own `defect()`: the host's real code at that patch's target under torch.compile, not
fluxfix's bookkeeping. Where fluxfix must leave the host alone (disabled, raising, drifted), the
judge is that the host holds the very same objects."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_HOST, DEMO_PATCH, TESTS, clean_env, copy_tree, edit_file, install_distribution
from fluxfix import registry
from hostenv import host_env

FOUND = registry.load()
BUILT_IN = sorted(FOUND.patches)
THIRD_PARTY = "demo-check"
CASES = ["before", "between", "after", "drift"]  # "after" also covers a patch raising while applying
DEMO_DRIFT = (("demo_host.py", "@functools.lru_cache(maxsize=1)\n    def is_fast(cls):", "def is_quick(cls):"),)

@pytest.fixture(scope="module")
def demo_site(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    return install_distribution(root, "fluxfix-demo-patch", {"demo_host": DEMO_HOST, "demo_host_extra": "X = 1\n",
                                                             "demo_patch": DEMO_PATCH}, "fluxfix.patches =\n    demo-check = demo_patch")


def groups() -> dict[str, list[str]]:
    """Patches that share a contract host (host and release) run their cases in one process each."""
    found: dict[str, list[str]] = {}
    for name, patch in FOUND.patches.items():
        found.setdefault(f"{patch.host}-{patch.contract_release}", []).append(name)
    found[THIRD_PARTY] = [THIRD_PARTY]
    return found


GROUPS = groups()


def host_path(group: str, demo_site: Path, tmp_path: Path, edits=()) -> str:
    """The group's contract host on sys.path: its release (or the demo distribution), as a private
    copy when it must be put into a state (a patch's contract state, the drifts)."""
    extra: list[str] = []
    if group == THIRD_PARTY:
        source, state = demo_site, ()
    else:
        patch = FOUND.patches[GROUPS[group][0]]
        source, *extra = host_env(patch.host, patch.contract_release)["PYTHONPATH"].split(os.pathsep)
        source = Path(source)
        state = [e for n in GROUPS[group] for e in FOUND.patches[n].contract_state]
    edits = tuple(state) + tuple(edits)
    if edits:
        source = copy_tree(source, tmp_path / "host")
        for file, old, new in edits:
            edit_file(source / file, old, new)
    return os.pathsep.join([str(source)] + extra)


def run_case(case: str, names: list[str], path: str) -> dict:
    env = clean_env(FLUXFIX="0", PYTHONPATH=os.pathsep.join([path, str(TESTS)]))
    proc = subprocess.run([sys.executable, "-m", "contract", case, ",".join(names)], env=env, capture_output=True, text=True,
                          cwd=TESTS, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("CONTRACT ")]
    assert lines, f"contract {case} of {names} printed no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1][len("CONTRACT "):])


def skip_reason(name: str, case: str) -> str | None:
    return None if name == THIRD_PARTY else FOUND.patches[name].contract_skips.get(case)


def drift_of(name: str) -> tuple:
    drift = DEMO_DRIFT if name == THIRD_PARTY else FOUND.patches[name].drift
    assert drift, f"{name} declares no drift: every patch says how its target may change shape"
    return drift


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_contract(group, case, demo_site, tmp_path):
    names = [n for n in GROUPS[group] if not skip_reason(n, case)]
    skipped = {n: skip_reason(n, case) for n in GROUPS[group] if skip_reason(n, case)}
    if not names:
        pytest.skip("; ".join(f"{n}: {why}" for n, why in skipped.items()))
    edits = [e for n in names for e in drift_of(n)] if case == "drift" else ()
    results = run_case(case, names, host_path(group, demo_site, tmp_path, edits))
    failures = []
    for name in names:
        try:
            CHECKS[case](name, results[name])
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
    assert not failures, "\n".join(failures)


def check_before(name, r):
    assert r["defect"] is None and r["verdict"] == "applied", r


check_between = check_before


def check_after(name, r):
    assert r["unpatched"], f"{name}: its contract release shows no defect before activation"
    disabled = r["disabled"]
    assert disabled["verdict"] == "disabled" and disabled["changed"] == [] and disabled["changes"] == 0, disabled
    assert r["twice"]["verdict"] == "applied", r["twice"]
    assert r["twice"]["changes"] == r["twice"]["applied_modules"] >= 1, r["twice"]  # one change per module, once
    assert r["reverted"]["defect"] and r["reverted"]["changed"] == [], r["reverted"]  # the very same objects back
    assert r["reactivated"]["defect"] is None and r["reactivated"]["verdict"] == "applied", r["reactivated"]
    check_raising(name, r["raising"])


def check_raising(name, r):
    failed = r["failed"]
    assert failed["verdict"] == "failed" and "boom while applying" in failed["reason"], failed
    assert failed["changed"] == [] and failed["changes"] == 0, failed  # the host untouched, nothing left to undo
    assert len(failed["lines"]) == 1 and name in failed["lines"][0] and "boom" in failed["lines"][0], failed["lines"]
    assert r["strict"] and name in r["strict"] and "boom" in r["strict"], r


def check_drift(name, r):
    assert any(v == "target changed" for v, _ in r["verdicts"].values()), r["verdicts"]
    assert r["changed"] == [], r  # a target fluxfix does not recognise is left exactly as it is
    assert r["strict"] and name in r["strict"] and "FLUXFIX_STRICT" in r["strict"], r


CHECKS = {"before": check_before, "between": check_between, "after": check_after, "drift": check_drift}
