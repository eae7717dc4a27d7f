"""sglang's diffusion runtime (`sglang.multimodal_gen`) as a fluxfix host: the releases covered,
how its modules are imported on a machine without a GPU, doctor's models, and the hook sglang's
own plugin system calls in its worker processes."""
from __future__ import annotations

import contextlib
import types

from fluxfix import Host, Patch, hookimpl

RELEASES = ("0.5.8", "0.5.9", "0.5.10", "0.5.10.post1", "0.5.11", "0.5.17", "0.5.21", "0.5.23")


@contextlib.contextmanager
def warp_size_answered():
    """sglang's Triton modules size their autotune configs by the CUDA warp size, asked at import
    time: on a machine without a GPU that import fails. Answer that one question (32) during an
    import; yields whether it stood in. Nothing else is stood in and no kernel runs. Under a
    simulated ROCm machine (patches.sglang.simulated_rocm) every import-time device query is
    answered as that machine's GPU would answer it."""
    import torch

    from patches.sglang import simulated_rocm

    if simulated_rocm.active():
        answers = simulated_rocm.device_answers(torch)
    elif torch.cuda.is_available():
        yield False
        return
    else:
        answers = {"current_device": lambda: 0,
                   "get_device_properties": lambda device=None: types.SimpleNamespace(warp_size=32)}
    saved = {name: getattr(torch.cuda, name) for name in answers}, torch.get_device_module
    vars(torch.cuda).update(answers)
    torch.get_device_module = lambda device=None: torch.cuda  # torch 2.9 answers torch.cpu here
    try:
        yield True
    finally:
        vars(torch.cuda).update(saved[0])
        torch.get_device_module = saved[1]


def on_rocm() -> bool:
    """torch is a ROCm (HIP) build here, real or simulated."""
    import torch

    return getattr(torch.version, "hip", None) is not None


class SglangPatch(Patch):
    host = "sglang"
    contract_release = "0.5.10"
    import_context = staticmethod(warp_size_answered)


HOST = Host("sglang", RELEASES, doctor="patches.sglang.doctor", import_context=warp_size_answered,
            simulations={"rocm": "patches.sglang.simulated_rocm:enter"})


@hookimpl
def fluxfix_hosts():
    return [HOST]


def sglang_plugin() -> None:
    """sglang >= 0.5.21 calls this from `sglang.multimodal_gen.plugins` in every worker (subject
    to SGLANG_PLUGINS); importing fluxfix activates it."""
    import fluxfix

    fluxfix.activate()
