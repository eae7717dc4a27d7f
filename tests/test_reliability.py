"""fluxfix never breaks the host: import orders, double activation, revert, opt-outs, host drift,
failing patches, strict mode and concurrent imports, on real sglang releases. Every case checks
what the host's own code does under torch.compile, not only fluxfix's bookkeeping."""
import os
import subprocess
import sys

import pytest

from conftest import clean_env, copy_of_release, edit_file, install_distribution, run_probe

RELEASES = ["0.5.10", "0.5.23"]
FIXED = {"linear_breaks": False, "platform_breaks": False, "rope_warning_breaks": False}
PATCH_FOR = {"sglang-platform-checks": ("linear_breaks", "platform_breaks"), "sglang-rope-warning": ("rope_warning_breaks",)}


@pytest.mark.parametrize("version", RELEASES)
@pytest.mark.parametrize("case", ["before", "middle", "after", "twice", "revert-reactivate"])
def test_every_import_order_gives_the_same_host_behaviour(version, case):
    result = run_probe(version, "ordering", case)
    assert result["defects"] == FIXED
    assert result["applied_once"] is True
    if case == "revert-reactivate":
        assert result["after_revert"]["platform_breaks"] is True  # really reverted in between


@pytest.mark.parametrize("version", RELEASES)
def test_autoload_and_explicit_import_together_apply_once(version):
    result = run_probe(version, "ordering", "after", env={"FLUXFIX": "1"})
    assert result["defects"] == FIXED
    assert result["applied_once"] is True


@pytest.mark.parametrize("patch", sorted(PATCH_FOR))
def test_disabling_a_patch_leaves_exactly_its_defect(patch):
    result = run_probe("0.5.10", "ordering", "after", env={"FLUXFIX_DISABLE": patch})
    assert result["status"][patch] == "disabled"
    expected = {name: name in PATCH_FOR[patch] for name in FIXED}
    assert result["defects"] == expected


def test_threads_importing_while_activating_apply_each_patch_once():
    result = run_probe("0.5.10", "concurrent_imports")
    assert result["errors"] == []
    assert result["defects"] == FIXED
    assert result["applied_once"] is True
    assert len(result["outcomes"]["sglang-rope-warning"]) == 2  # the package and its utils module, once each


STATUS = "import fluxfix, json; print(json.dumps({r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}))"


def _run(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_host_that_changed_shape_is_left_alone_with_a_reason(tmp_path):
    host = copy_of_release("0.5.10", tmp_path)
    utils = host / "sglang/multimodal_gen/runtime/layers/rotary_embedding/utils.py"
    edit_file(utils, "def apply_flashinfer_rope_qk_inplace(", "def apply_rope_qk_inplace_renamed(")
    edit_file(host / "sglang/multimodal_gen/runtime/layers/rotary_embedding/__init__.py", "apply_flashinfer_rope_qk_inplace", "apply_rope_qk_inplace_renamed")
    code = "import sglang.multimodal_gen.runtime.layers.rotary_embedding\n" + STATUS
    proc = _run(code, clean_env(PYTHONPATH=str(host)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict, reason = __import__("json").loads(proc.stdout.splitlines()[-1])["sglang-rope-warning"]
    assert verdict == "target changed"
    assert "apply_flashinfer_rope_qk_inplace" in reason and "sglang 0.5.10" in reason

    strict = _run(code, clean_env(PYTHONPATH=str(host), FLUXFIX_STRICT="1"))
    assert strict.returncode != 0
    assert "FluxfixError" in strict.stderr and "apply_flashinfer_rope_qk_inplace" in strict.stderr


def test_host_without_the_defect_is_not_patched(tmp_path):
    host = copy_of_release("0.5.10", tmp_path)
    utils = host / "sglang/multimodal_gen/runtime/layers/rotary_embedding/utils.py"
    text = utils.read_text()
    edit_file(utils, text[text.index("        warnings.warn(\n"):text.index("        half_size")], "")
    proc = _run("import sglang.multimodal_gen.runtime.layers.rotary_embedding\n" + STATUS, clean_env(PYTHONPATH=str(host)))
    verdict, reason = __import__("json").loads(proc.stdout.splitlines()[-1])["sglang-rope-warning"]
    assert (verdict, "fixed upstream" in reason) == ("not needed", True)


RAISING_PATCH = '''
from fluxfix import Patch, hookimpl

class Broken(Patch):
    name, summary, host = "broken-patch", "raises while applying", "sglang"
    targets = ("sglang.multimodal_gen.runtime.layers.linear",)

    def inspect(self, module):
        return {"UnquantizedLinearMethod.apply": module.UnquantizedLinearMethod}

    def apply(self, module, sites):
        raise RuntimeError("boom")

@hookimpl
def fluxfix_patches():
    return [Broken()]
'''


def test_a_patch_that_raises_never_reaches_the_host(tmp_path):
    site = install_distribution(tmp_path, "broken-patch", {"broken_patch": RAISING_PATCH}, "fluxfix.patches =\n    broken-patch = broken_patch")
    host = run_probe.__globals__["host_env"]("sglang", "0.5.10")["PYTHONPATH"]
    env = clean_env(PYTHONPATH=os.pathsep.join([str(site), host]), FLUXFIX="1")
    code = "import sglang.multimodal_gen.runtime.layers.linear as linear\nprint('IMPORTED', linear.UnquantizedLinearMethod.__name__)\n" + STATUS
    proc = _run(code, env)
    assert proc.returncode == 0 and "IMPORTED UnquantizedLinearMethod" in proc.stdout, proc.stderr[-2000:]
    verdict, reason = __import__("json").loads(proc.stdout.splitlines()[-1])["broken-patch"]
    assert verdict == "failed" and "boom" in reason
    ours = [line for line in proc.stderr.splitlines() if line.startswith("fluxfix:")]
    assert len(ours) == 1 and "broken-patch" in ours[0] and "boom" in ours[0]

    strict = _run(code, {**env, "FLUXFIX_STRICT": "1"})
    assert strict.returncode != 0 and "FluxfixError" in strict.stderr
