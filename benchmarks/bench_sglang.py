#!/usr/bin/env python3
"""GPU benchmark: sglang's own FLUX.1 transformer under torch.compile, with and without fluxfix.

Builds `sglang.multimodal_gen.runtime.models.dits.flux.FluxTransformer2DModel` from the FLUX.1-dev
architecture (full width, random weights, depth reduced by --double/--single), outside a server,
compiles it the way sglang's denoising stage does (`module.compile(fullgraph=False, dynamic=None,
mode=...)`) and appends one JSON line to --out: graphs and graph breaks, compile time, eager and
compiled latency, peak memory and the compiled output's error against eager.

One variant per process, because fluxfix must be imported before sglang (variant `fluxfix`) or not
at all (variant `unpatched`). `run_gpu.sh` runs the variants side by side; BENCHMARKS.md has results.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback

T0 = time.time()
LABEL = ""


def log(msg: str) -> None:
    print(f"[bench {LABEL} +{time.time() - T0:6.1f}s] {msg}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=["unpatched", "fluxfix"], default="unpatched")
    p.add_argument("--mode", default="max-autotune-no-cudagraphs", help="torch.compile mode (sglang's default)")
    p.add_argument("--double", type=int, default=2, help="double-stream blocks (FLUX.1-dev has 19)")
    p.add_argument("--single", type=int, default=4, help="single-stream blocks (FLUX.1-dev has 38)")
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--text-len", type=int, default=512)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="small width: a quick GPU smoke test of this script, not a benchmark")
    p.add_argument("--no-explain", action="store_true", help="skip the torch._dynamo.explain pass")
    p.add_argument("--fullgraph", action="store_true", default=os.environ.get("BENCH_FULLGRAPH") == "1",
                   help="compile with fullgraph=True: any graph break fails the run (env BENCH_FULLGRAPH=1)")
    p.add_argument("--label", default="", help="free text stored with the result (e.g. 'rope-fallback')")
    p.add_argument("--out", default="benchmarks/results/flux1.jsonl")
    return p.parse_args(argv)


def tolerate_config_reregistration() -> None:
    """Harness shim, same for every variant: the machine's transformers (5.17) already registers
    model types that sglang 0.5.11 registers again at import (`qwen3_asr`: "already used")."""
    try:
        from transformers import AutoConfig
    except ImportError:
        return
    original = AutoConfig.register

    def register(model_type, config, exist_ok=False):
        return original(model_type, config, exist_ok=True)

    AutoConfig.register = staticmethod(register)


def default_server_args(cls, **overrides):
    """sglang's real ServerArgs holding its declared defaults. __post_init__ is skipped: it resolves
    the model path (a hub download) and sets up a server; the layers only read fields."""
    import dataclasses

    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = None
        object.__setattr__(obj, f.name, value)
    for k, v in overrides.items():
        object.__setattr__(obj, k, v)
    return obj


def percentile(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def stats(ms):
    return {"median": percentile(ms, 0.5), "p10": percentile(ms, 0.1), "p90": percentile(ms, 0.9),
            "min": min(ms), "max": max(ms), "n": len(ms)}


def where(frames, n=3):
    return [f"{fs.filename}:{fs.lineno} in {fs.name}" for fs in list(frames or [])[-n:]]


def main(args, res: dict) -> dict:
    """Fills `res` as it goes, so a failure still reports how far it got."""
    res.update({"bench": "sglang-flux1-transformer", "double": args.double, "single": args.single,
                "height": args.height, "width": args.width, "text_len": args.text_len, "tiny": args.tiny,
                "status": "running", "stage": "import"})

    if args.variant == "fluxfix":
        import fluxfix  # noqa: F401  -- activates every built-in patch before sglang is imported
        log("fluxfix imported (patches wait for their sglang modules)")

    # world size 1 for sglang's process groups, without a launcher
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
    for k, v in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
        os.environ.setdefault(k, v)

    import torch
    import torch._dynamo
    from torch._dynamo.utils import counters

    tolerate_config_reregistration()
    # Harness shim, same for every variant: sglang's CUDA platform probe tries
    # `from sphinx.ext.autodoc.mock import ...`; the machine's partial `sphinx` then stays in
    # sys.modules and scipy.stats (imported later via transformers -> sklearn) fails on it.
    import scipy.stats  # noqa: F401
    t = time.time()
    from sglang.multimodal_gen.configs.models.dits.flux import FluxArchConfig, FluxConfig
    from sglang.multimodal_gen.runtime import server_args as sa
    from sglang.multimodal_gen.runtime.distributed import parallel_state as ps
    from sglang.multimodal_gen.runtime.managers.forward_context import set_forward_context
    from sglang.multimodal_gen.runtime.models.dits.flux import FluxTransformer2DModel
    res["import_s"] = time.time() - t
    log(f"sglang imported in {res['import_s']:.1f}s")

    from importlib import metadata

    res["host_version"] = metadata.version("sglang")
    res["torch"] = torch.__version__
    try:
        import triton

        res["triton"] = triton.__version__
    except ImportError:
        res["triton"] = None
    res["python"] = sys.version.split()[0]
    res["stood_in"] = sorted(m for m in ("sgl_kernel", "av", "flashinfer") if getattr(sys.modules.get(m), "FLUXFIX_STANDIN", False))
    res["fluxfix_loaded"] = "fluxfix" in sys.modules
    res["env"] = {k: v for k, v in os.environ.items() if k.startswith(("SGLANG_", "TORCHINDUCTOR_", "FLUXFIX", "TORCH_LOGS"))}
    if args.variant == "fluxfix":
        import fluxfix

        res["fluxfix"] = [r.as_dict() if hasattr(r, "as_dict") else str(r) for r in fluxfix.status()]
        res["fluxfix_applied"] = sorted(r["name"] for r in res["fluxfix"] if isinstance(r, dict) and r.get("verdict") == "applied")
        for r in res["fluxfix"]:
            log(f"fluxfix: {r.get('name')}: {r.get('verdict')} ({r.get('reason')})" if isinstance(r, dict) else f"fluxfix: {r}")

    res["stage"] = "build"
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    # attention: FA3/FA4 come from sgl_kernel, which could not travel; name SDPA explicitly
    sa.set_global_server_args(default_server_args(sa.ServerArgs, model_path="black-forest-labs/FLUX.1-dev",
                                                  attention_backend="torch_sdpa"))
    ps.maybe_init_distributed_environment_and_model_parallel(tp_size=1, sp_size=1, enable_cfg_parallel=False)

    # FLUX.1-dev's transformer config (its HF config.json), depth reduced
    width = dict(num_attention_heads=24, attention_head_dim=128, joint_attention_dim=4096, pooled_projection_dim=768)
    if args.tiny:
        width = dict(num_attention_heads=2, attention_head_dim=128, joint_attention_dim=64, pooled_projection_dim=32)
    arch = FluxArchConfig(patch_size=1, in_channels=64, num_layers=args.double, num_single_layers=args.single,
                          guidance_embeds=True, axes_dims_rope=(16, 56, 56), **width)
    dtype = torch.bfloat16
    torch.manual_seed(args.seed)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # as sglang's loader does; explicit float64 RoPE tables stay float64
    try:
        with dev:
            model = FluxTransformer2DModel(config=FluxConfig(arch_config=arch), hf_config={})
    finally:
        torch.set_default_dtype(prev)
    with torch.no_grad():  # random weights: fan-in scaled, norm scales 1, small biases
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, p.shape[1] ** -0.5)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    model.eval()
    res["params_M"] = sum(p.numel() for p in model.parameters()) / 1e6
    res["param_dtypes"] = sorted({str(p.dtype) for p in model.parameters()})
    attn = model.transformer_blocks[0].attn.attn if args.double else model.single_transformer_blocks[0].attn.attn
    res["attention_backend"] = str(getattr(attn, "backend", None))
    log(f"model built: {res['params_M']:.0f}M params, attention {res['attention_backend']}")

    # inputs as sglang's FLUX pipeline feeds them (1024x1024 -> 64x64 packed latents = 4096 tokens)
    img_tokens = (args.height // 16) * (args.width // 16)
    res["img_tokens"] = img_tokens
    g = torch.Generator(device=dev).manual_seed(args.seed + 1)
    hidden = torch.randn(1, img_tokens, arch.in_channels, device=dev, dtype=dtype, generator=g)
    text = torch.randn(1, args.text_len, arch.joint_attention_dim, device=dev, dtype=dtype, generator=g)
    pooled = torch.randn(1, arch.pooled_projection_dim, device=dev, dtype=dtype, generator=g)
    timestep = torch.tensor([500.0], device=dev)  # scheduler timesteps are float32 (sigma * 1000)
    guidance = torch.full((1,), 3.5, device=dev, dtype=dtype) * 1000.0  # embedded_cfg_scale * 1000
    from sglang.multimodal_gen.configs.pipeline_configs.flux import FluxPipelineConfig

    pipeline_config = FluxPipelineConfig()
    pipeline_config.vae_config.arch_config.vae_scale_factor = 8  # FLUX's VAE; set when sglang loads it
    with torch.no_grad():  # sglang's own RoPE table for FLUX ([text; image] positions)
        freqs_cis = pipeline_config.get_freqs_cis(text, args.width, args.height, dev, model.rotary_emb, None)
    kwargs = dict(hidden_states=hidden, encoder_hidden_states=text, pooled_projections=pooled,
                  timestep=timestep, guidance=guidance, freqs_cis=freqs_cis)

    def step(m):
        # one denoising step as sglang runs it: no grad, bf16 autocast, inside its forward context
        with torch.no_grad(), torch.autocast(device_type=dev.type, dtype=dtype), \
                set_forward_context(current_timestep=0, attn_metadata=None):
            return m(**kwargs)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def timed(m, warmup, iters):
        for _ in range(warmup):
            step(m)
        sync()
        ms = []
        for _ in range(iters):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                step(m)
                b.record()
                b.synchronize()
                ms.append(a.elapsed_time(b))
            else:
                t = time.perf_counter()
                step(m)
                ms.append((time.perf_counter() - t) * 1e3)
        return ms

    res["stage"] = "eager"
    ref = step(model).float()
    sync()
    if not torch.isfinite(ref).all():
        raise RuntimeError("eager output is not finite")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    res["eager_ms"] = stats(timed(model, args.warmup, args.iters))
    if cuda:
        res["eager_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    again = step(model).float()
    res["eager_repeat_max_abs"] = (again - ref).abs().max().item()  # run-to-run noise floor of eager
    log(f"eager median {res['eager_ms']['median']:.3f} ms (p10 {res['eager_ms']['p10']:.3f}, p90 {res['eager_ms']['p90']:.3f})")

    if not args.no_explain:
        res["stage"] = "explain"
        torch._dynamo.reset()
        counters.clear()
        t = time.time()
        # inside the same contexts as a real step; the model's frames are what dynamo traces
        ex = torch._dynamo.explain(lambda: step(model))()
        grouped = {}
        for r in ex.break_reasons:
            first = str(r.reason).strip().splitlines()[0][:300] if str(r.reason).strip() else ""
            key = (first, tuple(where(r.user_stack, 1)))
            item = grouped.setdefault(key, {"reason": first, "full_reason": str(r.reason)[:1500],
                                            "where": where(r.user_stack), "count": 0})
            item["count"] += 1
        res["explain"] = {"graphs": ex.graph_count, "breaks": ex.graph_break_count, "ops": ex.op_count,
                          "s": time.time() - t, "reasons": sorted(grouped.values(), key=lambda d: -d["count"]),
                          "counters_graph_break": dict(counters["graph_break"])}
        log(f"explain: {ex.graph_count} graphs, {ex.graph_break_count} breaks")
        for item in res["explain"]["reasons"]:
            log(f"  break x{item['count']}: {item['reason']}  @ {item['where'][-1] if item['where'] else '?'}")
        for reason, n in counters["graph_break"].items():
            log(f"  dynamo counter x{n}: {str(reason).splitlines()[0][:200]}")

    res["stage"] = "compile"
    torch._dynamo.reset()
    counters.clear()
    try:
        import torch._inductor.config as inductor_config

        inductor_config.reorder_for_compute_comm_overlap = True  # sglang sets this before compiling
    except ImportError:
        pass
    res["fullgraph"] = args.fullgraph
    model.compile(fullgraph=args.fullgraph, dynamic=None, mode=args.mode)  # sglang's call (fullgraph=False)
    log(f"compiling (mode {args.mode}, fullgraph={args.fullgraph}) ...")
    t = time.time()
    out = step(model)
    sync()
    res["compile_s"] = time.time() - t
    t = time.time()
    step(model)
    sync()
    res["second_call_s"] = time.time() - t
    log(f"first compiled call {res['compile_s']:.1f}s, second {res['second_call_s'] * 1e3:.1f} ms")

    res["stage"] = "compiled"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    res["compiled_ms"] = stats(timed(model, args.warmup, args.iters))
    if cuda:
        res["compiled_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out = step(model).float()
    diff = (out - ref).abs()
    res["max_abs_err"] = diff.max().item()
    res["max_rel_err"] = res["max_abs_err"] / ref.abs().max().item()  # max |diff| over max |eager|
    res["rel_l2_err"] = (diff.norm() / ref.norm()).item()
    res["out_finite"] = bool(torch.isfinite(out).all())
    res["dynamo"] = {
        "unique_graphs": counters["stats"].get("unique_graphs", 0),
        "graph_breaks": sum(counters["graph_break"].values()),
        "graph_break_reasons": {str(k).splitlines()[0][:300]: v for k, v in counters["graph_break"].items()},
        "frames_total": counters["frames"].get("total", 0), "frames_ok": counters["frames"].get("ok", 0),
        "recompiles": sum(v for k, v in counters["recompiles"].items()) if "recompiles" in counters else None,
    }
    res["speedup"] = res["eager_ms"]["median"] / res["compiled_ms"]["median"]
    log(f"compiled median {res['compiled_ms']['median']:.3f} ms (p10 {res['compiled_ms']['p10']:.3f}, "
        f"p90 {res['compiled_ms']['p90']:.3f}); x{res['speedup']:.3f} vs eager; max abs err {res['max_abs_err']:.4g}; "
        f"dynamo: {res['dynamo']['unique_graphs']} graphs, {res['dynamo']['graph_breaks']} breaks")
    if cuda:
        res["gpu"] = torch.cuda.get_device_name()
    res["status"] = "ok"
    res["stage"] = "done"
    res["total_s"] = time.time() - T0
    return res


if __name__ == "__main__":
    args = parse_args()

    def on_term(signum, frame):  # run_gpu.sh's per-run timeout: still write what was measured
        raise TimeoutError("SIGTERM (run timeout)")

    signal.signal(signal.SIGTERM, on_term)
    LABEL = f"{args.variant}/{args.mode}" + (f"/{args.label}" if args.label else "")
    res = {"variant": args.variant, "mode": args.mode, "label": args.label}
    try:
        main(args, res)
    except BaseException as e:  # still write a line, so the table says what failed and where
        traceback.print_exc()
        res["status"] = f"error: {type(e).__name__}: {str(e)[:500]}"
        code = 1
    else:
        code = 0
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(res, default=str) + "\n")
    log(f"wrote {args.out}: {res['status']}")
    sys.exit(code)
