#!/usr/bin/env python3
"""benchmarks/bench_sglang_serve.py on this machine's CPU: sglang 0.5.23 from the test host dirs
(tests/hostenv.py --all) serving the small FLUX.1-dev folder (float32, 2 steps, 64x64 and two more
resolutions), every variant one after another, each compiling into its own inductor cache; `regional` is
started twice, the second time on the first one's cache. A CPU's numbers: what dynamo does in sglang's
worker (frames, breaks, recompiles) and what compile costs here, not a GPU's speed. Then the table.

    python benchmarks/sglang_serve_cpu.py OUTDIR
"""
from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from hostenv import host_env  # noqa: E402

RUNS = [("eager", False), ("compiled", False), ("compiled-fluxfix", False), ("regional", False), ("regional", True),
        ("upstream-regional", False), ("upstream-regional-fluxfix", False)]


def main(out: str) -> int:
    out_dir = pathlib.Path(out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "sglang-serve-cpu.jsonl"
    env = host_env("sglang", "0.5.23")
    for variant, warm in RUNS:
        cache = out_dir / f"inductor-{variant}"
        if not warm:
            shutil.rmtree(cache, ignore_errors=True)
        subprocess.run([sys.executable, str(HERE / "bench_sglang_serve.py"), "--variant", variant, "--size", "small",
                        "--device", "cpu", "--steps", "2", "--requests", "6", "--folder", str(out_dir), "--log-dir", str(out_dir),
                        "--out", str(results), *(["--warm-cache"] if warm else [])],
                       env={**env, "TORCHINDUCTOR_CACHE_DIR": str(cache)}, check=False)
    return subprocess.run([sys.executable, str(HERE / "report_pipeline.py"), str(results), "--plot", str(out_dir / "sglang-serve-cpu.png")]).returncode


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("outdir", help="where the model folder, logs, results and plot go")
    sys.exit(main(parser.parse_args().outdir))
