"""sglang-rope-warning and sglang-norm-fallback-warnings on real releases: the warning is a graph
break before, is gone from the graph after, and is still shown (once) while compiling. And
sglang-flux2-aiter, on a real release put into its defective state."""
import os
import subprocess
import sys

import pytest
from conftest import TESTS, clean_env, copy_of_release, edit_file, run_probe

WARN_BREAK = "_warnings.warn"  # dynamo's reason for the break


def at_warning(site):
    """The break site (file:line: code) is a warnings.warn call."""
    return site is not None and "warnings.warn(" in site


ROPE_DEFECT = ["0.5.10", "0.5.10.post1"]
NORM_DEFECT = ["0.5.8", "0.5.10", "0.5.17", "0.5.23"]


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


@pytest.mark.parametrize("version", ["0.5.8", "0.5.9"])
def test_rope_helper_breaks_at_its_import_first_in_early_releases(probe, version):
    # There the first break is the failed in-function FlashInfer import, the warning is never
    # traced, and the patch steps aside saying so.
    result = probe(version, "rope_warning")
    assert "Import failure" in result["unpatched_error"]
    assert "from flashinfer.rope import" in result["unpatched_site"]
    assert result["status"]["sglang-rope-warning"] == "not needed"


@pytest.mark.parametrize("version", NORM_DEFECT)
def test_norm_fallback_warning_no_longer_breaks_the_graph(probe, version):
    result = probe(version, "norm_warning")
    assert WARN_BREAK in result["unpatched_error"]
    assert at_warning(result["unpatched_site"]) and "layernorm.py" in result["unpatched_site"]
    assert not at_warning(result["patched_site"]), result["patched_site"]
    assert result["warned_while_compiling"] == 1
    assert result["status"]["sglang-norm-fallback-warnings"] == "applied"
    assert result["eager_identical"] is True or result["eager_identical"].startswith("eager needs a GPU")
    assert at_warning(result["reverted_site"])  # revert brings the host's own code back


def test_norm_fallback_runs_eagerly_and_identically_where_it_can(probe):
    # 0.5.8's QK-norm fallback is plain torch: the whole function compiles and matches eager.
    result = probe("0.5.8", "norm_warning")
    assert result["patched_error"] is None
    assert result["eager_identical"] is True


def _flux2_without_aiter(tmp_path):
    """A copy of real sglang 0.5.23 put into the defective state of the development builds
    between upstream #22423 and #22802: Flux 2's backend list without AITER and AITER_SAGE."""
    host = copy_of_release("0.5.23", tmp_path)
    flux2 = host / "sglang/multimodal_gen/runtime/models/dits/flux_2.py"
    edit_file(flux2, "        AttentionBackendEnum.AITER,\n        AttentionBackendEnum.AITER_SAGE,\n    }", "    }")
    return host


def test_flux2_admits_aiter_on_rocm_where_the_list_lacks_it(tmp_path):
    env = {"PYTHONPATH": str(_flux2_without_aiter(tmp_path))}
    result = run_flux2(env, "rocm")
    assert result["status"][0] == "applied", result["status"]
    assert {"AITER", "AITER_SAGE"} <= set(result["patched"])
    assert result["reverted"] == ["FA", "TORCH_SDPA"]  # revert puts the host's own list back
    assert run_flux2(env, "cpu")["status"][0] == "not needed"  # off ROCm it steps aside


def test_flux2_already_admitting_aiter_is_left_alone():
    result = run_probe("0.5.23", "flux2_aiter", "rocm")
    assert result["status"] == ["not needed", "Flux2Transformer2DModel already admits AITER and AITER_SAGE"]


def run_flux2(env, rocm):
    import json

    env = clean_env(PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], str(TESTS)]))
    proc = subprocess.run([sys.executable, "-m", "probes", "flux2_aiter", rocm], env=env, capture_output=True, text=True, cwd=TESTS)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("PROBE "):])
