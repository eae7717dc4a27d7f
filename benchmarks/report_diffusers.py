#!/usr/bin/env python3
"""Table and plot of bench_diffusers.py results (the last line per model and variant wins).

    python benchmarks/report_diffusers.py benchmarks/results/diffusers-call*.jsonl --plot benchmarks/results/diffusers-h200.png
"""
from __future__ import annotations

import argparse
import json

ORDER = ["bf16-eager", "bf16-regional", "bf16-whole", "fp8-eager", "fp8-whole-unpatched", "fp8-regional", "fp8-whole",
         "bf16-remedy", "go-eager", "go-whole-unpatched", "go-whole", "gostream-eager", "gostream-whole-unpatched", "gostream-whole",
         "goleaf-eager", "goleaf-whole-unpatched", "goleaf-whole", "goleafstream-eager", "goleafstream-whole-unpatched", "goleafstream-whole",
         "fbc-eager", "fbc-regional-unpatched", "fbc-regional", "ts-eager", "ts-regional-unpatched", "ts-regional",
         "mag-eager", "mag-regional-unpatched", "mag-regional"]


def load(paths):
    runs = {}
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            runs[(r["model"], r["variant"])] = r  # later phases of a run extend its earlier lines
    return runs


def cell(r, key, fmt):
    return fmt.format(r[key]) if key in r else "-"


def table(runs) -> str:
    rows = ["| model | variant | fluxfix | weights GiB | GPU-resident GiB | peak GiB | 1st call s | ms/forward | graphs | breaks | recompile limit hit | 2nd res 1st call s | 2nd res ms | graphs after | rel L2 vs eager |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (model, variant), r in sorted(runs.items(), key=lambda kv: (kv[0][0], ORDER.index(kv[0][1]))):
        rows.append(f"| {model} | {variant} | {'yes' if r['fluxfix'] else 'no'} | {r['weight_gib']:.1f} | {cell(r, 'gpu_weight_gib', '{:.1f}')} | "
                    f"{cell(r, 'peak_gib', '{:.1f}')} | "
                    f"{cell(r, 'res1_first_call_s', '{:.1f}')} | {cell(r, 'res1_ms', '{:.1f}')} | {cell(r, 'res1_graphs', '{}')} | "
                    f"{cell(r, 'res1_breaks', '{}')} | {'yes' if r.get('limit_hits') else 'no'} | {cell(r, 'res2_first_call_s', '{:.1f}')} | {cell(r, 'res2_ms', '{:.1f}')} | "
                    f"{cell(r, 'res2_graphs', '{}')} | {cell(r, 'rel_l2_vs_eager', '{:.4f}')} |")
    return "\n".join(rows)


def plot(runs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({m for m, _ in runs})
    fig, axes = plt.subplots(2, len(models), figsize=(6 * len(models), 7), squeeze=False)
    for col, model in enumerate(models):
        mine = [(v, runs[(model, v)]) for v in ORDER if (model, v) in runs]
        names = [v + (" +fluxfix" if r["fluxfix"] and not v.endswith("eager") else "") for v, r in mine]
        colors = ["tab:green" if r["fluxfix"] and not v.endswith("eager") else "tab:gray" for v, r in mine]
        for row, (key, label) in enumerate((("res1_ms", "ms per forward (first resolution)"), ("res1_first_call_s", "first call, compile included (s)"))):
            ax = axes[row][col]
            ax.barh(names, [r.get(key, 0) for _, r in mine], color=colors)
            ax.set_title(f"{model}: {label}")
            for i, (_, r) in enumerate(mine):
                ax.text(r.get(key, 0), i, f" {r[key]:.1f}" if key in r else " -", va="center")
    fig.suptitle("diffusers 0.42.1 on one H200, torch 2.11, full depth, random weights (green: compiled with fluxfix)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--plot")
    args = parser.parse_args(argv)
    runs = load(args.results)
    print(table(runs))
    if args.plot:
        plot(runs, args.plot)


if __name__ == "__main__":
    main()
