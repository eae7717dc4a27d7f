#!/usr/bin/env python3
"""End-to-end benchmark of diffusers' real pipelines (FluxPipeline, WanPipeline), one variant per process
(fluxfix must be on or off before diffusers is imported, so each variant sets its own environment first).

    python benchmarks/bench_pipeline.py --variant VARIANT --out results.jsonl [--model FLUX.1-dev|Wan2.1-T2V-1.3B]
        [--steps 28] [--size full|small] [--folder PATH] [--device cuda] [--requests 6] [--backend inductor] [--mode default] [--warm-cache]

The model is a folder made by tests/model_folder.py (published configs, random weights; FLUX.1-dev at full
size is ~32 GB of bf16 safetensors, Wan 2.1 1.3B ~14 GB, made once in --folder), loaded by the host's own
`DiffusionPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16).to(device)` (the pipeline class its
model_index.json names). Wan requests are videos (--frames, 81 at full size) with the pipeline's default
guidance; FLUX.1 images use guidance 3.5.

Variants (fluxfix on = FLUXFIX=1 and `import fluxfix` before diffusers; off = FLUXFIX=0, fluxfix never imported):
  eager                 no compile, fluxfix off
  compiled              pipe.transformer.compile(), fluxfix off
  compiled-fluxfix      pipe.transformer.compile(), fluxfix on
  regional              pipe.transformer.compile(), fluxfix on with FLUXFIX_COMPILE=regional (compiles each repeated block)
  upstream-regional     pipe.transformer.compile_repeated_blocks() (diffusers' own), fluxfix off
  fp8-eager             enable_layerwise_casting(float8_e4m3fn storage, bf16 compute), no compile, fluxfix off
  fp8-compiled          fp8 as above, then pipe.transformer.compile(), fluxfix off
  fp8-compiled-fluxfix  fp8 as above, then pipe.transformer.compile(), fluxfix on

Measured: load seconds; the first request at the first resolution (the transformer is compiled before
it, as users do, so compile time is inside); then --requests requests over three resolutions in a mixed
order, each with its own prompt and seed: seconds and the dynamo graphs it compiled
(counters["stats"]["unique_graphs"] delta: every FX graph dynamo hands to the backend, i.e. a new
frame, a recompile of one, or a piece between graph breaks; on a warm compile cache dynamo still
traces, so warm starts count the same graphs, each served from the cache). Steady state = median of
the requests after each resolution's first. Peak GPU memory of the requests, graph breaks, and
fluxfix's verdicts for diffusers. One JSON line per variant is appended to --out, also when the run is
stopped by SIGTERM (`timeout`): then with "complete": false and what was measured so far.

--warm-cache only records that this process is a second start sharing TORCHINDUCTOR_CACHE_DIR with a
previous one (the caller sets that variable); nothing else differs.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import shutil
import signal
import statistics
import sys
import tempfile
import time
from typing import NamedTuple

REPO = pathlib.Path(__file__).resolve().parent.parent
log = logging.getLogger("bench_pipeline")


class Variant(NamedTuple):
    fluxfix: bool
    compile_env: str | None  # FLUXFIX_COMPILE
    fp8: bool
    compile: str | None  # the transformer's method called before the first request


VARIANTS = {
    "eager": Variant(False, None, False, None),
    "compiled": Variant(False, None, False, "compile"),
    "compiled-fluxfix": Variant(True, None, False, "compile"),
    "regional": Variant(True, "regional", False, "compile"),
    "upstream-regional": Variant(False, None, False, "compile_repeated_blocks"),
    "fp8-eager": Variant(False, None, True, None),
    "fp8-compiled": Variant(False, None, True, "compile"),
    "fp8-compiled-fluxfix": Variant(True, None, True, "compile"),
}

# (height, width): FLUX's usual 1024 px and its two ~1 MP landscape/portrait sizes; Wan 2.1 1.3B's 480p
# landscape and portrait and a square of about the same area; small: the same shapes in multiples of 16
# (the pipelines' size rule), for CPU tests
RESOLUTIONS = {"FLUX.1-dev": [(1024, 1024), (768, 1344), (1344, 768)], "Wan2.1-T2V-1.3B": [(480, 832), (832, 480), (624, 624)]}
SMALL_RESOLUTIONS = [(64, 64), (48, 80), (80, 48)]
FRAMES = {"full": 81, "small": 5}  # Wan: 4k+1 frames, 81 as published
ORDER = [0, 1, 2, 0, 2, 1]  # the request stream's resolutions, repeated: mixed, each seen again later
# the prompts the folder's tokenizers were trained on (tests/model_folder.py TEXT), one more: all in-vocabulary
EXTRA_PROMPT = "a red fox in the snow, morning light"


def maker():
    """tests/model_folder.py: makes the model folders, knows their prompts, calls their pipelines."""
    if str(REPO / "tests") not in sys.path:
        sys.path.insert(0, str(REPO / "tests"))
    import model_folder

    return model_folder


def prompts() -> list[str]:
    return [*maker().TEXT, EXTRA_PROMPT]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(VARIANTS))
    p.add_argument("--model", choices=sorted(RESOLUTIONS), default="FLUX.1-dev")
    p.add_argument("--frames", type=int, help="Wan: frames per video (default 81 at full size, 5 small)")
    p.add_argument("--out", default="-", help="JSON lines file to append to (- for stdout)")
    p.add_argument("--steps", type=int, default=28, help="num_inference_steps per image")
    p.add_argument("--size", choices=["full", "small"], default="full", help="model size; small also means small images")
    p.add_argument("--folder", type=pathlib.Path, help="where the model folder is (made there if missing)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--requests", type=int, default=6, help="requests after the first")
    p.add_argument("--backend", default="inductor", help="torch.compile backend (aot_eager for quick CPU tests)")
    p.add_argument("--mode", default="default", help="torch.compile mode (max-autotune-no-cudagraphs: sglang's default)")
    p.add_argument("--warm-cache", action="store_true", help="record: a second start on a previous run's compile cache")
    p.add_argument("--make-only", action="store_true", help="make the model folder and exit")
    args = p.parse_args(argv)
    if not args.variant and not args.make_only:
        p.error("--variant is required")
    args.folder = args.folder or pathlib.Path(tempfile.gettempdir()) / f"fluxfix-pipeline-{args.size}"
    return args


def set_env(variant: Variant) -> None:
    """The variant's fluxfix settings, before fluxfix or diffusers is imported."""
    os.environ["FLUXFIX"] = "1" if variant.fluxfix else "0"
    if variant.compile_env:
        os.environ["FLUXFIX_COMPILE"] = variant.compile_env
    else:
        os.environ.pop("FLUXFIX_COMPILE", None)
    if variant.fluxfix:
        import fluxfix  # noqa: F401  (activates; explicit, since a --target install runs no auto-load .pth)


