"""The benchmark scripts run on the GPU machine only, so nothing else notices when a module they import from
this repository moves (one did: `bench_sglang.py` imported `fluxfix.sglang_models` long after it had become
`patches.sglang.models`, and a device call stopped at once). Every import in `benchmarks/` of the
repository's own modules (fluxfix, patches, the test helpers, the benchmarks' own, the GPU stand-ins), at the
top of a script or inside a function, must name a module and a name that exist. Read, not run: importing the
harness modules would install their hooks in this process."""
import ast
import importlib.util
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"
HELPER_DIRS = [REPO / "tests", BENCHMARKS, BENCHMARKS / "serve_harness", REPO / "patches" / "sglang" / "standins"]
OWN = {"fluxfix", "patches"} | {p.stem for d in HELPER_DIRS for p in d.glob("*.py")}


def own_imports(path: pathlib.Path):
    """(line, module, name or None) for each import of the repository's own modules in the script."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name, None) for alias in node.names if alias.name.split(".")[0] in OWN)
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in OWN:
            yield from ((node.lineno, node.module, alias.name) for alias in node.names)


def defines(spec, name: str) -> bool:
    """The module's source binds `name` at its top level (def, class, assignment, import), or `name` is a submodule."""
    if spec.submodule_search_locations and importlib.util.find_spec(f"{spec.name}.{name}") is not None:
        return True
    bound = set()
    for node in ast.parse(pathlib.Path(spec.origin).read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return name in bound


def test_benchmarks_import_only_what_exists(monkeypatch):
    for folder in HELPER_DIRS:
        monkeypatch.syspath_prepend(str(folder))
    seen, unresolved = 0, []
    for script in sorted(BENCHMARKS.rglob("*.py")):
        for line, module, name in own_imports(script):
            seen += 1
            spec = importlib.util.find_spec(module)
            if spec is None or (name is not None and not defines(spec, name)):
                unresolved.append(f"{script.relative_to(REPO)}:{line}: {module}{' ' + name if name else ''}")
    assert seen > 20, seen  # the scripts' own imports were found at all
    assert not unresolved, unresolved
