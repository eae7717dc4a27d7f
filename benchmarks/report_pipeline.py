#!/usr/bin/env python3
"""Table and plot of bench_pipeline.py (diffusers) and bench_sglang_serve.py (sglang) results; the last line per
run name and cache state wins. A run's name is its variant, for sglang with its release and compile mode.

    python benchmarks/report_pipeline.py benchmarks/results/pipeline-call*.jsonl [--plot benchmarks/results/pipeline-h200.png]

sglang rows: "load s" is launch to /health answering and "first request s" launch to the first image back
(0.5.2x compiles while warming up before /health answers, 0.5.10 at the first request).
"""
from __future__ import annotations

import argparse
import json

ORDER = ["eager", "compiled", "compiled-fluxfix", "regional", "upstream-regional", "upstream-regional-fluxfix", "fp8-eager", "fp8-compiled", "fp8-compiled-fluxfix"]


def load(paths) -> dict:
    runs = {}
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            if r.get("host") == "sglang":  # bench_sglang_serve.py's names for the same figures
                r = {**r, "load_s": r.get("ready_s"), "first_request_s": r.get("first_image_s"), "graph_breaks": r.get("breaks"),
                     "requests": [{**q, "new_graphs": q["new_frames"]} for q in r["requests"]]}
            runs[(name(r), r["warm_cache"])] = r
    return runs


def name(r) -> str:
    if r.get("host") == "sglang":
        return f"sglang {r['sglang']} {r['variant']}{' without ' + ','.join(r['disabled']) if r.get('disabled') else ''}, {r['mode']} mode"
    return r["variant"] if r.get("mode", "default") == "default" else f"{r['variant']}, {r['mode']} mode"


def fluxfix_on(r) -> bool:
    if r.get("host") == "sglang":
        return r["fluxfix"]
    return r["env"]["FLUXFIX"] == "1"


def per_recompile(r) -> float | None:
    """Seconds a recompiling request took beyond the steady state, per graph it compiled."""
    compiling = [q for q in r["requests"] if q["new_graphs"]]
    if not compiling or r.get("steady_s") is None:
        return None
    return sum(q["seconds"] - r["steady_s"] for q in compiling) / sum(q["new_graphs"] for q in compiling)


def unit(runs) -> str:
    """What one request makes: Wan's are videos."""
    return "video" if any(r.get("model", "").startswith("Wan") for r in runs.values()) else "image"


def cell(value, fmt="{:.1f}") -> str:
    return "-" if value is None else fmt.format(value)


def variants(runs) -> list:
    """Run names in order: sglang's by compile mode and release, then each host's variants in ORDER."""
    def key(n):
        r = runs.get((n, False)) or runs[(n, True)]
        return r.get("mode", ""), r.get("sglang", ""), ORDER.index(r["variant"]) if r["variant"] in ORDER else len(ORDER), n

    return sorted({n for n, _ in runs}, key=key)


def table(runs) -> str:
    rows = [f"| variant | fluxfix | load s | first request s | steady s/{unit(runs)} | recompiles | s per recompile | warm-start first request s | peak GiB | breaks | limit hits |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for v in variants(runs):
        r, warm = runs.get((v, False)), runs.get((v, True))
        if r is None:
            continue
        name = v if r["complete"] else f"{v} (stopped)"
        rows.append(f"| {name} | {'yes' if fluxfix_on(r) else 'no'} | {cell(r.get('load_s'))} | {cell(r.get('first_request_s'))} | "
                    f"{cell(r.get('steady_s'), '{:.2f}')} | {cell(r.get('recompiles'), '{}')} | {cell(per_recompile(r))} | "
                    f"{cell(warm and warm.get('first_request_s'))} | {cell(r.get('peak_gib') or r.get('peak_gib_smi'))} | {cell(r.get('graph_breaks'), '{}')} | {r['limit_hits']} |")
    return "\n".join(rows)


def plot(runs, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mine = [(v, runs[(v, False)]) for v in variants(runs) if (v, False) in runs]
    names = [v for v, _ in mine]
    colors = ["tab:green" if fluxfix_on(r) else "tab:gray" for _, r in mine]
    # one shared row label per variant: long names (a release, a disabled patch, a mode) would squeeze a second copy
    width = 8 + 0.09 * max(len(n) for n in names)
    fig, axes = plt.subplots(1, 2, figsize=(width, 0.5 * len(mine) + 2), sharey=True)
    panels = (("first_request_s", "first request, compile included (s)", "{:.1f}"), ("steady_s", f"steady state (s per {unit(runs)})", "{:.2f}"))
    for ax, (key, label, fmt) in zip(axes, panels):
        values = [r.get(key) or 0 for _, r in mine]
        ax.barh(names, values, color=colors)
        ax.set_xlim(0, 1.2 * max(values))  # room for the value written after each bar
        ax.set_title(label)
        for i, (_, r) in enumerate(mine):
            ax.text(values[i], i, " " + cell(r.get(key), fmt), va="center")
    axes[0].invert_yaxis()  # shared: inverted once
    r = mine[0][1]
    host = "sglang serve" if r.get("host") == "sglang" else f"diffusers {r['diffusers']}"
    fig.suptitle(f"{r.get('model', 'FLUX.1-dev')} pipeline, {host}, torch {r['torch']}, {r.get('gpu', r.get('device', ''))}, {r['size']} size, "
                 f"{r['steps']} steps, random weights (green: with fluxfix)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+")
    parser.add_argument("--plot", help="write a plot of first request and steady state to this PNG (needs matplotlib)")
    args = parser.parse_args(argv)
    runs = load(args.results)
    print(table(runs))
    if not args.plot:  # a plot only when asked for: the committed ones are results
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("no plot: matplotlib is not installed")
        return
    plot(runs, args.plot)


if __name__ == "__main__":
    main()
