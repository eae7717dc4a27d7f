"""sglang-group-norm-silu-op on real releases: the VAE decoder's Triton GroupNorm+SiLU launcher
(sglang's CUDA fast path) traced by dynamo unpatched, behind a custom op patched.

The kernels need a GPU: here the host's public `group_norm_silu_4d` is compiled on fake CUDA tensors
at three image sizes, as sglang compiles (dynamic=None). Unpatched, dynamo traces into the launcher
(on a GPU every graph through it is then guarded on the row count: BENCHMARKS.md has the server log;
without one the trace fails inside it). Patched, the op keeps it out: two graphs (the second dynamic)
serve all three sizes, and the op's fake output has the layout the host's launcher returns."""
import pytest


@pytest.mark.parametrize("version", ["0.5.17", "0.5.23"])
def test_group_norm_silu_launcher_compiles_once_for_every_size(probe, version):
    result = probe(version, "group_norm_silu_op")
    assert result["unpatched"].startswith("dynamo traces into _gn_silu_rows"), result["unpatched"]
    verdict, reason = result["status"]
    assert verdict == "applied"
    assert f"{result['module']}._gn_silu_rows -> fluxfix::sglang_group_norm_silu_rows" in reason
    assert result["patched"] is None
    assert result["graphs"] == 2  # the first size static, the second dynamic, the third reuses it
    assert result["graph_targets"] == ["fluxfix.sglang_group_norm_silu_rows.default"]
    assert result["host_launches"] == 9  # three kernels a call: the host's launcher ran (launches skipped)
    assert result["op_layouts"] == result["host_layouts"]  # channels_last, the host's shape, stride and dtype
    assert result["eager_launches"] == 3  # outside compiled code the host's launcher runs itself, not the op
    assert result["reverted"] is True
