"""What the per-patch contract (test_contract.py) cannot show one patch at a time: every patch of a
host together, activated from several threads while the host is being imported, and through the
auto-load and an explicit activation in one process. Checked on the host's own code under
torch.compile."""
import pytest

from conftest import run_probe

FIXED = {"linear_breaks": False, "platform_breaks": False, "rope_warning_breaks": False}


def test_threads_importing_while_activating_apply_each_patch_once():
    result = run_probe("0.5.10", "concurrent_imports")
    assert result["errors"] == []
    assert result["defects"] == FIXED
    assert result["applied_once"] is True
    assert len(result["outcomes"]["sglang-rope-warning"]) == 2  # the package and its utils module, once each


@pytest.mark.parametrize("version", ["0.5.10"])
def test_autoload_and_explicit_activation_together_apply_once(version):
    result = run_probe(version, "concurrent_imports", env={"FLUXFIX": "1"})
    assert result["defects"] == FIXED and result["applied_once"] is True
