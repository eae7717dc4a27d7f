"""Counting what torch.compile makes of a function: graphs, ops inside them, graph breaks and
abandoned frames, with dynamo's own reasons. Used by the demo and by tests."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class CompileReport:
    graphs: int  # graphs dynamo handed to the backend
    ops: int  # operator calls inside those graphs
    frames_abandoned: int  # frames dynamo gave up on: they run eagerly
    breaks: Counter = field(default_factory=Counter)  # first line of each reason -> count

    def summary(self) -> str:
        text = f"{self.graphs} graph(s) holding {self.ops} op(s), {sum(self.breaks.values())} break(s)"
        return text + (f", {self.frames_abandoned} frame(s) abandoned to eager" if self.frames_abandoned else "")


def compile_report(fn, *args, **kwargs) -> CompileReport:
    """Compile `fn` afresh with a counting backend, run it once on the inputs, and report."""
    import torch
    from torch._dynamo.utils import counters

    ops: list[int] = []

    def counting_backend(gm, example_inputs):
        ops.append(sum(1 for node in gm.graph.nodes if node.op == "call_function"))
        return gm.forward

    torch._dynamo.reset()
    counters.clear()
    torch.compile(fn, backend=counting_backend)(*args, **kwargs)
    reasons = Counter()
    for kind in ("graph_break", "unimplemented"):
        for reason, count in counters[kind].items():
            reasons[reason.strip().splitlines()[0].strip()] += count
    frames = counters["frames"]
    return CompileReport(len(ops), sum(ops), frames["total"] - frames["ok"], reasons)
