#!/usr/bin/env python3
"""Table (markdown, to stdout) and plot (PNG) of bench_sglang.py results, and of the graph counts
`fluxfix doctor` found (run_gpu.sh's doctor runs) as a second panel.

    python benchmarks/report_sglang.py benchmarks/results/call8.jsonl --png out.png \
        --doctor benchmarks/results/call9-doctor.jsonl benchmarks/results/call10-doctor.jsonl

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
    return f"{r.get('model', 'flux')} sglang {r.get('host_version', '?')} {r['variant']}{label}"


def graphs_breaks(r):
    """From the explain pass where it ran, else from the compile's own dynamo counters."""
    if "explain" in r:
        return r["explain"]["graphs"], r["explain"]["breaks"]
    return r["dynamo"]["unique_graphs"], r["dynamo"]["graph_breaks"]


def table(rows):
    head = ("| run | variant | mode | graphs | breaks | compile s | inductor cache | eager ms median | "
            "compiled ms median | p10 / p90 | vs eager | peak GiB | max abs err | max rel err | rel L2 err |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        if r.get("status") != "ok":
            print(f"| {r['_src']} | {name(r)} | {r['mode']} | | | | | | | | | | | | {str(r.get('status')).splitlines()[0][:160]} |")
            continue
        c, e = r["compiled_ms"], r["eager_ms"]
        graphs, breaks = graphs_breaks(r)
        print(f"| {r['_src']} | {name(r)} | {r['mode']} | {graphs} | {breaks} | "
              f"{r['compile_s']:.1f} | {r['_cache']} | {e['median']:.3f} | {c['median']:.3f} | "
              f"{c['p10']:.3f} / {c['p90']:.3f} | x{r['speedup']:.3f} | {r['compiled_peak_gib']:.3f} | "
              f"{r['max_abs_err']:.4g} | {r['max_rel_err']:.4g} | {r['rel_l2_err']:.4g} |")


def latest_doctor_cases(paths):
    """label -> (doctor header, case), the last run of each release, model and QK-norm/RoPE path
    (give the files oldest first). The fallback path is told by the break only it has: the in-place
    QK-norm JIT kernel (a torch op in 0.5.23, where the two paths give the same counts)."""
    found = {}
    for path in paths:
        for line in open(path):
            d = json.loads(line)
            for case in d["cases"]:
                fallback = any(b["where"].startswith("sglang/jit_kernel/norm.py") for b in case["breaks"])
                found[f"{d['model']} {d['host_version']}" + (" fallback path" if fallback else "")] = (d, case)
    return dict(sorted(found.items()))


def doctor_table(paths):
    print("| model, release | graphs | breaks | frames abandoned | break site (host file:line) | reason | breaks | fixed by |")
    print("|---|---|---|---|---|---|---|---|")
    for label, (d, case) in latest_doctor_cases(paths).items():
        b, a = case["without"], case["with"]
        stopped = " / ".join(filter(None, (b["error"], a["error"])))
        head = (f"| {label} | {b['graphs']} -> {a['graphs']} | {b['breaks']} -> {a['breaks']} | "
                f"{b['frames_abandoned']} -> {a['frames_abandoned']} |")
        sites = case["breaks"] or [None]
        for i, site in enumerate(sites):
            first = head if i == 0 else "| | | | |"
            if site is None:
                print(f"{first} none | | | {('stopped: ' + stopped[:120]) if stopped else ''} |")
                continue
            print(f"{first} `{site['where']}` | {site['reason'][:60]} | {site['before']} -> {site['after']} | {site['fixed_by'][:70]} |")


def doctor_rows(paths):
    """(label, graphs without, graphs with) for the graph-count panel; runs stopped by an error
    are left out."""
    return [(label, case["without"]["graphs"], case["with"]["graphs"])
            for label, (d, case) in latest_doctor_cases(paths).items()
            if not (case["without"]["error"] or case["with"]["error"])]


def plot(rows, png, doctor=()):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.get("status") == "ok"]
    key = lambda r: (r.get("model", "flux"), str(r.get("layers", "2,4")), r["mode"])  # noqa: E731
    panels = sorted({key(r) for r in rows})
    n = len(panels) + bool(doctor)
    cols = min(3, n)
    lines = -(-n // cols)
    fig, axes = plt.subplots(lines, cols, figsize=(8 * cols, 5.5 * lines), squeeze=False)
    axes = list(axes.flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax, panel in zip(axes, panels):
        sel = [r for r in rows if key(r) == panel]
        ys = range(len(sel))
        med = [r["compiled_ms"]["median"] for r in sel]
        err = [[m - r["compiled_ms"]["p10"] for m, r in zip(med, sel)], [r["compiled_ms"]["p90"] - m for m, r in zip(med, sel)]]
        colors = ["tab:green" if r["variant"] == "fluxfix" else ("tab:blue" if r.get("host_version") == "0.5.11" else "tab:red") for r in sel]
        ax.barh(list(ys), med, xerr=err, color=colors, alpha=0.8, capsize=3, label="compiled (median, p10-p90)")
        ax.scatter([r["eager_ms"]["median"] for r in sel], list(ys), marker="|", s=300, color="black", zorder=3, label="eager median")
        ax.set_yticks(list(ys))
        ax.set_yticklabels([f"{r.get('host_version', '?')} {r['variant']}{' (' + r['label'] + ')' if r.get('label') else ''}\n"
                            f"{graphs_breaks(r)[0]} graph(s) [{r['_src']}]" for r in sel], fontsize=7)
        # zoomed: the differences are a few percent; the axis does not start at 0
        low = min(med + [r["eager_ms"]["median"] for r in sel])
        ax.set_xlim(left=0.9 * low)
        shape = sel[0].get("inputs", {}).get("hidden_states")
        ax.set_xlabel(f"ms per transformer forward, axis zoomed (bf16; hidden_states {shape})")
        ax.set_title(f"{sel[0].get('what', panel[0])}\nmode={panel[2]}", fontsize=9)
        ax.invert_yaxis()
        ax.legend(fontsize=8, loc="lower right")
    if doctor:
        ax = axes[len(panels)]
        found = doctor_rows(doctor)
        ys = range(len(found))
        ax.barh([y - 0.2 for y in ys], [f[1] for f in found], height=0.4, color="tab:red", label="sglang unpatched")
        ax.barh([y + 0.2 for y in ys], [f[2] for f in found], height=0.4, color="tab:green", label="with fluxfix")
        ax.set_yticks(list(ys))
        ax.set_yticklabels([f[0] for f in found], fontsize=8)
        ax.set_xlabel("graphs per forward (fluxfix doctor --device cuda, 1 block of each kind)")
        ax.set_title("graphs dynamo made of one forward")
        ax.invert_yaxis()
        ax.legend(fontsize=8, loc="lower right")
    r0 = rows[0]
    fig.suptitle(f"sglang transformers at full width, {r0.get('gpu', '?')}, torch {r0.get('torch', '?')}; "
                 "red: unpatched, green: + fluxfix, blue: 0.5.11 unpatched (upstream fix); "
                 "whiskers p10-p90, black tick: eager median", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+")
    p.add_argument("--png")
    p.add_argument("--doctor", nargs="*", default=[], help="doctor.jsonl files for the graph-count panel")
    a = p.parse_args()
    rows = load(a.results)
    table(rows)
    if a.doctor:
        print()
        doctor_table(a.doctor)
    if a.png:
        plot(rows, a.png, a.doctor)
