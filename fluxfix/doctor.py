"""`fluxfix doctor`: every graph break of a real host model (or, where the model cannot be built on
this machine, of the host's real components), with and without fluxfix, each with dynamo's reason,
its place in the host's code, and the fluxfix patch that removes it."""
from __future__ import annotations

import importlib
import json
import os
import sys
import time
from dataclasses import dataclass, field

from fluxfix.breaks import Break, CompileReport, compile_report

EXIT_OK, EXIT_BREAKS_REMAIN, EXIT_ERROR = 0, 1, 2  # 2: doctor could not run (bad arguments, no host, no device)
NO_PATCH = "no patch yet"
GPU_ONLY = "n/a: GPU-only code traced on a machine without a GPU"
BY_DESIGN = "by design: the host wraps this call in torch.compiler.disable (a decision it keeps out of the graph)"
SCHEMA_VERSION = 2
ENV_PREFIXES = ("FLUXFIX", "SGLANG_", "TORCH_", "TORCHINDUCTOR_")  # settings that change which code paths run


@dataclass
class Row:
    """One break site of one case: how often it broke without and with fluxfix, and why."""

    where: str
    code: str
    reason: str
    before: int
    after: int
    frame_abandoned: bool
    fixed_by: str  # patch names, NO_PATCH, or a patch that would remove it and why it did not

    def as_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class Outcome:
    name: str
    what: str
    before: CompileReport
    after: CompileReport
    rows: list[Row] = field(default_factory=list)

    @property
    def unremoved(self) -> list[Row]:
        return [r for r in self.rows if r.after and not r.fixed_by.startswith(("removed", "n/a", "by design"))]


def _progress(start: float, text: str) -> None:
    print(f"[doctor +{time.time() - start:5.1f}s] {text}", file=sys.stderr, flush=True)


def _explaining(brk: Break, patches) -> list:
    return [p for p in patches if p.explains(brk)]


def _boundaries(patches, records) -> str:
    """What the applied patches keep out of the graph on purpose (`Patch.boundary`), in words."""
    return "; ".join(f"{p.name} keeps {p.boundary} out of the graph" for p in patches
                     if p.boundary and records.get(p.name) is not None and records[p.name].verdict.value == "applied")


def gpu_only(brk: Break) -> bool:
    """Triton kernels and their launchers: on a machine without a GPU they break (or fail) where a
    GPU machine compiles them, so they say nothing about the host's code."""
    return brk.file.startswith("triton/") or "/triton/" in brk.file


def disabled_by_host(brk: Break) -> bool:
    """dynamo stopped at a function the host itself marked `torch.compiler.disable`."""
    reason = brk.reason.lower()
    return "compiler.disable" in reason or "disabled function" in reason or "skip calling" in reason


def compare(name: str, what: str, before: CompileReport, after: CompileReport, patches, records, has_gpu=True) -> Outcome:
    key = lambda b: (b.where, b.reason)  # noqa: E731
    before_by, after_by = {key(b): b for b in before.sites}, {key(b): b for b in after.sites}
    outcome = Outcome(name, what, before, after)
    boundaries = _boundaries(patches, records)
    for site in {**before_by, **after_by}:  # each place once: first those seen without fluxfix
        brk = before_by.get(site) or after_by[site]
        was = before_by[site].count if site in before_by else 0
        count_after = after_by[site].count if site in after_by else 0
        fixers = _explaining(brk, patches)
        if count_after == 0:
            fixed_by = "removed by " + (", ".join(p.name for p in fixers) if fixers else "fluxfix")
        elif not has_gpu and gpu_only(brk):
            fixed_by = GPU_ONLY
        elif was == 0 and disabled_by_host(brk) and boundaries:
            fixed_by = "by design: " + boundaries
        elif disabled_by_host(brk):
            fixed_by = BY_DESIGN
        elif fixers:
            fixed_by = "; ".join(f"{p.name}: {records[p.name].verdict.value} ({records[p.name].reason[:80]})" for p in fixers)
        else:
            fixed_by = NO_PATCH
        outcome.rows.append(Row(brk.where, brk.code, brk.reason, was, count_after, brk.frame_abandoned, fixed_by))
    return outcome


