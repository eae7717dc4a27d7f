"""Host modules that ask the GPU driver a question while being imported (sglang's Triton kernels
size their autotune configs by the warp size) fail to import on a machine without a GPU. For
`fluxfix status` and `fluxfix doctor` only, that one question is answered while importing."""
from __future__ import annotations

import contextlib
import types


@contextlib.contextmanager
def warp_size_answered():
    """Answer the CUDA warp-size query (32) during an import, where no GPU is present; yields
    whether it stood in. Nothing else is stood in and no kernel runs."""
    import torch

    if torch.cuda.is_available():
        yield False
        return
    saved = torch.cuda.current_device, torch.cuda.get_device_properties, torch.get_device_module
    torch.cuda.current_device = lambda: 0
    torch.cuda.get_device_properties = lambda device=None: types.SimpleNamespace(warp_size=32)
    torch.get_device_module = lambda device=None: torch.cuda  # torch 2.9 answers torch.cpu here
    try:
        yield True
    finally:
        torch.cuda.current_device, torch.cuda.get_device_properties, torch.get_device_module = saved
