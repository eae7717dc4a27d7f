#!/usr/bin/env python3
"""GPU benchmark: a diffusers transformer with its memory features under torch.compile, with and
without fluxfix, one variant per process (fluxfix on or off from the start: FLUXFIX=1 / 0).

    python benchmarks/bench_diffusers.py --model flux|wan|qwen-image --variant VARIANT --out results.jsonl

Variants: <weights>-<compile>. weights: bf16; fp8 (enable_layerwise_casting, float8_e4m3fn storage,
bf16 compute); go (bf16, enable_group_offload block_level: weights on the CPU, one block at a time
on the GPU); gostream (the same with use_stream=True: the next block prefetched on a side stream); goleaf,
goleafstream (leaf_level: a group per layer, without and with the stream);
fbc (bf16 with FirstBlockCache at threshold 0: it never reuses, so what it adds per step is the cost of
its compile-disabled decision, a `.item()` read back every step); ts (bf16 with TaylorSeer at its defaults)
and mag (bf16 with MagCache, diffusers' FLUX ratios): both skip steps on a schedule, so their ms is the mean per step
of a whole --image-steps image from a reset cache, and their first call is a whole image; so is sea (bf16 with SeaCache
at its defaults, 0.42+, Wan only), whose cache context carries the step as WanPipeline's does.
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
    p.add_argument("--profile", metavar="TRACE", help="after the timed steps, profile one more call: the H2D copy engine's busy and "
                   "idle time, kernel time, host syncs (into the results); the Chrome trace, gzipped, to TRACE")
    p.add_argument("--image-steps", type=int, default=28, help="steps per image for the caches timed per image (ts, mag, sea)")
    return p.parse_args(argv)


def cache_config(kind: str, steps: int):
    """diffusers' cache config for a variant's weights prefix, None for no cache. fbc at threshold 0 never reuses a step
    (what it adds is its decision's cost); ts (TaylorSeer) and mag (MagCache with diffusers' FLUX ratios) at their
    defaults skip steps on a schedule, so those are timed per whole image."""
    if kind == "fbc":
        from diffusers import FirstBlockCacheConfig

        return FirstBlockCacheConfig(threshold=0.0)
    if kind == "ts":
        from diffusers import TaylorSeerCacheConfig

        return TaylorSeerCacheConfig()
    if kind == "mag":
        from diffusers import MagCacheConfig
        from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

        return MagCacheConfig(mag_ratios=FLUX_MAG_RATIOS, num_inference_steps=steps)
    if kind == "sea":
        from diffusers import SeaCacheConfig

        return SeaCacheConfig()
    return None


def union_ms(intervals) -> float:
    """Milliseconds covered by the (start, end) microsecond intervals, overlaps counted once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total / 1000


def profile(call, trace) -> dict:
    """One `call()` under torch.profiler: where its wall time goes on the GPU's copy engine and compute units, and on the host."""
    import gzip
    import shutil

    import torch
    from torch.profiler import ProfilerActivity

    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        call()
        torch.cuda.synchronize()
        wall = (time.perf_counter() - start) * 1000
    events = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    copies = sorted((e.time_range.start, e.time_range.end) for e in events if "HtoD" in e.name)
    kernels = [(e.time_range.start, e.time_range.end) for e in events if "Memcpy" not in e.name and "Memset" not in e.name]
    gaps = sorted((b[0] - a[1]) / 1000 for a, b in zip(copies, copies[1:]) if b[0] > a[1])
    host = {e.key: e.cpu_time_total / 1000 for e in prof.key_averages() if e.key in ("cudaStreamSynchronize", "cudaMemcpyAsync", "cudaLaunchKernel")}
    if trace:
        prof.export_chrome_trace(trace + ".json")
        with open(trace + ".json", "rb") as src, gzip.open(trace, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.remove(trace + ".json")
    return {"wall_ms": wall, "h2d_busy_ms": union_ms(copies), "h2d_copies": len(copies),
            "h2d_span_ms": (copies[-1][1] - copies[0][0]) / 1000 if copies else 0, "kernel_busy_ms": union_ms(kernels),
            "h2d_gaps_ms": sum(gaps), "h2d_gaps_over_0.1ms": sum(g > 0.1 for g in gaps), "h2d_largest_gaps_ms": gaps[-5:],
            "host_ms": host}


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
    weights = variant.split("-")[0]  # the prefix: what is done to the weights (storage, offloading, cache)
    if weights.startswith("go"):
        leaf = "leaf" in weights
        net.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                 offload_type="leaf_level" if leaf else "block_level", num_blocks_per_group=None if leaf else 1,
                                 use_stream="stream" in weights)
    cache = cache_config(weights, args.image_steps)
    cached = cache is not None
    if cached:
        net.enable_cache(cache)
    images = weights in ("ts", "mag", "sea")  # caches that skip steps on a schedule: timed per whole image
    reset = net._reset_stateful_cache if cached else (lambda: None)  # a new resolution: the cached residuals start over
    res["weight_gib"] = sum(p.numel() * p.element_size() for p in net.parameters()) / 2**30
    res["gpu_weight_gib"] = sum(p.numel() * p.element_size() for p in net.parameters() if p.is_cuda) / 2**30
    first, second = RESOLUTIONS[args.model]

    def run(where=None, **x):  # one denoiser call, in a cache context as diffusers' pipelines make one per call
        with net.cache_context("cond", **(where or {})) if cached else contextlib.nullcontext():
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
        def image(resolution):  # a whole denoising loop from a reset cache, as a pipeline runs it
            steps = [inputs(args.model, resolution, step, dtype) for step in range(args.image_steps)]
            reset()
            for i, x in enumerate(steps):  # the step as WanPipeline passes it (SeaCache reads it; the others ignore it)
                run(dict(step_index=i, sigma=1.0 - i / args.image_steps, num_inference_steps=args.image_steps) if weights == "sea" else None, **x)

        for label, resolution in (("res1", first), ("res2", second)):
            reset()
            start = time.perf_counter()
            image(resolution) if images else run(**inputs(args.model, resolution, 1, dtype))
            torch.cuda.synchronize()
            res[f"{label}_first_call_s"] = time.perf_counter() - start
            if label == "res1":
                reset()
                again = run(**inputs(args.model, first, 0, dtype))[0].float()
                res["rel_l2_vs_eager"] = ((again - reference).norm() / reference.norm()).item()
            if images:
                torch.cuda.synchronize()
                start = time.perf_counter()
                image(resolution)
                torch.cuda.synchronize()
                res[f"{label}_ms"] = (time.perf_counter() - start) * 1000 / args.image_steps  # mean per step of one image
            times = []
            for step in range(2, 2 + args.steps) if not images else ():
                x = inputs(args.model, resolution, step, dtype)
                torch.cuda.synchronize()
                start = time.perf_counter()
                run(**x)
                torch.cuda.synchronize()
                times.append((time.perf_counter() - start) * 1000)
            if times:
                res[f"{label}_ms"] = statistics.median(times)
            if args.profile and label == "res1":
                res["profile"] = profile(lambda: run(**inputs(args.model, resolution, 99, dtype)), args.profile)
            res[f"{label}_graphs"] = counters["stats"]["unique_graphs"]
            res[f"{label}_breaks"] = sum(counters["graph_break"].values())
            res["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
            emit(label)
    return 0


T0 = time.time()

if __name__ == "__main__":
    sys.exit(main())