def device_problem(device: str) -> str | None:
    """Why `device` cannot run a model here, checked before anything is built."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        return f"{device!r} is not a torch device ({str(exc).splitlines()[0]}); use cpu or cuda"
    if dev.type == "cpu":
        return None
    module = getattr(torch, dev.type, None)
    if module is None or not hasattr(module, "is_available") or not module.is_available():
        return f"no {dev.type} device is available on this machine; use --device cpu"
    return None


def choose_host(host: str | None, hosts: dict) -> tuple[str | None, str | None]:
    """The host to run: the one asked for, else the first installed one. (host, or None and why)."""
    from fluxfix.engine import host_version

    if host is not None:
        if host not in hosts:
            return None, f"unknown host {host!r}; fluxfix knows: {', '.join(hosts) or '(none installed)'}"
        if host_version(host) is None:
            return None, (f"{host} is not installed in this environment; install the release you run "
                          f"(e.g. pip install {host}==<version>) and run doctor again")
        return host, None
    installed = [h for h in hosts if hosts[h].doctor and host_version(h) is not None]
    if not installed:
        return None, f"none of the hosts fluxfix knows ({', '.join(hosts)}) is installed here; install one and run doctor again"
    return installed[0], None


def run(host: str | None, model: str, layers: int, device: str, dtype_name: str, json_path: str | None,
        features: tuple[str, ...] = (), simulate: str | None = None) -> int:
    start = time.time()
    import torch

    import fluxfix
    from fluxfix.engine import ENGINE, host_version

    ENGINE.load_patches()
    host, problem = choose_host(host, ENGINE.hosts)
    problem = problem or device_problem(device)
    declared = ENGINE.hosts[host] if host else None
    if declared is not None and not problem:
        unknown = [f for f in features if f not in declared.features]
        if unknown:
            problem = (f"unknown feature(s) {', '.join(unknown)} for {host}; choose from: "
                       f"{', '.join(declared.features) or '(none)'}")
    simulated = None
    if declared is not None and not problem and simulate:
        try:
            simulated = declared.simulate(simulate)  # before the host is imported: it reads its platform then
        except (ValueError, RuntimeError) as exc:
            problem = str(exc)
    if problem:
        print(f"fluxfix doctor: {problem}", file=sys.stderr)
        return EXIT_ERROR
    version = host_version(host)
    dtype = getattr(torch, dtype_name)
    builder = importlib.import_module(declared.doctor)
    if model not in builder.MODELS:
        print(f"fluxfix doctor: unknown model {model!r} for {host}; choose one of: {', '.join(builder.MODELS)}", file=sys.stderr)
        return EXIT_ERROR
    _progress(start, f"building {host} {version} {model} on {device} ({dtype_name})" + (f" with {', '.join(features)}" if features else ""))
    fluxfix.revert()  # built as the host builds it: hooks that register now get the host's own code
    try:
        cases, notes = builder.cases(model, layers, device, dtype, features) if features else builder.cases(model, layers, device, dtype)
    except ValueError as exc:  # a feature this machine or release cannot switch on, said by the builder
        print(f"fluxfix doctor: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if simulated:
        notes.insert(0, simulated)
    patches = list(ENGINE.load_patches().values())
    outcomes = []
    for case in cases:
        fluxfix.revert()
        _progress(start, f"{case.name}: one eager run (hosts build some modules lazily on the first call)")
        try:
            case.fn()
        except Exception as exc:  # e.g. a GPU kernel on a CPU machine: compiling still shows the breaks before it
            notes.append(f"{case.name}: eager run stopped here ({type(exc).__name__})")
        _progress(start, f"{case.name}: compiling without fluxfix")
        before = compile_report(case.fn, more=case.more)
        fluxfix.activate()
        ENGINE.import_targets()  # every patch in place, as in a process that has imported all their targets
        if case.rebuild:
            _progress(start, f"{case.name}: building again with fluxfix active (its hooks register now)")
            case = case.rebuild()
            case.fn()
        _progress(start, f"{case.name}: compiling with fluxfix")
        after = compile_report(case.fn, more=case.more)
        records = {r.name: r for r in fluxfix.status()}
        outcomes.append(compare(case.name, case.what, before, after, patches, records, torch.cuda.is_available()))
    _progress(start, "done")
    applied = sorted(r.name for r in fluxfix.status() if r.verdict.value == "applied")
    header = {"schema_version": SCHEMA_VERSION, "host": host, "host_version": version, "model": model, "layers": layers,
              "device": device, "dtype": dtype_name, "torch": torch.__version__, "features": list(features), "simulated": simulate, "applied": applied, "notes": notes,
              "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}}
    print_table(header, outcomes)
    if json_path:
        data = dict(header, cases=[{"name": o.name, "what": o.what, "without": o.before.as_dict(), "with": o.after.as_dict(),
                                    "breaks": [r.as_dict() for r in o.rows]} for o in outcomes],
                    unremoved=sum(len(o.unremoved) for o in outcomes))
        with (sys.stdout if json_path == "-" else open(json_path, "w")) as out:
            json.dump(data, out, indent=2)
            out.write("\n")
    return EXIT_BREAKS_REMAIN if any(o.unremoved for o in outcomes) else EXIT_OK


def _table(rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + str(r[-1]) for r in rows]


def print_table(header: dict, outcomes: list[Outcome]) -> None:
    print(f"fluxfix doctor: {header['host']} {header['host_version']}, {header['model']}, torch {header['torch']}, "
          f"{header['device']}, {header['dtype']}")
    if header["env"]:
        print("  settings: " + " ".join(f"{k}={v}" for k, v in header["env"].items()))
    for note in header["notes"]:
        print(f"  note: {note}")
    print()
    rows = [("case", "graphs", "breaks", "abandoned frames", "recompiles", "stopped (without / with)")]
    for o in outcomes:
        b, a = o.before, o.after
        rows.append((o.name, f"{b.graphs} -> {a.graphs}", f"{sum(b.breaks.values())} -> {sum(a.breaks.values())}",
                     f"{b.frames_abandoned} -> {a.frames_abandoned}", f"{b.recompiles} -> {a.recompiles}",
                     " / ".join(e or "-" for e in (b.error, a.error)) if (b.error or a.error) else ""))
    print("\n".join(_table(rows)))
    print("\n(each count: without fluxfix -> with fluxfix)\n")
    sites = [("case", "where", "breaks", "reason", "fixed by")]
    code = {}
    for o in outcomes:
        for r in o.rows:
            sites.append((o.name, r.where, f"{r.before} -> {r.after}", r.reason[:70] + (" [frame abandoned]" if r.frame_abandoned else ""), r.fixed_by))
            code[len(sites) - 1] = r.code
    if len(sites) == 1:
        print("no graph breaks")
        return
    for i, line in enumerate(_table(sites)):
        print(line)
        if i in code and code[i]:
            print(f"{'':4}{code[i][:110]}")
    left = sum(len(o.unremoved) for o in outcomes)
    rows_all = [r for o in outcomes for r in o.rows]
    removed = sum(r.after == 0 for r in rows_all)
    gpu_only_left = sum(r.after > 0 and r.fixed_by == GPU_ONLY for r in rows_all)
    summary = f"{removed} of {len(rows_all)} break site(s) removed by fluxfix"
    if gpu_only_left:
        summary += f"; {gpu_only_left} left in GPU-only code traced on a machine without a GPU (n/a: not the host's defect)"
    print(f"\n{summary}; " + (f"{left} remain that no fluxfix patch removes" if left else "none remains that a patch could remove"))
