"""sglang on AMD's path, on a simulated ROCm machine (patches.sglang.simulated_rocm: torch reports
HIP, amdsmi one AMD GPU, `aiter` a stand-in whose attention is computed by torch reference ops,
sgl_kernel an import-only stand-in): the host's own code in the state it takes on ROCm. Every
release's ROCm verdicts: test_matrix.py; the patches' contract: test_contract.py."""
import pytest
from test_matrix import check_rocm_verdicts

ATTENTION_BREAK = "layers/attention/layer.py"  # where FLUX's attention layer calls attn_impl.forward


@pytest.mark.parametrize("version", ["0.5.17", "0.5.21"])  # forward returns (out, lse) / out
def test_aiter_attention_compiles_inside_flux(probe, version):
    result = probe(version, "rocm_flux_aiter")
    assert "simulated" in result["simulated"]
    assert result["impls"] == ["AITerImpl"]  # sglang's ROCm platform chose AITER for every attention layer
    unpatched = result["unpatched"]
    assert unpatched["breaks"] >= 2 and any(ATTENTION_BREAK in site for site in unpatched["sites"]), unpatched
    assert result["status"]["sglang-aiter-attention"] == "applied"
    assert result["patched"]["graphs"] == 1 and result["patched"]["breaks"] == 0, result["patched"]
    assert result["eager_identical"] is True
    assert result["compiled_max_err"] < 1e-4
    assert result["opcheck"] == ("aiter_flash_attn_lse" if version == "0.5.17" else "aiter_flash_attn")
    assert result["reverted_disabled"] is True  # the host's compile-disabled forward is back
    check_rocm_verdicts(version, result["verdicts"])  # every patch's ROCm verdict on this release


def test_cuda_only_guards_answer_for_rocm_while_compiling(probe):
    result = probe("0.5.21", "rocm_guards")
    assert result["status"]["sglang-rocm-cuda-guards"] == "applied"
    for name in ("modulate", "residual_gate"):
        case = result[name]
        # unpatched, ROCm is sent to the CUDA kernel: tracing it fails, or it lands in the graph
        kernel = [op for op in case["unpatched"]["ops"] if name.split("_")[0] in op and "aten" not in op]
        assert case["unpatched"]["error"] or kernel, case["unpatched"]
        # patched, the host's torch fallback, in one graph of aten ops only
        assert case["patched"]["error"] is None and case["patched"]["ops"], case["patched"]
        assert all("aten" in op or op.startswith("<built-in") for op in case["patched"]["ops"]), case["patched"]["ops"]
        assert case["eager_guard"] is True and case["eager_guard_patched"] is True  # eager: the host's own answer


def test_simulate_names_a_machine_the_host_declares(tmp_path):
    import subprocess
    import sys

    from conftest import clean_env
    from hostenv import host_env

    env = clean_env(PYTHONPATH=host_env("sglang", "0.5.21")["PYTHONPATH"])
    run = lambda *args: subprocess.run([sys.executable, "-W", "ignore", "-m", "fluxfix", *args], env=env,  # noqa: E731
                                       capture_output=True, text=True, cwd=tmp_path, timeout=300)
    proc = run("doctor", "--host", "sglang", "--simulate", "cuda-on-mars")
    assert proc.returncode == 2 and "unknown simulation 'cuda-on-mars' for sglang; choose from: rocm" in proc.stderr, proc.stderr
    proc = run("status", "--simulate", "rocm", "--no-import")
    assert proc.returncode == 0 and "note: ROCm simulated on this machine" in proc.stderr, proc.stderr
