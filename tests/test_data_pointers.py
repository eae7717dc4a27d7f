"""sglang-data-pointer-tests on real releases: the host helpers that compare data pointers break
the graph unpatched and compile with fullgraph=True patched, with the same eager output and a
compiled output within bf16 tolerance (found by `fluxfix doctor` on the GPU; BENCHMARKS.md)."""
import pytest

# release -> the helpers that compare data pointers there
HELPER_FILE = {"swiglu": "sglang/multimodal_gen/runtime/models/dits/flux_2.py",
               "fp32_layernorm": "sglang/multimodal_gen/runtime/layers/layernorm.py"}
RELEASES = {"0.5.10": [], "0.5.17": ["fp32_layernorm"], "0.5.23": ["fp32_layernorm", "swiglu"]}


@pytest.mark.parametrize("version", sorted(RELEASES))
def test_data_pointer_helpers_compile_in_one_graph(probe, version):
    result = probe(version, "data_pointer_tests")
    cases = RELEASES[version]
    assert result["cases"] == cases
    verdict, reason = result["status"]
    if not cases:
        assert verdict == "not needed" and "no FP32LayerNorm._cached_fp32_param" in reason and "no _flux2_swiglu" in reason
        return
    assert verdict == "applied"
    for case in cases:
        unpatched = result["unpatched"][case]  # the defect, in the host's own helper
        assert "data pointer" in unpatched["error"].lower() or "dataptr" in unpatched["error"].lower(), unpatched
        # torch 2.11 stops one frame further in, in dynamo's polyfill of the key comparison the helper makes
        assert HELPER_FILE[case] + ":" in unpatched["site"] or "torch/_dynamo/polyfills" in unpatched["site"], unpatched
        patched = result["patched"][case]
        assert patched["error"] is None, patched
        assert patched["eager_identical"] is True and patched["compiled_close"] is True
        assert patched["compiled_changed_buffer"] is True
        assert result["reverted"][case] is True
    assert ("_flux2_swiglu" in reason) == ("swiglu" in cases)
    assert "FP32LayerNorm._cached_fp32_param" in reason
