"""Every patch's verdict on every covered sglang release, with the host's targets imported."""
import pytest
from conftest import SGLANG_ALL
from packaging.version import Version

ROPE_FIXED_FROM = "0.5.11"  # sglang #23648
ROPE_IMPORT_INSIDE = ("0.5.8", "0.5.9")  # the failed FlashInfer import breaks before the warning
DATA_POINTERS_FROM = "0.5.17"
CPU_FALLBACK_FROM = "0.5.11"


def expected(version: str) -> dict:
    rope_fixed = Version(version) >= Version(ROPE_FIXED_FROM) or version in ROPE_IMPORT_INSIDE
    return {
        "sglang-platform-checks": "applied",  # the classmethod+lru_cache checks exist in every release
        "sglang-rope-warning": "not needed" if rope_fixed else "applied",
        "sglang-norm-fallback-warnings": "applied",  # no upstream fix
        "sglang-flux2-aiter": "not needed",  # this machine is not ROCm
        "sglang-jit-kernel-ops": "applied",  # the in-place QK-norm up to 0.5.21, the timestep embedding from 0.5.9
        # FP32LayerNorm's data-pointer-keyed weight cache from 0.5.17, FLUX.2's SwiGLU `out` test in 0.5.23
        "sglang-data-pointer-tests": "applied" if Version(version) >= Version(DATA_POINTERS_FROM) else "not needed",
        # the Triton launcher's host read-back of scalars is in every release; from 0.5.11 a machine without a
        # GPU (this one) binds the launcher's name to sglang's torch fallback, which has no such test
        "sglang-scale-shift-zero-test": "not needed" if Version(version) >= Version(CPU_FALLBACK_FROM) else "applied",
    }


@pytest.mark.parametrize("version", SGLANG_ALL)
def test_verdicts(probe, version):
    result = probe(version, "verdicts")
    got = {name: r["verdict"] for name, r in result.items()}
    assert got == expected(version), {n: r["reason"] for n, r in result.items()}
    assert all(r["version"] == version for r in result.values())
    assert all(r["reason"] for r in result.values())  # a verdict always says why
    if version in ROPE_IMPORT_INSIDE:
        assert "flashinfer.rope inside the function" in result["sglang-rope-warning"]["reason"]
    elif expected(version)["sglang-rope-warning"] == "not needed":
        assert "fixed upstream" in result["sglang-rope-warning"]["reason"]
    # which JIT kernels are opaque: 0.5.8 takes the timestep embedding from sgl_kernel (a torch
    # op), 0.5.23 wraps the in-place QK-norm as a torch op itself
    kernels, v = result["sglang-jit-kernel-ops"]["reason"], Version(version)
    assert ("-> fluxfix::sglang_timestep_embedding" in kernels) == (v >= Version("0.5.9")), kernels
    assert ("-> fluxfix::sglang_fused_inplace_qknorm" in kernels) == (v < Version("0.5.23")), kernels
    if v >= Version(CPU_FALLBACK_FROM):
        assert "fuse_scale_shift_kernel does not use any here" in result["sglang-scale-shift-zero-test"]["reason"]

