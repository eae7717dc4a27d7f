"""diffusers-wan-contiguous-tokens and sglang-wan-contiguous-tokens on real releases that still hand
Wan's first block the patch embedding's transposed view: compiled alone, the block gets contiguous
tokens (one graph per size, not one per layout); eagerly and compiled whole, nothing changes."""
from conftest import run_probe


def test_diffusers_wan_blocks_compiled_alone_take_one_layout():
    r = run_probe("0.37.0", "wan_contiguous_tokens", host="diffusers")
    assert "transposed view" in r["defect"], r["defect"]
    assert r["defect_patched"] is None and r["status"] == "applied"
    regional, patched = r["unpatched regional"], r["patched regional"]
    assert patched["graphs"] < regional["graphs"], r  # the first block's layout no longer compiles a graph of its own
    assert patched["breaks"] == regional["breaks"] == 0
    assert r["patched whole"] == r["unpatched whole"], r  # a whole-model compile traces the same code
    assert max(v["error"] for k, v in r.items() if isinstance(v, dict)) < 1e-5, r
    assert r["eager_identical"] is True and r["reverted"] is True


def test_sglang_wan_first_block_compiled_alone_gets_contiguous_tokens():
    r = run_probe("0.5.10", "sglang_wan_contiguous_tokens")
    assert "transposed view" in r["unpatched"] and "(1024, 1, 32)" in r["unpatched"], r["unpatched"]
    assert r["status"][0] == "applied" and "WanTransformer3DModel.forward" in r["status"][1]
    assert r["patched"] is None
    assert r["patched_eager"] == r["unpatched_eager"] == [1024, 1, 32]  # eager code hands over the host's own view
    assert r["reverted"] is True
