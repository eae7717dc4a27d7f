"""What every sglang patch shares: the host, and how `fluxfix status` imports its targets."""
from fluxfix import Patch
from fluxfix.device_query import warp_size_answered


class SglangPatch(Patch):
    host = "sglang"
    # sglang's Triton modules ask the GPU driver for the warp size at import time: on a machine
    # without a GPU, `fluxfix status` imports the targets with that one question answered
    import_context = staticmethod(warp_size_answered)
