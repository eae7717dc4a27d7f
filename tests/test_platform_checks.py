"""sglang-platform-checks on the real linear path (0.5.10) and real platform calls (0.5.23)."""
LAMBDA_BREAK = "can't handle functions not implemented in python"


def test_linear_layer_compiles_in_one_graph_on_0_5_10(probe):  # import orders, revert: test_contract.py
    result = probe("0.5.10", "platform", "after")
    # the defect, shown on the host's own code before fluxfix is active
    assert LAMBDA_BREAK in result["unpatched"]["linear_error"]
    assert "is_amp_supported" in result["unpatched"]["linear_error"]
    assert result["patched"] == {"linear_error": None, "amp_error": None}
    assert result["status"]["sglang-platform-checks"] == "applied"
    assert result["eager_identical"] is True  # bitwise, patched vs reverted
    assert result["compiled_close"] is True  # inductor's compiled linear vs eager


def test_platform_check_call_compiles_on_0_5_23(probe):
    result = probe("0.5.23", "platform", "after")
    # upstream fixed the linear call site, not the check itself; torch 2.15 fails it differently
    # (InternalTorchDynamoError), still at the check
    assert result["unpatched"]["linear_error"] is None
    assert LAMBDA_BREAK in result["unpatched"]["amp_error"] or "InternalTorchDynamoError" in result["unpatched"]["amp_error"]
    assert result["patched"] == {"linear_error": None, "amp_error": None}
    assert result["eager_identical"] is True
    assert result["reverted"]["amp_error"] is not None


def test_platform_check_alone_on_0_5_23(probe):
    # on every torch the suite runs (torch 2.15 too, where sglang's linear layer cannot import without
    # torchvision and dynamo fails this call with InternalTorchDynamoError instead)
    result = probe("0.5.23", "platform_check")
    assert result["unpatched"] is not None and ("is_amp_supported" in result["unpatched"] or "InternalTorchDynamoError" in result["unpatched"])
    assert result["patched"] is None and result["eager_patched"] == result["eager"]
    assert result["reverted"] is not None
