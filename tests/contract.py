"""The contract every registered patch keeps, run in a fresh subprocess per case with one real host
release (or a copy of it) on sys.path: `python -m contract CASE PATCH[,PATCH...]` prints one JSON line, a result per patch. The patches
given share a host release; each is activated alone (FLUXFIX=<its name>) except in `before` and
`between`, where they are activated together as users run them.

The process starts with FLUXFIX=0, so importing fluxfix's modules activates nothing; each case
activates where it says. Every case judges through the patch's own `defect()`: the host's real
code at the patch's target, run under torch.compile."""
from __future__ import annotations

import json
import logging
import os
import sys
import warnings


def activate(**settings: str) -> bool:
    import fluxfix

    return fluxfix.activate(environ={**os.environ, **settings})


def the_patch(name: str):
    from fluxfix.engine import ENGINE

    return ENGINE.load_patches()[name]


def record(name: str):
    import fluxfix

    return {r.name: r for r in fluxfix.status()}[name]


def undo_entries(name: str) -> int:
    """How many changes fluxfix recorded for the patch, to undo at revert."""
    from fluxfix.engine import ENGINE

    return sum(entry[0] == name for entry in ENGINE._undo)


def snapshot(patch) -> dict:
    """Every object the patch's imported target modules hold (module attributes, and the attributes
    of classes they define) with its code object, and what fluxfix added to `warnings`: a revert
    must bring back the very same ones."""
    seen = {}
    for target in patch.targets:
        module = sys.modules.get(target)
        if module is None:
            continue
        for attr, value in list(vars(module).items()):
            if attr.startswith("__"):  # __warningregistry__ and the like change as the host runs
                continue
            seen[f"{target}:{attr}"] = (value, getattr(value, "__code__", None))
            if isinstance(value, type) and value.__module__ == target:
                for member, inner in list(vars(value).items()):
                    func = getattr(inner, "__func__", inner)
                    seen[f"{target}:{attr}.{member}"] = (inner, getattr(func, "__code__", None))
    for attr in vars(warnings):
        if "fluxfix" in attr:
            seen[f"warnings:{attr}"] = (getattr(warnings, attr), None)
    return seen


def changed(before: dict, after: dict, modules=None) -> list[str]:
    """The names whose object or code is not the very same one, and names fluxfix added (dynamo
    itself adds globals while tracing, e.g. constant results under a function's name: not ours)."""
    def same(key):
        return key in after and before[key][0] is after[key][0] and before[key][1] is after[key][1]

    keys = [k for k in before if not same(k)] + [k for k in after if k not in before and "fluxfix" in k]
    return sorted(k for k in keys if modules is None or k.split(":")[0] in modules)


class Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, rec):
        self.lines.append(rec.getMessage())


def shown(patch) -> str | None:
    """The patch's defect check, said in one line with its break site (None: no defect)."""
    from fluxfix.breaks import break_site

    error = patch.defect()
    return error and f"{error.splitlines()[0]} at {break_site(error)}"


def case_before(names):
    activate(FLUXFIX=",".join(names))
    return {n: {"defect": shown(the_patch(n)), "verdict": record(n).verdict.value} for n in names}


def case_between(names):
    """Each patch's host package above its first target imported first, then activation, then the rest."""
    import importlib

    parents = {n: the_patch(n).targets[0].rsplit(".", 1)[0] for n in names}
    for name, parent in parents.items():
        with the_patch(name).import_context():
            importlib.import_module(parent)
    activate(FLUXFIX=",".join(names))
    return {n: {"parent": parents[n], "defect": shown(the_patch(n)), "verdict": record(n).verdict.value} for n in names}


def case_after(names):
    return {n: after(n) for n in names}


def after(name):
    """Imported first, then: disabled by name, activated twice, reverted, activated again, and
    activated with the patch's apply() raising. Where fluxfix must leave the host alone (disabled,
    raising) the judge is the very same objects and nothing recorded to undo: the defect check
    (a compile, the costly part) runs where the host's code changes or comes back. A second
    activation is judged by what it records (no change of its own): the code it leaves is the
    first activation's, which `reactivated` and the `before` case judge by compiling."""
    import fluxfix

    patch = the_patch(name)
    out = {"unpatched": shown(patch)}
    original = snapshot(patch)
    activate(FLUXFIX=name, FLUXFIX_DISABLE=name)
    out["disabled"] = {"verdict": record(name).verdict.value, "changed": changed(original, snapshot(patch)),
                       "changes": undo_entries(name)}
    fluxfix.revert()
    activate(FLUXFIX=name)
    activate(FLUXFIX=name)
    out["twice"] = {"verdict": record(name).verdict.value,
                    "changes": undo_entries(name),
                    "applied_modules": sum(o.verdict.value == "applied" for o in record(name).modules.values())}
    fluxfix.revert()
    out["reverted"] = {"defect": shown(patch), "changed": changed(original, snapshot(patch))}
    activate(FLUXFIX=name)
    out["reactivated"] = {"defect": shown(patch), "verdict": record(name).verdict.value}
    fluxfix.revert()
    out["raising"] = raising(name, patch, original)
    return out


def raising(name, patch, original):
    """apply() raises: one warning line, the host untouched and still working; strict raises."""
    import fluxfix

    out = {}

    def boom(module, sites):
        raise RuntimeError("boom while applying")

    patch.apply = boom
    lines = Lines()
    logging.getLogger("fluxfix").addHandler(lines)
    activate(FLUXFIX=name)
    logging.getLogger("fluxfix").removeHandler(lines)
    out["failed"] = {"verdict": record(name).verdict.value, "reason": record(name).reason,
                     "changed": changed(original, snapshot(patch)), "lines": lines.lines,
                     "changes": undo_entries(name)}
    fluxfix.revert()
    try:
        activate(FLUXFIX=name, FLUXFIX_STRICT="1")
        out["strict"] = None
    except fluxfix.FluxfixError as exc:
        out["strict"] = str(exc)
    fluxfix.revert()
    del patch.apply  # the class's own again
    return out


def case_drift(names):
    """A copy of the host whose targets changed shape: left alone with a reason; strict raises."""
    import importlib

    import fluxfix

    for name in names:
        with the_patch(name).import_context():
            for target in the_patch(name).targets:
                try:
                    importlib.import_module(target)
                except Exception:  # absent from this release, or needs hardware this machine lacks
                    pass
    out = {}
    for name in names:
        patch = the_patch(name)
        original = snapshot(patch)
        activate(FLUXFIX=name)
        rec = record(name)
        drifted = [m for m, o in rec.modules.items() if o.verdict.value == "target changed"]
        out[name] = {"verdicts": {m: [o.verdict.value, o.reason] for m, o in rec.modules.items()},
                     "changed": changed(original, snapshot(patch), drifted)}
        fluxfix.revert()
        try:
            activate(FLUXFIX=name, FLUXFIX_STRICT="1")
            out[name]["strict"] = None
        except fluxfix.FluxfixError as exc:
            out[name]["strict"] = str(exc)
        fluxfix.revert()
    return out


def main() -> None:
    case, names = sys.argv[1], sys.argv[2].split(",")
    warnings.simplefilter("ignore")  # hosts warn a lot at import on CPU; results go to stdout
    for name in names:
        the_patch(name).contract_setup()
    result = globals()[f"case_{case}"](names)
    print("CONTRACT " + json.dumps(result, default=str))


if __name__ == "__main__":
    main()
