"""The three ways in (import, interpreter-start auto-load, sglang's plugin entry point) and the
processes they reach, on real sglang releases."""
import subprocess
import sys

from conftest import clean_env

ALL_LIGHT = "import sys; print(sorted(m for m in ('fluxfix', 'torch', 'wrapt', 'pluggy', 'importlib.metadata') if m in sys.modules))"


def test_autoload_off_imports_nothing():
    out = subprocess.run([sys.executable, "-c", ALL_LIGHT], env=clean_env(), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    assert out.stderr == ""


def test_autoload_file_is_installed():
    import fluxfix

    site = __import__("pathlib").Path(fluxfix.__file__).parent.parent
    assert (site / "fluxfix-autoload.pth").is_file(), "install fluxfix with `pip install .` (tox does)"


def test_autoload_patches_a_fresh_process(probe):
    result = probe("0.5.10", "autoload", env={"FLUXFIX": "1"})
    assert result["fluxfix_loaded"] is True
    assert result["torch_loaded"] is False  # activation itself imports no host and no torch
    assert result["amp_error"] is None


def test_autoload_with_a_list_picks_only_those(probe):
    result = probe("0.5.10", "autoload", env={"FLUXFIX": "sglang-rope-warning"})
    assert result["fluxfix_loaded"] is True
    assert "is_amp_supported" in result["amp_error"]  # platform checks were not chosen


def test_autoload_reaches_a_spawned_worker(probe):
    result = probe("0.5.10", "spawned_worker", env={"FLUXFIX": "1"})
    assert result["fluxfix_loaded"] is True
    assert result["amp_error"] is None


def test_every_rank_of_a_distributed_job_is_patched(probe):
    result = probe("0.5.10", "distributed_ranks", env={"FLUXFIX": "1"})
    assert [r["rank"] for r in result["ranks"]] == [0, 1]
    for rank in result["ranks"]:
        assert rank["fluxfix_loaded"] is True
        assert rank["amp_error"] is None


def test_lines_from_before_logging_was_set_up_are_said_once_it_is(probe):
    """sglang's workers import the platform modules (and the request object) before they set up logging, so the
    "applied" lines of those first patches were dropped from every server log. Held, they come out, in order, at
    fluxfix's first line after a handler appears."""
    result = probe("0.5.10", "early_lines")
    early, said = result["before_set_up"], result["said"]
    assert any(m.startswith("fluxfix: sglang-platform-checks applied to Platform.") for m in early), result
    assert any(m.startswith("fluxfix: sglang-request-attributes applied to") for m in early), result
    later = [m for m in said if m not in early]  # the import after the handler: the RoPE module's patch
    assert said[:len(early)] == early and any(m.startswith("fluxfix: sglang-rope-warning applied") for m in later), result


def test_no_opt_in_no_patch_in_worker(probe):
    result = probe("0.5.10", "spawned_worker")
    assert result["fluxfix_loaded"] is False


def test_sglang_plugin_entry_point_patches_its_worker(probe):
    result = probe("0.5.23", "sglang_plugins")
    assert result["fluxfix_loaded"] is True
    assert result["amp_error"] is None


def test_sglang_plugins_excluding_fluxfix_leaves_it_out(probe):
    result = probe("0.5.23", "sglang_plugins", env={"SGLANG_PLUGINS": "someone-else"})
    assert result["fluxfix_loaded"] is False
    assert "is_amp_supported" in result["amp_error"]


def test_activating_twice_is_a_no_op():
    code = "import fluxfix; from fluxfix.engine import ENGINE; a = dict(ENGINE.outcomes); fluxfix.activate(); fluxfix.activate(); print(ENGINE.active, a == ENGINE.outcomes)"
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_off_switch_keeps_import_inert():
    code = "import fluxfix; from fluxfix.engine import ENGINE; print(ENGINE.active)"
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(FLUXFIX="0"), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
