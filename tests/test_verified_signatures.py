"""sglang-verified-signatures on real releases: the bit-exact fusion gates' signature lookups
(`sig in <verified set>`) guard a compiled graph on its tensors' exact shape unpatched; patched,
an empty set is asked first and no shape is read. FLUX.1's LayerNorm+modulate site, sglang's own
code, compiled at three token counts on fake CUDA tensors (its fast path needs a GPU platform)."""
import pytest


@pytest.mark.parametrize("version", ["0.5.21", "0.5.23"])
def test_signature_lookups_leave_the_token_count_dynamic(probe, version):
    result = probe(version, "verified_signatures")
    assert result["sigs_empty"] is True  # nothing verified eagerly: the lookup answers False at every size
    assert result["unpatched_frames"] == 3  # each token count compiled again (the guard on the exact shape)
    verdict, modules = result["status"]
    assert verdict == "applied"
    assert "_flux_fused_ln_modulate" in modules["sglang.multimodal_gen.runtime.models.dits.flux"]
    assert "BitExactFusionGate.is_verified" in modules["sglang.kernels.ops.diffusion.sites.bitexact_gate"]
    assert result["patched_frames"] == 2  # the first size static, the second dynamic, the third reuses it
    assert result["gate_answers"] == [False, True, False]  # the host's answers, eagerly, before and after a verify
    assert result["reverted"] is True
