#!/usr/bin/env python3
"""GPU benchmark: one of sglang's own diffusion transformers under torch.compile, with and without fluxfix.

Builds sglang's FLUX.1, FLUX.2, Wan 2.1 or Qwen-Image transformer from the published architecture
(full width, random weights, depth set by --layers) outside a server (`patches.sglang.models`),
compiles it the way sglang's denoising stage does (`module.compile(fullgraph=False, dynamic=None,
mode=...)`) and appends one JSON line to --out: graphs and graph breaks, compile time, eager and
compiled latency, peak memory and the compiled output's error against eager.

One variant per process, because fluxfix must be active before sglang is imported (variant
`fluxfix`) or off throughout (variant `unpatched`, FLUXFIX=0). `run_gpu.sh` runs the variants side by side; BENCHMARKS.md has results.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import time
import traceback

T0 = time.time()
LABEL = ""
STAGES = ["import", "build", "eager", "explain", "compile", "compiled"]

try:
    from tqdm import tqdm  # the progress bar; shown on a terminal only (disable=None)
except ImportError:
    tqdm = None


def progress(iterable, desc):
    return tqdm(iterable, desc=desc, leave=False, disable=None) if tqdm else iterable


class Stages:
    """Where a long run is: one bar over the stages, and `res["stage"]` for a run that fails."""

    def __init__(self, res, skip=()):
        self.res = res
        self.names = [s for s in STAGES if s not in skip]
        self.bar = tqdm(total=len(self.names), desc=LABEL, disable=None) if tqdm else None

    def __call__(self, name):
        if self.bar and self.res.get("stage") in self.names:
            self.bar.update(1)
        if self.bar:
            self.bar.set_postfix_str(name)
        self.res["stage"] = name


def log(msg: str) -> None:
    print(f"[bench {LABEL} +{time.time() - T0:6.1f}s] {msg}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=["unpatched", "fluxfix"], default="unpatched")
    p.add_argument("--mode", default="max-autotune-no-cudagraphs", help="torch.compile mode (sglang's default)")
    p.add_argument("--model", default="flux", choices=["flux", "flux2", "wan", "qwen-image"])
    p.add_argument("--layers", default="2,4", help="blocks per kind, e.g. '2,4' (FLUX: double,single) or '4'; "
                   "'full' for the published depth (FLUX.1-dev 19,38; FLUX.2-dev 8,48; Wan 2.1 1.3B 30; Qwen-Image 60)")
    p.add_argument("--frames", type=int, default=17, help="Wan: video frames (the latent keeps (frames-1)/4+1)")
    p.add_argument("--height", type=int, default=1024)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--text-len", type=int, default=512)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--iters", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-explain", action="store_true", help="skip the torch._dynamo.explain pass")
    p.add_argument("--fullgraph", action="store_true", default=os.environ.get("BENCH_FULLGRAPH") == "1",
                   help="compile with fullgraph=True: any graph break fails the run (env BENCH_FULLGRAPH=1)")
    p.add_argument("--label", default="", help="free text stored with the result (e.g. 'rope-fallback')")
    p.add_argument("--out", default="benchmarks/results/bench.jsonl")
    return p.parse_args(argv)


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
    layers = None if args.layers == "full" else tuple(int(n) for n in args.layers.split(","))
    res.update({"bench": f"sglang-{args.model}-transformer", "model": args.model, "layers": args.layers,
                "height": args.height, "width": args.width, "text_len": args.text_len,
                "status": "running"})
    stage = Stages(res, skip=("explain",) if args.no_explain else ())
    stage("import")
    # Both variants build through fluxfix's sglang builders; `unpatched` turns fluxfix off first
    # (FLUXFIX=0: no hooks, no patches), `fluxfix` activates every built-in patch before sglang loads.
    os.environ["FLUXFIX"] = "0" if args.variant == "unpatched" else "1"
    import fluxfix
    from patches.sglang import models as sglang_models
    from fluxfix.doctor import ENV_PREFIXES  # the settings that choose host code paths, as doctor records them

    import torch
    import torch._dynamo
    from torch._dynamo.utils import counters

    import harness_shims  # patches/sglang/standins, on PYTHONPATH beside the stand-ins

    harness_shims.before_sglang()
    t = time.time()
    stood_in_cute = []
    if args.model in ("wan", "qwen-image") and args.device.startswith("cuda"):
        import no_cutlass  # patches/sglang/standins, on PYTHONPATH beside the other stand-ins

        stood_in_cute = no_cutlass.route_to_native()
    importlib.import_module(sglang_models.ROOT + sglang_models.CLASSES[args.model][0])
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
    res["stood_in"] += stood_in_cute
    res["env"] = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    res["fluxfix"] = [r.as_dict() for r in fluxfix.status()]
    res["fluxfix_applied"] = sorted(r["name"] for r in res["fluxfix"] if r.get("verdict") == "applied")
    if args.variant == "fluxfix":
        for r in res["fluxfix"]:
            log(f"fluxfix: {r.get('name')}: {r.get('verdict')} ({r.get('reason')})")
    elif res["fluxfix_applied"]:
        raise RuntimeError(f"unpatched run has fluxfix patches applied: {res['fluxfix_applied']}")

    stage("build")
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    dtype = torch.bfloat16
    built = sglang_models.build(args.model, layers, args.device, dtype, height=args.height, width=args.width,
                                frames=args.frames, text_len=args.text_len, seed=args.seed)
    model = built.model
    res["what"] = built.what
    res["params_M"] = built.params_m
    res["param_dtypes"] = sorted({str(p.dtype) for p in model.parameters()})
    res["inputs"] = {k: list(v.shape) for k, v in built.inputs.items() if hasattr(v, "shape")}
    backends = {str(getattr(m, "backend", None)) for m in model.modules() if type(m).__name__ in ("USPAttention", "LocalAttention")}
    res["attention_backend"] = sorted(backends)
    log(f"model built: {built.what}; attention {res['attention_backend']}; inputs {res['inputs']}")

    def step():
        # one denoising step as sglang runs it: no grad, bf16 autocast, inside its forward context;
        # after model.compile() the same call runs the compiled module
        with torch.autocast(device_type=dev.type, dtype=dtype):
            return sglang_models.output_tensor(built.step())

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def timed(warmup, iters):
        for _ in progress(range(warmup), "warm-up"):
            step()
        sync()
        ms = []
        for _ in progress(range(iters), "timed"):
            if cuda:
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                step()
                b.record()
                b.synchronize()
                ms.append(a.elapsed_time(b))
            else:
                t = time.perf_counter()
                step()
                ms.append((time.perf_counter() - t) * 1e3)
        return ms

    stage("eager")
    ref = step().float()
    sync()
    if not torch.isfinite(ref).all():
        raise RuntimeError("eager output is not finite")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    res["eager_ms"] = stats(timed(args.warmup, args.iters))
    if cuda:
        res["eager_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    again = step().float()
    res["eager_repeat_max_abs"] = (again - ref).abs().max().item()  # run-to-run noise floor of eager
    log(f"eager median {res['eager_ms']['median']:.3f} ms (p10 {res['eager_ms']['p10']:.3f}, p90 {res['eager_ms']['p90']:.3f})")

    if not args.no_explain:
        stage("explain")
        torch._dynamo.reset()
        counters.clear()
        t = time.time()
        # inside the same contexts as a real step; the model's frames are what dynamo traces
        ex = torch._dynamo.explain(lambda: step())()
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

    stage("compile")
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
    out = step()
    sync()
    res["compile_s"] = time.time() - t
    t = time.time()
    step()
    sync()
    res["second_call_s"] = time.time() - t
    log(f"first compiled call {res['compile_s']:.1f}s, second {res['second_call_s'] * 1e3:.1f} ms")

    stage("compiled")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    res["compiled_ms"] = stats(timed(args.warmup, args.iters))
    if cuda:
        res["compiled_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out = step().float()
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
    stage("done")
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
    sys.stdout.flush()
    os._exit(code)  # skip interpreter teardown (compile workers, process groups): it took ~30 s per run
