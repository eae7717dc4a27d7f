"""Entry points that hosts with a plugin system call to load fluxfix in their own processes."""


def sglang() -> None:
    """sglang >= 0.5.21 calls this from `sglang.multimodal_gen.plugins` in every worker
    (subject to SGLANG_PLUGINS); importing fluxfix activates it."""
    import fluxfix

    fluxfix.activate()
