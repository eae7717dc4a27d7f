#!/usr/bin/env python3
"""End-to-end benchmark of sglang's own server, one variant per server process tree: `sglang serve` on a
model folder (tests/model_folder.py), then a stream of requests to its OpenAI endpoints, as a user runs it.
fluxfix reaches sglang's workers only through the environment (FLUXFIX=1: the interpreter-start auto-load of
a pip install, or sglang's plugin entry point from 0.5.21 on), so install fluxfix into the environment whose
`sglang` this runs.

    python benchmarks/bench_sglang_serve.py --variant VARIANT --out results.jsonl [--model FLUX.1-dev]
        [--mode sglang|default|max-autotune-no-cudagraphs] [--steps 28] [--size full|small] [--folder PATH]
        [--requests 6] [--warm-cache] [--disable PATCH,...] [--resolutions HxW,...] [-- extra sglang serve arguments]

Variants (the same names as bench_pipeline.py's where they mean the same):
  eager              no --enable-torch-compile, fluxfix off
  compiled           --enable-torch-compile, fluxfix off (run on a release with upstream's fix for that row)
  compiled-fluxfix   --enable-torch-compile, fluxfix on
  regional           --enable-torch-compile, fluxfix on with FLUXFIX_COMPILE=regional (each repeated block compiled)
  upstream-regional  --enable-torch-compile --regional-compile (sglang 0.5.17+; FLUX.1 declares its blocks from 0.5.23)
  upstream-regional-fluxfix  the same with fluxfix on (the blocks' own breaks removed)

--disable: fluxfix patches the server runs without (FLUXFIX_DISABLE), to measure one patch's effect against the same
variant with it. --resolutions: the first request's size, then the stream's sizes in the order given (repeated), in
place of the model's three in the mixed order.

--mode: `sglang` leaves sglang's compile mode as it is (max-autotune-no-cudagraphs, its default); any other
value is set as SGLANG_TORCH_COMPILE_MODE. Every other server setting is sglang's default for the release
(0.5.23 warms up at server start when compiling: its compile happens before /health answers; 0.5.10 compiles at
the first request), so the figure to compare across releases is `first_image_s`: launch to the first image.

Measured: `ready_s` (launch to /health answering), `first_image_s` (launch to the first image back, load and
compile included), the first request's own seconds; then --requests requests over three resolutions in a
mixed order (bench_pipeline.py's), each its own prompt and seed: client seconds, sglang's `inference_time_s`,
and the frames dynamo traced in the worker meanwhile (compiles and recompiles, read from the server's log);
steady state = median of the requests after each resolution's first; peak GPU memory as sglang reports it per
request (reserved; 0.5.10 reports none) and as nvidia-smi sees it over the whole run (the server's processes); graph
breaks; recompile-limit hits; the patches the worker said it applied; the stand-ins on the path. One JSON line per
variant is appended to --out, also when stopped by SIGTERM (then "complete": false) or failed (its error, with the
server's own, under "error"). The server's log goes to --log-dir.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

import bench_pipeline as common

sys.path.insert(0, str(common.REPO / "tests"))
import sglang_server  # noqa: E402

VARIANTS = {  # sglang serve arguments, fluxfix's environment
    "eager": ([], {"FLUXFIX": "0"}),
    "compiled": (["--enable-torch-compile"], {"FLUXFIX": "0"}),
    "compiled-fluxfix": (["--enable-torch-compile"], {"FLUXFIX": "1"}),
    "regional": (["--enable-torch-compile"], {"FLUXFIX": "1", "FLUXFIX_COMPILE": "regional"}),
    "upstream-regional": (["--enable-torch-compile", "--regional-compile"], {"FLUXFIX": "0"}),
    "upstream-regional-fluxfix": (["--enable-torch-compile", "--regional-compile"], {"FLUXFIX": "1"}),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    p.add_argument("--model", choices=sorted(common.RESOLUTIONS), default="FLUX.1-dev")
    p.add_argument("--mode", default="sglang", help="torch.compile mode (sglang: the release's own default)")
    p.add_argument("--frames", type=int, help="Wan: frames per video (default 81 at full size, 5 small)")
    p.add_argument("--out", default="-", help="JSON lines file to append to (- for stdout)")
    p.add_argument("--steps", type=int, default=28, help="num_inference_steps per request")
    p.add_argument("--size", choices=["full", "small"], default="full", help="model size; small also means small images, float32 on a CPU")
    p.add_argument("--folder", type=pathlib.Path, help="where the model folder is (made there if missing)")
    p.add_argument("--device", default="cuda", help="where the model folder's random weights are made")
    p.add_argument("--requests", type=int, default=6, help="requests after the first")
    p.add_argument("--timeout", type=float, default=1800, help="seconds for the server to answer /health, and per request")
    p.add_argument("--warm-cache", action="store_true", help="record: a second start on a previous run's compile cache")
    p.add_argument("--disable", default="", help="fluxfix patches (comma-separated) the server runs without")
    p.add_argument("--resolutions", type=resolution_list, help="HxW,...: the first request's size, then the stream's in order")
    p.add_argument("--log-dir", type=pathlib.Path, default=pathlib.Path("."), help="where the server's log is written")
    p.add_argument("serve_args", nargs="*", help="more `sglang serve` arguments (after --)")
    args = p.parse_args(argv)
    args.folder = args.folder or pathlib.Path(tempfile.gettempdir()) / f"fluxfix-pipeline-{args.size}"
    return args


def resolution_list(text: str) -> list[tuple[int, int]]:
    sizes = [re.fullmatch(r"(\d+)x(\d+)", size.strip()) for size in text.split(",")]
    if not all(sizes):
        raise argparse.ArgumentTypeError(f"{text!r}: give sizes as HEIGHTxWIDTH, comma-separated (1024x1024,768x1344)")
    return [(int(m[1]), int(m[2])) for m in sizes]


def server_env(args) -> dict:
    """This process's environment with the variant's fluxfix settings, the compile mode, and dynamo's logs on."""
    fluxfix_env = VARIANTS[args.variant][1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLUXFIX")}
    env.update(fluxfix_env, TORCH_LOGS=sglang_server.DYNAMO_LOGS, PYTHONUNBUFFERED="1")
    if args.disable:
        env["FLUXFIX_DISABLE"] = args.disable
    if args.native_norms:
        env["BENCH_NATIVE_NORMS"] = "1"  # serve_harness/sitecustomize.py
    env.pop("SGLANG_TORCH_COMPILE_MODE", None)
    if args.mode != "sglang":
        env["SGLANG_TORCH_COMPILE_MODE"] = args.mode
    return env


def request(server, args, index: int, resolution) -> dict:
    """One request (its own prompt and seed): client seconds, sglang's own figures, frames dynamo traced."""
    height, width = resolution
    texts = common.prompts()
    body = {"prompt": texts[index % len(texts)], "height": height, "width": width, "num_inference_steps": args.steps, "seed": index}
    if args.size == "small":
        body["generator_device"] = "cpu"
    frames_before = sglang_server.frames_traced(server.log())
    start = time.perf_counter()
    if args.model.startswith("Wan"):
        reply = server.video({**body, "num_frames": args.frames or common.FRAMES[args.size]}, timeout=args.timeout)
        if reply.get("status") != "completed":
            raise RuntimeError(f"video request {index} ended {reply.get('status')}: {reply.get('error')}")
    else:
        reply = server.image(body, timeout=args.timeout)
        if not sglang_server.is_png(reply["png"]):
            raise RuntimeError(f"request {index}: no PNG back")
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "inference_time_s": reply.get("inference_time_s"), "peak_memory_mb": reply.get("peak_memory_mb"),
            "height": height, "width": width, "seed": index, "new_frames": sglang_server.frames_traced(server.log()) - frames_before}


