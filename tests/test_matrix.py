"""Every patch's verdict on every covered sglang release, with the host's targets imported."""
import pytest
from conftest import SGLANG_ALL

ROPE_FIXED_FROM = "0.5.11"  # sglang #23648


def expected(version: str) -> dict:
    from packaging.version import Version

    rope_fixed = Version(version) >= Version(ROPE_FIXED_FROM)
    return {
        "sglang-platform-checks": "applied",  # the classmethod+lru_cache checks exist in every release
        "sglang-rope-warning": "not needed" if rope_fixed else "applied",
        "sglang-norm-fallback-warnings": "applied",  # no upstream fix
        "sglang-flux2-aiter": "not needed",  # this machine is not ROCm
    }


@pytest.mark.parametrize("version", SGLANG_ALL)
def test_verdicts(probe, version):
    result = probe(version, "verdicts")
    got = {name: r["verdict"] for name, r in result.items()}
    assert got == expected(version), {n: r["reason"] for n, r in result.items()}
    assert all(r["version"] == version for r in result.values())
    assert all(r["reason"] for r in result.values())  # a verdict always says why
    if expected(version)["sglang-rope-warning"] == "not needed":
        assert "fixed upstream" in result["sglang-rope-warning"]["reason"]
