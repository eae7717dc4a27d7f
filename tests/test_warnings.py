"""sglang-rope-warning (with sglang-rope-flashinfer-import) and sglang-norm-fallback-warnings on real releases: the warning is a graph
break before, is gone from the graph after, and is still shown (once) while compiling. And
sglang-flux2-aiter on a release that already admits AITER (its defective state: test_contract.py)."""
import pytest
from conftest import run_probe

WARN_BREAK = "_warnings.warn"  # dynamo's reason for the break


def at_warning(site):
    """The break site (file:line: code) is a warnings.warn call."""
    return site is not None and "warnings.warn(" in site


# one release per shape of the defect; every release's verdict: test_matrix.py
ROPE_DEFECT = ["0.5.10"]
NORM_DEFECT = ["0.5.8", "0.5.23"]


@pytest.mark.parametrize("version", ROPE_DEFECT)
def test_rope_warning_no_longer_breaks_the_graph(probe, version):
    # The Triton fallback cannot run without a GPU: this covers tracing only. fullgraph=True
    # stops at the first break: the warning before; after, tracing gets past it.
    result = probe(version, "rope_warning")
    assert WARN_BREAK in result["unpatched_error"]
    assert at_warning(result["unpatched_site"]) and "rotary_embedding" in result["unpatched_site"]
    assert not at_warning(result["patched_site"]), result["patched_site"]
    assert result["warned_while_compiling"] == 1
    assert result["status"]["sglang-rope-warning"] == "applied"


@pytest.mark.parametrize("version", ["0.5.9"])
def test_rope_helper_import_and_warning_both_leave_the_graph_in_early_releases(probe, version):
    # There the first break is the failed in-function FlashInfer import (no FlashInfer here, as on
    # every AMD machine); sglang-rope-flashinfer-import decides it outside the graph, then
    # sglang-rope-warning handles the warning behind it: tracing gets past both to the launch.
    result = probe(version, "rope_warning")
    assert "Import failure" in result["unpatched_error"]
    assert "from flashinfer.rope import" in result["unpatched_site"]
    assert "Import failure" not in result["patched_error"] and not at_warning(result["patched_site"]), result["patched_site"]
    assert "triton/" in result["patched_site"]  # the Triton launch, which needs a GPU to run
    assert result["warned_while_compiling"] == 1
    assert result["status"]["sglang-rope-flashinfer-import"] == result["status"]["sglang-rope-warning"] == "applied"


@pytest.mark.parametrize("version", NORM_DEFECT)
def test_norm_fallback_warning_no_longer_breaks_the_graph(probe, version):
    result = probe(version, "norm_warning")
    assert WARN_BREAK in result["unpatched_error"]
    assert at_warning(result["unpatched_site"]) and "layernorm.py" in result["unpatched_site"]
    assert not at_warning(result["patched_site"]), result["patched_site"]
    assert result["warned_while_compiling"] == 1
    assert result["status"]["sglang-norm-fallback-warnings"] == "applied"
    assert result["eager_identical"] is True or result["eager_identical"].startswith("eager needs a GPU")
    if version == "0.5.8":  # its QK-norm fallback is plain torch: the whole function compiles, eagerly identical
        assert result["patched_error"] is None and result["eager_identical"] is True
    assert at_warning(result["reverted_site"])  # revert brings the host's own code back


def test_flux2_already_admitting_aiter_is_left_alone():
    result = run_probe("0.5.23", "flux2_aiter", "rocm")
    assert result["status"] == ["not needed", "Flux2Transformer2DModel already admits AITER and AITER_SAGE"]
