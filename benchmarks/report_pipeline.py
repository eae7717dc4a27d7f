#!/usr/bin/env python3
"""Table and plot of bench_pipeline.py results (the last line per variant and cache state wins).

    python benchmarks/report_pipeline.py benchmarks/results/pipeline-call*.jsonl [--plot benchmarks/results/pipeline-h200.png]
"""
from __future__ import annotations

import argparse
import json
import pathlib

ORDER = ["eager", "compiled", "compiled-fluxfix", "regional", "upstream-regional", "fp8-eager", "fp8-compiled", "fp8-compiled-fluxfix"]
PLOT = pathlib.Path(__file__).resolve().parent / "results" / "pipeline-h200.png"


def load(paths) -> dict:
    runs = {}
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            runs[(r["variant"], r["warm_cache"])] = r
    return runs


def per_recompile(r) -> float | None:
    """Seconds a recompiling request took beyond the steady state, per graph it compiled."""
    compiling = [q for q in r["requests"] if q["new_graphs"]]
    if not compiling or r.get("steady_s") is None:
        return None
    return sum(q["seconds"] - r["steady_s"] for q in compiling) / sum(q["new_graphs"] for q in compiling)


def cell(value, fmt="{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def variants(runs) -> list:
    return [v for v in ORDER if (v, False) in runs] + sorted({v for v, _ in runs} - set(ORDER))


def table(runs) -> str:
    rows = ["| variant | fluxfix | load s | first request s | steady s/image | recompiles | s per recompile | warm-start first request s | peak GiB | breaks | limit hits |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in variants(runs):
        r, warm = runs.get((v, False)), runs.get((v, True))
        if r is None:
            continue
        name = v if r["complete"] else f"{v} (stopped)"
        rows.append(f"| {name} | {'yes' if r['env']['FLUXFIX'] == '1' else 'no'} | {cell(r.get('load_s'))} | {cell(r.get('first_request_s'))} | "
                    f"{cell(r.get('steady_s'), '{:.2f}')} | {cell(r.get('recompiles'), '{}')} | {cell(per_recompile(r))} | "
                    f"{cell(warm and warm.get('first_request_s'))} | {cell(r.get('peak_gib'))} | {cell(r.get('graph_breaks'), '{}')} | {r['limit_hits']} |")
    return "\n".join(rows)


def plot(runs, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = [(v, runs[(v, False)]) for v in variants(runs) if (v, False) in runs]
    names = [v for v, _ in mine]
    colors = ["tab:green" if r["env"]["FLUXFIX"] == "1" else "tab:gray" for _, r in mine]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(mine) + 2))
    panels = (("first_request_s", "first request, compile included (s)", "{:.1f}"), ("steady_s", "steady state (s per image)", "{:.2f}"))
    for ax, (key, label, fmt) in zip(axes, panels):
        values = [r.get(key) or 0 for _, r in mine]
        ax.barh(names, values, color=colors)
        ax.invert_yaxis()
        ax.set_title(label)
        for i, (_, r) in enumerate(mine):
            ax.text(values[i], i, " " + cell(r.get(key), fmt), va="center")
    r = mine[0][1]
    fig.suptitle(f"{r.get('model', 'FLUX.1-dev')} pipeline, diffusers {r['diffusers']}, torch {r['torch']}, {r.get('gpu', r['device'])}, {r['size']} size, "
                 f"{r['steps']} steps, random weights (green: with fluxfix)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--plot", default=str(PLOT))
    args = parser.parse_args(argv)
    runs = load(args.results)
    print(table(runs))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("no plot: matplotlib is not installed")
        return
    plot(runs, args.plot)


if __name__ == "__main__":
    main()
