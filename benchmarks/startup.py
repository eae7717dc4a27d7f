"""Start-up cost of fluxfix, side by side in one run.

Builds two throwaway venvs from this interpreter, one with fluxfix installed (its auto-load file
included) and one without, then times interpreter start-up alternately in both, and
`import fluxfix` with no host imported.
Usage: python benchmarks/startup.py [--runs N] [--with-torch PYTHON]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def venv(path: Path, with_fluxfix: bool) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    python = path / "bin" / "python"
    packages = ["wrapt", "pluggy", "packaging", "setuptools", "wheel"]
    subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True)
    if with_fluxfix:
        subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", str(REPO)], check=True)
    return python


def wall_ms(cmd: list, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    return (time.perf_counter() - start) * 1000


def import_time_us(python: Path, env: dict) -> int:
    """Cumulative import time of fluxfix, as `python -X importtime` reports it."""
    err = subprocess.run([python, "-X", "importtime", "-c", "import fluxfix"], env=env, capture_output=True, text=True, check=True).stderr
    rows = [line.split("|") for line in err.splitlines() if line.rstrip().endswith("| fluxfix")]
    return int(rows[-1][1])


def in_process_ms(python: str, prelude: str, runs: int) -> list[float]:
    """`import fluxfix` timed inside a fresh process after `prelude` (what a real script has
    imported already: torch, a host), one process per run."""
    code = f"{prelude}\nimport time\nt = time.perf_counter()\nimport fluxfix\nprint((time.perf_counter() - t) * 1e3)"
    env = {"PATH": "/usr/bin:/bin", "PYTHONWARNINGS": "ignore"}
    return [float(subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()[-1])
            for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--with-torch", metavar="PYTHON", help="an interpreter with torch and fluxfix installed: also time "
                        "`import fluxfix` after `import torch` (what a diffusion script has imported already)")
    args = parser.parse_args()
    env = {"PATH": "/usr/bin:/bin"}  # FLUXFIX unset
    with tempfile.TemporaryDirectory() as tmp:
        with_ff, without = venv(Path(tmp, "with"), True), venv(Path(tmp, "without"), False)
        cases = {
            "python -c pass, fluxfix installed, FLUXFIX unset": [with_ff, "-c", "pass"],
            "python -c pass, fluxfix not installed": [without, "-c", "pass"],
            "python -c 'import fluxfix' (no host imported)": [with_ff, "-c", "import fluxfix"],
        }
        times = {name: [] for name in cases}
        for _ in range(args.runs):  # interleaved, so drift hits every case alike
            for name, cmd in cases.items():
                times[name].append(wall_ms(cmd, env))
        imports = [import_time_us(with_ff, env) for _ in range(10)]
    print(f"python {sys.version.split()[0]}, {args.runs} runs each, interleaved; wall time of the whole process")
    print("| case | median ms | p10 ms | p90 ms |\n|---|---|---|---|")
    for name, values in times.items():
        q = statistics.quantiles(values, n=10)
        print(f"| {name} | {statistics.median(values):.2f} | {q[0]:.2f} | {q[-1]:.2f} |")
    on, off = (statistics.median(times[k]) for k in list(cases)[:2])
    print(f"\nauto-load when off: {on - off:+.2f} ms (median difference)")
    print(f"import fluxfix, -X importtime cumulative: median {statistics.median(imports) / 1000:.1f} ms over 10 runs")
    if args.with_torch:
        after_torch = in_process_ms(args.with_torch, "import torch", 10)
        print(f"import fluxfix after import torch (in-process): median {statistics.median(after_torch):.1f} ms over 10 runs")


if __name__ == "__main__":
    main()
