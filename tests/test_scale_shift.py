"""sglang-scale-shift-zero-test on real releases: the Triton scale-shift launcher's host read-back
of scalar scale/shift breaks fullgraph=True unpatched and traces patched; compiled, the patched
launcher matches the host's own torch fallback, keeps the host's zero fast path (a copy of x) and
x's dtype; outside compiled code the host's code runs unchanged (found by `fluxfix doctor` on the
GPU, Wan 2.1; BENCHMARKS.md)."""
import pytest

# release -> the file the launcher lives in
LAUNCHER_FILE = {
    "0.5.8": "sglang/multimodal_gen/runtime/layers/triton_ops.py",
    "0.5.9": "sglang/jit_kernel/diffusion/triton/scale_shift.py",  # the abs().max() form; 0.5.10-0.5.11: any()
    "0.5.10": "sglang/jit_kernel/diffusion/triton/scale_shift.py",
    "0.5.17": "sglang/kernels/ops/diffusion/triton/scale_shift.py",
    "0.5.23": "sglang/kernels/ops/diffusion/modulate/scale_shift_triton.py",
}


@pytest.mark.parametrize("version", sorted(LAUNCHER_FILE))
def test_scale_shift_zero_test_compiles_in_one_graph(probe, version):
    result = probe(version, "scale_shift_zero_test")
    assert "Data-dependent branching" in result["unpatched"], result["unpatched"]
    assert LAUNCHER_FILE[version] + ":" in result["unpatched_site"], result["unpatched_site"]
    verdict, reason = result["status"]
    assert verdict == "applied" and "fuse_scale_shift_kernel" in reason, reason
    # the launcher moved between releases: the other places the patch looks are absent here, and say so
    for module, (module_verdict, why) in result["modules"].items():
        if module == result["module"]:
            assert module_verdict == "applied", why
        else:
            assert module_verdict == "not needed" and why == f"no {module} in this sglang release", why
    assert result["patched"] is None, result["patched"]
    assert result["eager_unpatched"] == result["eager_patched"] == "AssertionError"  # host's CUDA check, unchanged
    assert result["compiled_dtype"] == "torch.bfloat16"
    assert result["compiled_moved"] and result["zero_is_copy"]
    # against the host's own torch fallback of the op; 0.5.8 has none (the later ones compute the same formula)
    assert result.get("compiled_close") is (None if version == "0.5.8" else True)
    assert "Data-dependent branching" in result["reverted"]
