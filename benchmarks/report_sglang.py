#!/usr/bin/env python3
"""Table (markdown, to stdout) and plot (PNG) of bench_sglang.py results.

    python benchmarks/report_sglang.py benchmarks/results/call*.jsonl --png benchmarks/results/flux1.png

Numbers are printed as measured (3 decimals for ms, which is what the JSON holds to ~1e-3 ms).
benchmarks/results/cache_state.json, if present, says whether each run compiled cold.
"""
import argparse
import json
import os


def load(paths):
    rows = []
    for path in paths:
        notes_path = os.path.join(os.path.dirname(path), "cache_state.json")
        notes = json.load(open(notes_path)) if os.path.exists(notes_path) else {}
        for i, line in enumerate(open(path), 1):
            r = json.loads(line)
            r["_src"] = f"{os.path.basename(path)}:{i}"
            r["_cache"] = notes.get(r["_src"], "?")
            rows.append(r)
    return rows


def name(r):
    label = f" ({r['label']})" if r.get("label") else ""
    return f"sglang {r.get('host_version', '?')} {r['variant']}{label}"


def table(rows):
    head = ("| run | variant | mode | graphs | breaks | compile s | inductor cache | eager ms median | "
            "compiled ms median | p10 / p90 | vs eager | peak GiB | max abs err | max rel err | rel L2 err |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        if r.get("status") != "ok":
            print(f"| {r['_src']} | {name(r)} | {r['mode']} | | | | | | | | | | | | {r.get('status')} |")
            continue
        c, e = r["compiled_ms"], r["eager_ms"]
        print(f"| {r['_src']} | {name(r)} | {r['mode']} | {r['explain']['graphs']} | {r['explain']['breaks']} | "
              f"{r['compile_s']:.1f} | {r['_cache']} | {e['median']:.3f} | {c['median']:.3f} | "
              f"{c['p10']:.3f} / {c['p90']:.3f} | x{r['speedup']:.3f} | {r['compiled_peak_gib']:.3f} | "
              f"{r['max_abs_err']:.4g} | {r['max_rel_err']:.4g} | {r['rel_l2_err']:.4g} |")


def plot(rows, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("status") == "ok"]
    modes = sorted({r["mode"] for r in rows}, key=lambda m: m != "default")
    fig, axes = plt.subplots(1, len(modes), figsize=(7 * len(modes), 5.5), squeeze=False)
    for ax, mode in zip(axes[0], modes):
        sel = [r for r in rows if r["mode"] == mode]
        ys = range(len(sel))
        med = [r["compiled_ms"]["median"] for r in sel]
        err = [[m - r["compiled_ms"]["p10"] for m, r in zip(med, sel)], [r["compiled_ms"]["p90"] - m for m, r in zip(med, sel)]]
        colors = ["tab:green" if r["variant"] == "fluxfix" else ("tab:blue" if r.get("host_version") == "0.5.11" else "tab:red") for r in sel]
        ax.barh(list(ys), med, xerr=err, color=colors, alpha=0.8, capsize=3, label="compiled (median, p10-p90)")
        ax.scatter([r["eager_ms"]["median"] for r in sel], list(ys), marker="|", s=300, color="black", zorder=3, label="eager median")
        ax.set_yticks(list(ys))
        ax.set_yticklabels([f"{name(r)} [{r['_src']}]" for r in sel], fontsize=8)
        ax.set_xlim(15, max(max(r["compiled_ms"]["p90"], r["eager_ms"]["median"]) for r in sel) + 1)
        ax.set_xlabel("ms per transformer forward (bf16, 4096+512 tokens); axis starts at 15 ms")
        ax.set_title(f"mode={mode}")
        ax.invert_yaxis()
        ax.legend(fontsize=8, loc="lower right")
    r0 = rows[0]
    fig.suptitle(f"sglang FLUX.1 transformer ({r0['double']} double + {r0['single']} single blocks, full width), "
                 f"{r0.get('gpu', '?')}, torch {r0.get('torch', '?')}\n"
                 "red: 0.5.10 unpatched, green: + fluxfix, blue: 0.5.11 unpatched (upstream fix); bar: compiled median, "
                 "whiskers p10-p90, black tick: eager median", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+")
    p.add_argument("--png")
    a = p.parse_args()
    rows = load(a.results)
    table(rows)
    if a.png:
        plot(rows, a.png)