def model_folder(args) -> tuple[pathlib.Path, float | None]:
    """The model folder, made first if missing (into a scratch name, renamed when whole, so a run
    killed while making leaves no half folder); returns it and the seconds making took."""
    folder = args.folder / args.model
    if folder.exists():
        return folder, None
    partial = args.folder / ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    log.info("making %s (%s) in %s", args.model, args.size, args.folder)
    start = time.perf_counter()
    maker().make(args.model, partial, args.size, device=args.device)
    (partial / args.model).rename(folder)
    partial.rmdir()
    return folder, time.perf_counter() - start


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def load(folder: pathlib.Path, variant: Variant, args):
    """The host's own loader, then the variant's transformer setup (fp8 storage, compile)."""
    import diffusers
    import torch

    pipe = diffusers.DiffusionPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16).to(args.device)
    pipe.set_progress_bar_config(disable=True)  # one line per request in the log instead
    if variant.fp8:
        pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    if variant.compile:
        kwargs = {} if args.backend == "inductor" else {"backend": args.backend}  # inductor: the call users make
        if args.mode != "default":
            kwargs["mode"] = args.mode
        getattr(pipe.transformer, variant.compile)(**kwargs)
    sync(args.device)
    return pipe


def generate(pipe, args, index: int, resolution) -> dict:
    """One request (its own prompt and seed); its seconds and the dynamo graphs it compiled."""
    import torch
    from torch._dynamo.utils import counters

    height, width = resolution
    graphs = counters["stats"]["unique_graphs"]
    generator = torch.Generator(args.device).manual_seed(index)
    texts = prompts()
    sync(args.device)
    start = time.perf_counter()
    frames = args.frames or FRAMES[args.size]
    out = maker().generate(pipe, args.model, texts[index % len(texts)], frames=frames, height=height, width=width,
                           num_inference_steps=args.steps, generator=generator)
    sync(args.device)
    seconds = time.perf_counter() - start
    want = (frames, height, width) if args.model.startswith("Wan") else (height, width)
    assert out.shape[:-1] == want, (out.shape, want)
    return {"seconds": seconds, "height": height, "width": width, "seed": index,
            "new_graphs": counters["stats"]["unique_graphs"] - graphs}


def progress(items, name: str):
    """A progress bar over the request stream, on a terminal (the log has a line per request anyway)."""
    from tqdm import tqdm

    return tqdm(items, desc=name, file=sys.stderr, disable=not sys.stderr.isatty())


def steady(requests: list, first_resolution) -> float | None:
    """Median seconds of the requests after each resolution's first (the first request's is seen already)."""
    seen, times = {tuple(first_resolution or ())}, []
    for r in requests:
        key = (r["height"], r["width"])
        if key in seen:
            times.append(r["seconds"])
        seen.add(key)
    return statistics.median(times) if times else None