def run(args, res: dict) -> None:
    """Fills `res` as it goes, so that a stopped run still reports what it measured."""
    folder, res["make_s"] = common.model_folder(args)
    serve_args = [*VARIANTS[args.variant][0], *args.serve_args]
    if args.size == "small":
        components = json.loads((folder / "model_index.json").read_text())
        serve_args += sglang_server.cpu_args(sum(name.startswith("text_encoder") for name in components))
    res["serve_args"] = serve_args
    resolutions = common.SMALL_RESOLUTIONS if args.size == "small" else common.RESOLUTIONS[args.model]
    first_size, stream = resolutions[0], [resolutions[j] for j in common.ORDER]
    if args.resolutions:
        first_size, stream = args.resolutions[0], args.resolutions[1:] or args.resolutions
    without = f"-without-{args.disable.replace(',', '+')}" if args.disable else ""
    log_path = args.log_dir / f"serve-{res['sglang']}-{args.model}-{args.variant}{without}-{args.mode}{'-warm' if args.warm_cache else ''}.log"
    res["log"] = str(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with sglang_server.Server(folder, serve_args, server_env(args), log_path) as server, GpuMemoryPeak(res):
        if not server.wait_healthy(args.timeout):
            raise RuntimeError(f"the server did not become healthy (exit {server.process.poll()}); its log: {log_path}")
        res["ready_s"] = time.perf_counter() - server.started
        common.log.info("healthy after %.1f s", res["ready_s"])
        first = request(server, args, 0, first_size)
        res.update(first_image_s=time.perf_counter() - server.started, first_request_s=first["seconds"],
                   first_resolution=[first["height"], first["width"]], first_frames=first["new_frames"], first=first)
        common.log.info("first image %.1f s after launch (request %.1f s)", res["first_image_s"], first["seconds"])
        for i in common.progress(range(1, args.requests + 1), args.variant):
            r = request(server, args, i, stream[(i - 1) % len(stream)])
            res["requests"].append(r)
            common.log.info("request %d %dx%d: %.2f s, %d frames traced", i, r["height"], r["width"], r["seconds"], r["new_frames"])
    res["complete"] = True


def totals(res: dict) -> None:
    """The figures over the requests made so far, and what the worker's log says."""
    res["steady_s"] = common.steady(res["requests"], res.get("first_resolution"))
    res["recompiles"] = sum(q["new_frames"] for q in res["requests"])
    peaks = [q["peak_memory_mb"] for q in [res.get("first") or {}, *res["requests"]] if q.get("peak_memory_mb")]
    res["peak_gib"] = max(peaks) / 1024 if peaks else None
    if pathlib.Path(res.get("log", "")).is_file():
        log = pathlib.Path(res["log"]).read_text(errors="replace")
        res.update(sglang_server.dynamo_in_log(log), limit_hits=log.count("hit config.recompile_limit"),
                   compile_mode_logged=sorted(set(re.findall(r"Compiling transformer with mode: (\S+)", log))))


def summary(res: dict) -> str:
    fmt = lambda key, spec: format(res[key], spec) if res.get(key) is not None else "-"  # noqa: E731
    return (f"sglang {res['sglang']} {res['variant']}{' without ' + ','.join(res['disabled']) if res['disabled'] else ''} ({res['mode']}){' (warm cache)' if res['warm_cache'] else ''}: "
            f"healthy {fmt('ready_s', '.1f')} s, first image {fmt('first_image_s', '.1f')} s after launch, "
            f"steady {fmt('steady_s', '.2f')} s/request, recompiled frames {fmt('recompiles', 'd')}, peak {fmt('peak_gib', '.1f')} GiB (nvidia-smi {fmt('peak_gib_smi', '.1f')}), "
            f"breaks {fmt('breaks', 'd')}, limit hits {fmt('limit_hits', 'd')}{'' if res['complete'] else ', INCOMPLETE'}")


def native_norms(model: str, gpu: str | None) -> bool:
    """Wan's CuTe DSL norm kernels need nvidia-cutlass-dsl, too large to carry to the GPU machine: there the norms
    take their own forward_native (on CPU sglang never calls the CUDA kernels)."""
    import importlib.util

    return model.startswith("Wan") and gpu is not None and importlib.util.find_spec("cutlass") is None


def stood_in(native: bool) -> list[str]:
    """The import-only stand-ins (patches/sglang/standins) that the server's processes, on this PYTHONPATH, import
    in place of the real packages, and the CuTe DSL norms where they run natively."""
    import importlib.util

    names = ("sgl_kernel", "av", "imageio_ffmpeg")
    found = [n for n in names if (spec := importlib.util.find_spec(n)) and "standins" in pathlib.Path(spec.origin or "").parts]
    return found + (["CuTe DSL norms: forward_native"] if native else [])


class GpuMemoryPeak:
    """The most GPU memory in use while inside (nvidia-smi's `memory.used` every 0.5 s: the server's whole process
    tree, CUDA context included), kept in GiB in res["peak_gib_smi"] as it rises, so a stopped run keeps it too.
    sglang 0.5.10's replies carry no peak of their own. Nothing is kept where nvidia-smi is missing."""

    def __init__(self, res: dict):
        self.res = res

    def __enter__(self):
        try:
            self.poller = subprocess.Popen(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "500"],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            self.poller = None
            return self
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self):
        for line in self.poller.stdout:
            if line.strip().isdigit():
                gib = int(line) / 1024
                self.res["peak_gib_smi"] = max(gib, self.res.get("peak_gib_smi") or 0.0)

    def __exit__(self, *exc):
        if self.poller:
            self.poller.terminate()
            self.poller.wait(10)


def gpu_name() -> str | None:
    """The GPU's name from nvidia-smi (this process never touches CUDA itself: the server owns the GPU)."""
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=30).stdout.splitlines()[0].strip() or None
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"[bench_sglang_serve {args.variant} %(relativeCreated)6.0f ms] %(message)s")
    gpu = gpu_name()
    args.native_norms = native_norms(args.model, gpu)  # decided once: server_env and the record read it
    res = {"host": "sglang", "sglang": importlib.metadata.version("sglang"), "torch": importlib.metadata.version("torch"), "gpu": gpu, "stood_in": stood_in(args.native_norms),
           "model": args.model, "variant": args.variant, "fluxfix": VARIANTS[args.variant][1]["FLUXFIX"] == "1", "mode": args.mode, "warm_cache": args.warm_cache, "complete": False,
           "disabled": [n for n in args.disable.split(",") if n],
           "size": args.size, "steps": args.steps, "requests": [],
           "env": {k: os.environ.get(k) for k in ("TORCHINDUCTOR_CACHE_DIR", "TVM_FFI_CACHE_DIR", "SGLANG_DIFFUSION_CACHE_ROOT")}}
    common.record(lambda: run(args, res), lambda: totals(res), res, args.out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
