"""Every patch's verdict on every covered host release, with the host's targets imported, against
what the patch declares (`Patch.expected`: the README's support matrix comes from the same
declarations, and the README must hold the current tables)."""
from pathlib import Path

import pytest
from packaging.version import Version

from fluxfix import matrix, registry

FOUND = registry.load()
README = Path(__file__).resolve().parent.parent / "README.md"


def sglang_patches():
    return {n: p for n, p in FOUND.patches.items() if p.host == "sglang"}


def test_every_patch_declares_a_verdict_for_every_release_of_its_host():
    for name, patch in FOUND.patches.items():
        host = FOUND.hosts[patch.host]
        missing = [r for r in host.releases if patch.expected_verdict(r) is None]
        assert not missing, f"{name} declares no expected verdict for {patch.host} {', '.join(missing)}"


def test_readme_matrix_is_current():
    text = README.read_text()
    made = {h: matrix.table(FOUND.hosts[h], FOUND.patches.values()) for h in FOUND.hosts}
    made["sglang-rocm"] = matrix.table(FOUND.hosts["sglang"], FOUND.patches.values(), rocm=True)
    assert matrix.refreshed(text, made) == text, \
        "README's support matrix is stale: run `python -m fluxfix.matrix --write README.md`"


def test_every_patch_is_registered_under_its_own_name():
    from importlib.metadata import entry_points

    by_module = {ep.value: ep.name for ep in entry_points(group=registry.ENTRY_POINT_GROUP) if ep.value.startswith("patches.")}
    for name, patch in FOUND.patches.items():
        assert by_module.get(type(patch).__module__) == name, f"{name}: entry point, module and name must agree"


@pytest.mark.parametrize("version", FOUND.hosts["sglang"].releases)
def test_sglang_verdicts(probe, version):
    result = probe(version, "verdicts")
    got = {name: result[name]["verdict"] for name in sglang_patches()}
    declared = {name: patch.expected_verdict(version).split(" (")[0] for name, patch in sglang_patches().items()}
    assert got == declared, {n: result[n]["reason"] for n in got}
    assert all(result[n]["version"] == version for n in got)
    assert all(result[n]["reason"] for n in got)  # a verdict always says why
    if Version(version) < Version("0.5.10"):  # its in-function FlashInfer import decided first
        assert "flashinfer.rope import fails here" in result["sglang-rope-flashinfer-import"]["reason"]
    elif Version(version) >= Version("0.5.11"):
        assert "fixed upstream" in result["sglang-rope-warning"]["reason"]
        assert "fuse_scale_shift_kernel does not use any here" in result["sglang-scale-shift-zero-test"]["reason"]
    # which JIT kernels are opaque: 0.5.8 takes the timestep embedding from sgl_kernel (a torch
    # op), 0.5.23 wraps the in-place QK-norm as a torch op itself
    kernels, v = result["sglang-jit-kernel-ops"]["reason"], Version(version)
    assert ("-> fluxfix::sglang_timestep_embedding" in kernels) == (v >= Version("0.5.9")), kernels
    assert ("-> fluxfix::sglang_fused_inplace_qknorm" in kernels) == (v < Version("0.5.23")), kernels


def check_rocm_verdicts(version, result):
    """Every sglang patch's verdict on a simulated ROCm machine (patches.sglang.simulated_rocm: torch
    reports HIP, amdsmi one AMD GPU, aiter a stand-in whose attention is torch reference ops)
    against `expected_rocm`; 0.5.17 and 0.5.21 are checked by test_rocm.py's processes."""
    got = {name: result[name]["verdict"] for name in sglang_patches()}
    declared = {name: patch.expected_verdict(version, rocm=True).split(" (")[0] for name, patch in sglang_patches().items()}
    assert got == declared, {n: result[n]["reason"] for n in got}
    aiter = result["sglang-aiter-attention"]["reason"]
    assert ("-> fluxfix::aiter_flash_attn" in aiter) == (version in ("0.5.17", "0.5.21")), aiter


@pytest.mark.parametrize("version", ["0.5.8", "0.5.23"])  # no AITER disable; 0.5.17 and 0.5.21: test_rocm.py
def test_sglang_verdicts_on_rocm(probe, version):
    check_rocm_verdicts(version, probe(version, "verdicts_on_rocm"))