def fluxfix_verdicts() -> dict | None:
    """fluxfix's verdict per diffusers patch, when it is on."""
    if "fluxfix" not in sys.modules or os.environ["FLUXFIX"] != "1":
        return None
    import fluxfix

    return {r.name: r.verdict.value for r in fluxfix.status() if r.host == "diffusers"}


def count_limit_hits(res: dict) -> None:
    """Count dynamo's 'hit config.recompile_limit' warnings: from then on that frame runs eagerly."""
    hits = logging.Handler()
    hits.emit = lambda r: res.__setitem__("limit_hits", res["limit_hits"] + ("hit config." in r.getMessage()))
    logging.getLogger("torch._dynamo").addHandler(hits)


def run(args, res: dict) -> None:
    """Fills `res` as it goes, so that a stopped run still reports what it measured."""
    import torch

    folder, res["make_s"] = model_folder(args)
    cuda = args.device.startswith("cuda")
    if cuda:
        res["gpu"] = torch.cuda.get_device_name()
    start = time.perf_counter()
    pipe = load(folder, VARIANTS[args.variant], args)
    res["load_s"] = time.perf_counter() - start
    log.info("loaded in %.1f s", res["load_s"])
    if cuda:
        torch.cuda.reset_peak_memory_stats()  # the requests' peak, not fp8 casting's bf16 copy at load
    resolutions = SMALL_RESOLUTIONS if args.size == "small" else RESOLUTIONS[args.model]
    first = generate(pipe, args, 0, resolutions[0])
    res.update(first_request_s=first["seconds"], first_resolution=[first["height"], first["width"]], first_graphs=first["new_graphs"])
    log.info("first request %dx%d: %.1f s, %d graphs", first["height"], first["width"], first["seconds"], first["new_graphs"])
    res["fluxfix_status"] = fluxfix_verdicts()  # after a first call: host modules imported lazily are patched by now
    for i in progress(range(1, args.requests + 1), args.variant):
        r = generate(pipe, args, i, resolutions[ORDER[(i - 1) % len(ORDER)]])
        res["requests"].append(r)
        log.info("request %d %dx%d: %.2f s, %d new graphs", i, r["height"], r["width"], r["seconds"], r["new_graphs"])
    res["complete"] = True


def totals(res: dict) -> None:
    """The figures over the requests made so far."""
    import torch
    from torch._dynamo.utils import counters

    res["steady_s"] = steady(res["requests"], res.get("first_resolution"))
    res["recompiles"] = sum(q["new_graphs"] for q in res["requests"])
    res["graph_breaks"] = sum(counters["graph_break"].values())
    res["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30 if res["device"].startswith("cuda") else None


def summary(res: dict) -> str:
    fmt = lambda key, spec: format(res[key], spec) if res.get(key) is not None else "-"  # noqa: E731
    return (f"{res['variant']}{' (warm cache)' if res['warm_cache'] else ''}: load {fmt('load_s', '.1f')} s, "
            f"first request {fmt('first_request_s', '.1f')} s, steady {fmt('steady_s', '.2f')} s/image, "
            f"recompiles {fmt('recompiles', 'd')}, peak {fmt('peak_gib', '.1f')} GiB, breaks {fmt('graph_breaks', 'd')}, "
            f"limit hits {res['limit_hits']}{'' if res['complete'] else ', INCOMPLETE'}")


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"[bench_pipeline {args.variant or 'make'} %(relativeCreated)6.0f ms] %(message)s")
    if args.make_only:
        folder, seconds = model_folder(args)
        print(f"{folder}: {'made in %.0f s' % seconds if seconds else 'already there'}")
        return 0
    set_env(VARIANTS[args.variant])
    import diffusers
    import torch

    res = {"model": args.model, "variant": args.variant, "warm_cache": args.warm_cache, "complete": False, "size": args.size, "steps": args.steps,
           "device": args.device, "backend": args.backend, "mode": args.mode, "torch": torch.__version__, "diffusers": diffusers.__version__,
           "fluxfix_loaded": "fluxfix" in sys.modules, "limit_hits": 0, "requests": [],
           "env": {k: os.environ.get(k) for k in ("FLUXFIX", "FLUXFIX_COMPILE", "TORCHINDUCTOR_CACHE_DIR")}}
    count_limit_hits(res)
    record(lambda: run(args, res), lambda: totals(res), res, args.out, summary)
    return 0


def record(work, finish, res: dict, out_path: str, describe) -> None:
    """work(), then finish() and `res` appended to out_path as one JSON line (- for stdout), with
    describe(res) printed: also when the run is stopped by SIGTERM (`timeout`), keeping what it measured,
    or fails, keeping its error under "error"."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # leave through finally
    try:
        work()
    except Exception as error:
        res["error"] = f"{type(error).__name__}: {error}"[:4000]
        raise
    finally:
        finish()
        out = sys.stdout if out_path == "-" else open(out_path, "a")
        out.write(json.dumps(res) + "\n")
        out.flush()
        print(describe(res), flush=True)


if __name__ == "__main__":
    sys.exit(main())
