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
# importing fluxfix's modules here must not activate it in the test process: tests choose the moment
os.environ["FLUXFIX"] = "0"

from hostenv import host_env  # noqa: E402



def pytest_configure(config):
    config.addinivalue_line("markers", "newest_torch: runs in the torch215 environment only (the newest torch, "
                                       "which diffusers users run); the py311 suite leaves it out to keep CI short")


def clean_env(**extra: str) -> dict:
    """The environment without any FLUXFIX* setting of the caller, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUXFIX", "SGLANG_PLUGINS"))}
    env.update(extra)
    return env


def run_probe(version: str, probe: str, *args: str, env: dict | None = None, timeout: int = 600, host: str = "sglang") -> dict:
    base = host_env(host, version)
    base = {k: v for k, v in base.items() if not k.startswith(("FLUXFIX", "SGLANG_PLUGINS"))}
    base["FLUXFIX"] = "0"  # the probe chooses when fluxfix activates, unless the test sets FLUXFIX itself
    base.update(env or {})
    base["PYTHONPATH"] = os.pathsep.join([base.get("PYTHONPATH", ""), str(TESTS)]).strip(os.pathsep)
    proc = subprocess.run(
        [sys.executable, "-m", "probes", probe, *args], env=base, capture_output=True, text=True, timeout=timeout,
        cwd=TESTS,  # not the checkout: fluxfix must come from its installed distribution
    )
    for line in proc.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[len("PROBE "):])
    raise AssertionError(f"probe {probe} on {host} {version} printed no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


@pytest.fixture
def probe():
    return run_probe


def install_distribution(root: Path, name: str, modules: dict[str, str], entry_points: str) -> Path:
    """Build and install a tiny real distribution (setup.cfg + modules) into root/site."""
    import textwrap

    src, site = root / f"{name}-src", root / "site"
    src.mkdir(parents=True)
    (src / "setup.cfg").write_text(
        f"[metadata]\nname = {name}\nversion = 1.0\n\n[options]\npy_modules = {', '.join(modules)}\n\n"
        f"[options.entry_points]\n{entry_points}\n"
    )
    (src / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    for module, code in modules.items():
        (src / f"{module}.py").write_text(textwrap.dedent(code))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(src)],
        check=True,
    )
    return site


def copy_tree(source: Path, target: Path) -> Path:
    """A private copy of an installed tree (hard links, so cheap); edit files in it only through
    `edit_file`, which replaces the link instead of writing through it."""
    import shutil

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, symlinks=True)
    return target


def copy_of_release(version: str, root: Path) -> Path:
    """A private copy of a real sglang release (see copy_tree)."""
    return copy_tree(Path(host_env("sglang", version)["PYTHONPATH"].split(os.pathsep)[0]), root / f"sglang-{version}")


def edit_file(path: Path, old: str, new: str) -> None:
    """Replace every `old` in the file (append `new` when `old` is empty)."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.unlink()  # break the hard link: the original release stays untouched
    path.write_text(text.replace(old, new) if old else text + new)


# A third-party patch package's two modules: a host with the platform-check defect, and its patch
DEMO_HOST = '''
import functools

class Device:
    @classmethod
    @functools.lru_cache(maxsize=1)
    def is_fast(cls):
        return True

device = Device()

def step(x):
    return x * 2 if device.is_fast() else x  # through an instance, as hosts do: dynamo breaks
'''

DEMO_PATCH = '''
from fluxfix import Patch, StepAside, Verdict, hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.fold import cached_classmethods, fold

class DemoCheck(Patch):
    name = "demo-check"
    summary = "demo host check folded"
    host = "fluxfix-demo-patch"
    targets = ("demo_host", "demo_host_extra")
    def inspect(self, module):
        sites = cached_classmethods(module)
        if not sites:
            if module.__name__ == "demo_host" and not hasattr(module.Device, "is_fast"):
                raise StepAside(Verdict.TARGET_CHANGED, "Device.is_fast is gone")
            raise StepAside(Verdict.NOT_NEEDED, "nothing cached")
        return sites

    def apply(self, module, sites):
        undos = [fold(*site) for site in sites.values()]
        return lambda: [u() for u in reversed(undos)]

    def defect(self):
        import torch
        import demo_host

        return fullgraph_error(demo_host.step, torch.ones(2))

@hookimpl
def fluxfix_patches():
    return [DemoCheck()]
'''
