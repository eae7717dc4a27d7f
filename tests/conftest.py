"""Shared test helpers: run a probe (tests/probes.py) against a real host release in a fresh
subprocess, with only that release and its pins in front of the test environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

from hostenv import host_env  # noqa: E402

# sglang releases the suite covers: before, inside and after each defect's range.
SGLANG_ALL = ["0.5.8", "0.5.9", "0.5.10", "0.5.10.post1", "0.5.11", "0.5.17", "0.5.21", "0.5.23"]


def clean_env(**extra: str) -> dict:
    """The environment without any FLUXFIX* setting of the caller, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUXFIX", "SGLANG_PLUGINS"))}
    env.update(extra)
    return env


def run_probe(version: str, probe: str, *args: str, env: dict | None = None, timeout: int = 600) -> dict:
    base = host_env("sglang", version)
    base = {k: v for k, v in base.items() if not k.startswith(("FLUXFIX", "SGLANG_PLUGINS"))}
    base.update(env or {})
    base["PYTHONPATH"] = os.pathsep.join([base.get("PYTHONPATH", ""), str(TESTS)]).strip(os.pathsep)
    proc = subprocess.run(
        [sys.executable, "-m", "probes", probe, *args], env=base, capture_output=True, text=True, timeout=timeout
    )
    for line in proc.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[len("PROBE "):])
    raise AssertionError(f"probe {probe} on sglang {version} printed no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


@pytest.fixture
def probe():
    return run_probe
