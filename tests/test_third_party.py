"""A third-party patch package, built and installed here as a real distribution, is found through
the same entry-point group as the built-ins (the whole contract runs on one: test_contract.py)."""
import subprocess
import sys

from conftest import clean_env, install_distribution

ENTRY_POINTS = "fluxfix.patches =\n    demo-check = demo_patch"

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
from fluxfix.fold import cached_classmethods, fold

class DemoCheck(Patch):
    name = "demo-check"
    summary = "demo host check folded"
    host = "fluxfix-demo-patch"
    targets = ("demo_host",)

    def inspect(self, module):
        sites = cached_classmethods(module)
        if not sites:
            raise StepAside(Verdict.NOT_NEEDED, "nothing cached")
        return sites

    def apply(self, module, sites):
        undos = [fold(*site) for site in sites.values()]
        return lambda: [u() for u in undos]

@hookimpl
def fluxfix_patches():
    return [DemoCheck()]
'''

def test_a_target_that_fails_to_import_with_an_empty_message_is_reported(tmp_path):
    # hosts raise bare exceptions at import (sglang 0.5.10's CPU platform: NotImplementedError())
    failing_host = "raise NotImplementedError()\n"
    site = install_distribution(tmp_path, "fluxfix-demo-patch", {"demo_host": failing_host, "demo_patch": DEMO_PATCH}, ENTRY_POINTS)
    show = ("import fluxfix; r = {r.name: r for r in fluxfix.status(import_targets=True)}['demo-check']; "
            "print(r.verdict.value, '|', r.reason)")
    out = subprocess.run([sys.executable, "-c", show], env=clean_env(PYTHONPATH=str(site)), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    verdict, reason = out.stdout.strip().split(" | ")
    assert verdict == "waiting for import" and "cannot import here: NotImplementedError" in reason
