"""sglang-jit-kernel-ops on real releases: the tvm-ffi timestep-embedding and in-place QK-norm
kernels break the graph unpatched and compile with fullgraph=True patched.

The kernels need a GPU: here they run on meta tensors, which covers tracing, the op's schema
(what it writes in place), its fake implementation against the shapes and dtypes the host's own
code allocates, and functionalization of q and k passed as views. The kernels' numerics under the
op are checked on the GPU (BENCHMARKS.md)."""
import pytest
from packaging.version import Version

# (release, whether its layernorm calls the in-place QK-norm as a plain function)
RELEASES = [("0.5.10", True), ("0.5.17", True), ("0.5.23", False)]
RMSNORM_HF_FROM = "0.5.23"


@pytest.mark.parametrize("version,qknorm_plain", RELEASES)
def test_jit_kernels_compile_in_one_graph(probe, version, qknorm_plain):
    result = probe(version, "jit_kernels")
    cases = ["timestep", "qknorm"] if qknorm_plain else ["timestep"]
    if Version(version) >= Version(RMSNORM_HF_FROM):
        cases.append("rmsnorm")
        assert result["rmsnorm_fake"] == result["rmsnorm_host"] == [[6, 256], "torch.bfloat16"]
        assert result["rmsnorm_out_bypasses_op"] is True  # with a caller's `out`, the host's own code runs (as before)
    assert sorted(result["unpatched"]) == sorted(cases)
    for case in cases:
        assert result["unpatched"][case]["error"] is not None  # the defect, on the host's own code
        assert result["unpatched"][case]["in_kernel_module"] is True
        assert result["patched"][case]["error"] is None, result["patched"][case]
    assert result["fake_shapes"] == result["host_shapes"]
    verdict, reason = result["status"]["sglang-jit-kernel-ops"]
    assert verdict == "applied"
    assert "timestep_embedding -> fluxfix::sglang_timestep_embedding" in reason
    if qknorm_plain:
        assert result["qknorm_writes"] == ["q", "k"]
        assert result["qknorm_functionalized"] is True
    else:  # 0.5.23 wraps it as a torch op itself: the patch leaves that call alone
        assert result["qknorm_is_op"] is True
        assert "fused_inplace_qknorm" not in reason
        assert "rmsnorm_hf -> fluxfix::sglang_rmsnorm_hf" in reason
    assert result["reverted_code"] is True and result["reverted_breaks"] is True
