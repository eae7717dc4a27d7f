#!/usr/bin/env python3
"""GPU benchmark: a diffusers transformer with its memory features under torch.compile, with and
without fluxfix, one variant per process (fluxfix on or off from the start: FLUXFIX=1 / 0).

    python benchmarks/bench_diffusers.py --model flux|wan|qwen-image --variant VARIANT --out results.jsonl

Variants: <weights>-<compile>. weights: bf16; fp8 (enable_layerwise_casting, float8_e4m3fn storage,
bf16 compute); go (bf16, enable_group_offload block_level: weights on the CPU, one block at a time
on the GPU); gostream (the same with use_stream=True: the next block prefetched on a side stream);
fbc (bf16 with FirstBlockCache at threshold 0: it never reuses, so what it adds per step is the cost of
its compile-disabled decision, a `.item()` read back every step).
compile: eager; regional (compile_repeated_blocks); whole (model.compile()); remedy (model.compile()
with FLUXFIX_COMPILE=regional). fluxfix is on for fp8/go/gostream and for remedy, off for bf16 and
for any variant ending in -unpatched (fp8-whole-unpatched, go-whole-unpatched, ...). The model is the published architecture
(`fluxfix.architectures`) at full depth, random weights, built on the GPU. Per variant, appended as
one JSON line after each phase (a run cut short keeps what it measured): the first call (compile
included) at the first resolution, ms per forward over steps whose timestep changes every call,
the same at a second resolution (its recompile included), graphs compiled, peak memory, resident
weight bytes, and the relative L2 error of the first output against the same model run eagerly.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

RESOLUTIONS = {"flux": [(1024, 1024), (768, 1344)], "wan": [(480, 832), (832, 480)], "qwen-image": [(1024, 1024), (768, 1344)]}
QWEN_TEXT_TOKENS = 256  # Qwen2.5-VL prompt embeddings: as long as the prompt; a long prompt's length
WAN_FRAMES = 81


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(RESOLUTIONS), default="flux")
    p.add_argument("--variant", required=True)
    p.add_argument("--steps", type=int, default=8, help="timed calls per resolution")
    p.add_argument("--out", default="-")
    return p.parse_args(argv)


def inputs(model: str, resolution, step: int, dtype, device="cuda") -> dict:
    """One denoising step's inputs at a resolution; the timestep moves every step, as a sampler's does."""
    import torch

    gen = torch.Generator(device).manual_seed(step)
    rand = lambda *shape: torch.randn(*shape, generator=gen, device=device, dtype=dtype)  # noqa: E731
    height, width = resolution
    t = torch.tensor([1.0 - step / 50], device=device, dtype=dtype)
    if model == "flux":
        tokens = (height // 16) * (width // 16)
        return dict(hidden_states=rand(1, tokens, 64), encoder_hidden_states=rand(1, 512, 4096), pooled_projections=rand(1, 768),
                    timestep=t, guidance=torch.tensor([3.5], device=device, dtype=dtype),
                    img_ids=torch.zeros(tokens, 3, device=device), txt_ids=torch.zeros(512, 3, device=device), return_dict=False)
    if model == "qwen-image":
        rows, cols = height // 16, width // 16
        return dict(hidden_states=rand(1, rows * cols, 64), encoder_hidden_states=rand(1, QWEN_TEXT_TOKENS, 3584),
                    encoder_hidden_states_mask=None,  # QwenImagePipeline passes None when no prompt is padded
                    timestep=t, img_shapes=[[(1, rows, cols)]], return_dict=False)
    frames = (WAN_FRAMES - 1) // 4 + 1
    return dict(hidden_states=rand(1, 16, frames, height // 8, width // 8), timestep=(t * 1000).to(torch.long),
                encoder_hidden_states=rand(1, 512, 4096), return_dict=False)


def build(model: str, dtype):
    import diffusers
    import torch

    from fluxfix.architectures import ARCHITECTURES, depth_values

    arch = ARCHITECTURES[model]
    cls = {"flux": diffusers.FluxTransformer2DModel, "wan": diffusers.WanTransformer3DModel,
           "qwen-image": diffusers.QwenImageTransformer2DModel}[model]
    torch.manual_seed(0)
    with torch.device("cuda"):
        net = cls(**arch.config, **depth_values(arch, None))
    return net.to(dtype).eval()


def main(argv=None) -> int:
    args = parse_args(argv)
    variant = args.variant
    remedy = "remedy" in variant
    os.environ["FLUXFIX"] = "0" if ("unpatched" in variant or (variant.startswith("bf16") and not remedy)) else "1"
    if remedy:
        os.environ["FLUXFIX_COMPILE"] = "regional"
    import fluxfix  # noqa: F401  (activates when FLUXFIX=1: before diffusers is imported, as users do)
    import torch
    from torch._dynamo.utils import counters

    dtype = torch.bfloat16
    res = {"model": args.model, "variant": variant, "torch": torch.__version__, "device": torch.cuda.get_device_name(),
           "fluxfix": os.environ["FLUXFIX"] == "1"}
    out = sys.stdout if args.out == "-" else open(args.out, "a")

    def emit(phase):
        res["phase"] = phase
        out.write(json.dumps(res) + "\n")
        out.flush()
        print(f"[bench {args.model} {variant} +{time.time() - T0:.0f}s] {phase}", file=sys.stderr, flush=True)

    import diffusers

    res["diffusers"] = diffusers.__version__
    net = build(args.model, dtype)
    if variant.startswith("fp8"):
        net.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if variant.startswith("go"):
        net.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"), offload_type="block_level",
                                 num_blocks_per_group=1, use_stream=variant.startswith("gostream"))
    cached = variant.startswith("fbc")
    if cached:
        from diffusers import FirstBlockCacheConfig

        net.enable_cache(FirstBlockCacheConfig(threshold=0.0))
    reset = net._reset_stateful_cache if cached else (lambda: None)  # a new resolution: the cached residuals start over
    res["weight_gib"] = sum(p.numel() * p.element_size() for p in net.parameters()) / 2**30
    res["gpu_weight_gib"] = sum(p.numel() * p.element_size() for p in net.parameters() if p.is_cuda) / 2**30
    first, second = RESOLUTIONS[args.model]

    def run(**x):  # one denoiser call, in a cache context as diffusers' pipelines make one per call
        with net.cache_context("cond") if cached else contextlib.nullcontext():
            return net(**x)

    with torch.no_grad():
        reference = run(**inputs(args.model, first, 0, dtype))[0].float()
        reset()
        torch.cuda.synchronize()
        if "regional" in variant:
            net.compile_repeated_blocks()
        elif "whole" in variant or remedy:
            net.compile()  # in place, as users and sglang call it (the remedy turns it into per-block compiles)
        counters.clear()
        torch.cuda.reset_peak_memory_stats()
        import logging

        hits = logging.Handler()  # dynamo's "hit config.recompile_limit" warnings: the frame runs eagerly from then on
        hits.emit = lambda r: res.__setitem__("limit_hits", res.get("limit_hits", 0) + ("recompile_limit" in r.getMessage()))
        logging.getLogger("torch._dynamo").addHandler(hits)
        emit("built")
        for label, resolution in (("res1", first), ("res2", second)):
            reset()
            start = time.perf_counter()
            run(**inputs(args.model, resolution, 1, dtype))
            torch.cuda.synchronize()
            res[f"{label}_first_call_s"] = time.perf_counter() - start
            if label == "res1":
                reset()
                again = run(**inputs(args.model, first, 0, dtype))[0].float()
                res["rel_l2_vs_eager"] = ((again - reference).norm() / reference.norm()).item()
            times = []
            for step in range(2, 2 + args.steps):
                x = inputs(args.model, resolution, step, dtype)
                torch.cuda.synchronize()
                start = time.perf_counter()
                run(**x)
                torch.cuda.synchronize()
                times.append((time.perf_counter() - start) * 1000)
            res[f"{label}_ms"] = statistics.median(times)
            res[f"{label}_graphs"] = counters["stats"]["unique_graphs"]
            res[f"{label}_breaks"] = sum(counters["graph_break"].values())
            res["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            emit(label)
    return 0


T0 = time.time()

if __name__ == "__main__":
    sys.exit(main())
