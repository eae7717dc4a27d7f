"""A third-party patch package, built and installed here as a real distribution, is found through
the same entry-point group as the built-ins (the whole contract runs on one: test_contract.py)."""
import subprocess
import sys

from conftest import DEMO_PATCH, clean_env, install_distribution

ENTRY_POINTS = "fluxfix.patches =\n    demo-check = demo_patch"
ONE_TARGET = DEMO_PATCH.replace('targets = ("demo_host", "demo_host_extra")', 'targets = ("demo_host",)')


def test_a_target_that_fails_to_import_with_an_empty_message_is_reported(tmp_path):
    # hosts raise bare exceptions at import (sglang 0.5.10's CPU platform: NotImplementedError())
    failing_host = "raise NotImplementedError()\n"
    site = install_distribution(tmp_path, "fluxfix-demo-patch", {"demo_host": failing_host, "demo_patch": ONE_TARGET}, ENTRY_POINTS)
    show = ("import fluxfix; r = {r.name: r for r in fluxfix.status(import_targets=True)}['demo-check']; "
            "print(r.verdict.value, '|', r.reason)")
    out = subprocess.run([sys.executable, "-c", show], env=clean_env(PYTHONPATH=str(site)), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    verdict, reason = out.stdout.strip().split(" | ")
    assert verdict == "waiting for import" and "cannot import here: NotImplementedError" in reason
