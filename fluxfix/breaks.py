"""What torch.compile makes of a function: graphs, ops inside them, graph breaks with dynamo's
own reason and the host's file:line, and frames abandoned to eager. Used by doctor, the demo and
the tests."""
from __future__ import annotations

import linecache
import logging
import re
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field

from fluxfix.errors import one_line

# dynamo logs every break, with the user frame, on this logger when `graph_breaks` logging is on
BREAK_LOGGER = "torch._dynamo.symbolic_convert.__graph_breaks"
_HEADER = re.compile(r"Graph break .*?in user code at (.+):(\d+)")
_PREAMBLES = ("Encountered graph break", "Failed to handle graph break gracefully", "Graph break encountered")


@dataclass
class Break:
    reason: str  # dynamo's reason, first line
    file: str  # where in the host (path below the sys.path entry it came from)
    line: int
    code: str  # that source line
    count: int = 0
    frame_abandoned: bool = False  # dynamo gave up on the whole frame: it runs eagerly
    stack: list[str] = field(default_factory=list)  # the user frames, outermost first: "file:line in function"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class CompileReport:
    graphs: int  # graphs dynamo handed to the backend
    ops: int  # operator calls inside those graphs
    frames_abandoned: int  # frames dynamo gave up on: they run eagerly
    breaks: Counter = field(default_factory=Counter)  # reason -> count
    sites: list[Break] = field(default_factory=list)  # each break, by place
    error: str | None = None  # the run stopped here (e.g. a GPU kernel on a CPU machine)
    recompiles: int = 0  # graphs compiled by calls after the first (new inputs of the same model)

    def summary(self) -> str:
        text = f"{self.graphs} graph(s) holding {self.ops} op(s), {sum(self.breaks.values())} break(s)"
        text += f", {self.frames_abandoned} frame(s) abandoned to eager" if self.frames_abandoned else ""
        text += f", {self.recompiles} recompile(s)" if self.recompiles else ""
        return text + (f"; stopped: {self.error}" if self.error else "")

    def as_dict(self) -> dict:
        return {"graphs": self.graphs, "ops": self.ops, "frames_abandoned": self.frames_abandoned,
                "breaks": sum(self.breaks.values()), "sites": [asdict(s) for s in self.sites], "error": self.error,
                "recompiles": self.recompiles}


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def short_path(path: str) -> str:
    """The path below the sys.path entry it was imported from (sglang/..., torch/...)."""
    roots = sorted((p.rstrip("/") + "/" for p in sys.path if p and path.startswith(p.rstrip("/") + "/")), key=len)
    return path[len(roots[-1]):] if roots else path


def _parse(message: str) -> tuple[str, int, str, bool, list[str]] | None:
    header = _HEADER.search(message)
    if not header:
        return None
    reason_text, _, traceback = message.split("Graph Break Reason:", 1)[-1].partition("User code traceback:")
    lines = [ln.strip() for ln in reason_text.splitlines() if ln.strip() and not ln.strip().startswith(_PREAMBLES)]
    reason = lines[0] if lines else "unknown"
    stack = [f"{short_path(f)}:{n} in {fn}" for f, n, fn in _FRAME.findall(traceback)]
    return header.group(1), int(header.group(2)), reason, "Skipping the function" in message, stack


class _Collector(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sites: dict[tuple, Break] = {}

    def emit(self, record):
        parsed = _parse(record.getMessage())
        if parsed is None:
            return
        path, line, reason, abandoned, stack = parsed
        key = (path, line, reason)
        if key not in self.sites:
            code = linecache.getline(path, line).strip()
            self.sites[key] = Break(reason, short_path(path), line, code, stack=stack)
        self.sites[key].count += 1
        self.sites[key].frame_abandoned |= abandoned


def compile_report(fn, *args, more=(), **kwargs) -> CompileReport:
    """Compile `fn` afresh with a counting backend, run it on the inputs, then on each argument
    tuple of `more` (its recompiles), and report. An error while running (not tracing) is kept in
    the report: what was traced before it counts."""
    import torch
    from torch._dynamo.utils import counters

    ops: list[int] = []

    def counting_backend(gm, example_inputs):
        ops.append(sum(1 for node in gm.graph.nodes if node.op == "call_function"))
        return gm.forward

    collector = _Collector()
    logger = logging.getLogger(BREAK_LOGGER)
    torch._dynamo.reset()
    counters.clear()
    torch._logging.set_logs(graph_breaks=True)
    logger.addHandler(collector)
    propagate, logger.propagate = logger.propagate, False  # collected here, not printed
    error, first = None, 0
    try:
        compiled = torch.compile(fn, backend=counting_backend)
        compiled(*args, **kwargs)
        first = len(ops)
        for later in more:
            compiled(*later)
    except Exception as exc:
        error = one_line(exc)
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
        torch._logging.set_logs()
    reasons = Counter()
    for kind in ("graph_break", "unimplemented"):
        for reason, count in counters[kind].items():
            reasons[reason.strip().splitlines()[0].strip()] += count
    frames = counters["frames"]
    first = first or len(ops)
    return CompileReport(first, sum(ops[:first]), frames["total"] - frames["ok"], reasons, list(collector.sites.values()), error,
                         recompiles=len(ops) - first)


def fullgraph_error(fn, *args) -> str | None:
    """None if torch.compile(fn, fullgraph=True) traces and runs `fn` on `args`, else dynamo's
    error, type first (its message holds the user frames: `break_site` reads them)."""
    import torch

    torch._dynamo.reset()
    try:
        torch.compile(fn, fullgraph=True, backend="eager")(*args)
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def break_site(error: str | None) -> str | None:
    """'file:line: code' of the innermost user frame where dynamo stopped, from its message."""
    if not error or "from user code:" not in error:
        return None
    frames = re.findall(r'File "([^"]+)", line (\d+), in \w+\n\s+(.+)', error.split("from user code:")[-1])
    if not frames:
        return None
    path, line, code = frames[-1]
    return f"{short_path(path)}:{line}: {code.strip()}"
