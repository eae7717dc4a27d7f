#!/usr/bin/env python3
"""FLUX.1's VAE decoder compiled whole against per repeated block (sglang-regional-vae-decode), on CPU.

sglang 0.5.17+ compile the VAE decode whole under `--enable-torch-compile` (`DecodingStage._get_vae_decode_fn`); on an
H100 its recompile at a new resolution took 55 s of a 66.7 s request (BENCHMARKS.md). FLUXFIX_COMPILE=regional
compiles the decoder's repeated blocks instead (its ResnetBlock2Ds, fluxfix.regional.repeated_leaves). Measured
here on diffusers' AutoencoderKL at FLUX.1-dev's published config (tests/model_folder.py), random weights, float32,
inductor, one process per variant, latents at three sizes in the order A, A, B, A, C. Prints one JSON line per decode: seconds (compile included) and the graphs compiled meanwhile.

    python benchmarks/bench_vae_regional.py --variant whole|regional|eager [--side 16]   # diffusers on PYTHONPATH
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("whole", "regional", "eager"), required=True)
    parser.add_argument("--side", type=int, default=16, help="latent side of size A (16: a 128x128 image)")
    args = parser.parse_args(argv)

    import torch
    from diffusers import AutoencoderKL
    from torch._inductor.compile_fx import compile_fx

    import model_folder
    from fluxfix.regional import repeated_leaves

    torch.manual_seed(0)
    vae = AutoencoderKL.from_config(model_folder.FLUX_DEV["vae"]).eval()  # as tests/model_folder.py builds it
    graphs = 0

    def inductor(gm, inputs):  # inductor, counting the graphs it is handed
        nonlocal graphs
        graphs += 1
        return compile_fx(gm, inputs)

    if args.variant == "whole":
        vae.decoder.compile(backend=inductor)
    elif args.variant == "regional":  # what sglang-regional-vae-decode compiles: the decoder's ResnetBlock2Ds
        for module in repeated_leaves(vae.decoder):
            module.compile(backend=inductor)
    a = args.side
    with torch.no_grad():
        for h, w in [(a, a), (a, a), (a * 3 // 4, a * 5 // 4), (a, a), (a * 5 // 4, a * 3 // 4)]:
            before, start = graphs, time.perf_counter()
            vae.decode(torch.randn(1, 16, h, w))
            print(json.dumps({"variant": args.variant, "torch": torch.__version__, "latent": [h, w],
                              "s": round(time.perf_counter() - start, 2), "new_graphs": graphs - before}), flush=True)


if __name__ == "__main__":
    main()
