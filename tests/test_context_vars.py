"""fluxfix.context_vars.CellContextVar: a ContextVar's behaviour in eager code (per context, per thread,
tokens), and in compiled code a value change that dynamo traces instead of breaking at it."""
import contextvars
import threading

import pytest
import torch
from torch._dynamo.utils import counters

from fluxfix.context_vars import CellContextVar


def pair():
    """A ContextVar and a stand-in for another one of the same name and default."""
    return contextvars.ContextVar("state", default=0), CellContextVar(contextvars.ContextVar("state", default=0))


def stepping(var):
    """What the host's cached convs do: read an index, use it, set it one further."""
    def step(x):
        index = var.get()
        var.set(index + 1)
        return x * index

    return step


def test_eager_calls_behave_as_the_context_var():
    for var in pair():
        seen = [var.get()]
        token = var.set(1)
        seen.append(var.get())
        inner = contextvars.copy_context()
        seen.append(inner.run(lambda: (var.set(5), var.get())[1]))  # a set in a copied context stays there
        seen.append(var.get())
        thread_saw = []
        worker = threading.Thread(target=lambda: thread_saw.append((var.get(), var.set(7), var.get())[::2]))
        worker.start()
        worker.join()
        seen += [*thread_saw[0], var.get()]
        var.reset(token)
        seen.append(var.get())
        assert seen == [0, 1, 5, 1, 0, 7, 1, 0], type(var)
    no_default = CellContextVar(contextvars.ContextVar("no_default"))
    with pytest.raises(LookupError):
        no_default.get()
    assert no_default.get("given") == "given"


def test_compiled_code_changes_the_value_without_a_break():
    _, var = pair()
    token = var.set(3)  # eager code binds the value (a host's context manager), compiled code moves it on
    counters.clear()
    compiled = torch.compile(stepping(var), backend="eager", fullgraph=True)
    assert torch.equal(compiled(torch.ones(2)), torch.full((2,), 3.0))
    assert var.get() == 4  # written back after the graph, seen by eager code in this context
    assert torch.equal(compiled(torch.ones(2)), torch.full((2,), 4.0))
    assert var.get() == 5
    var.reset(token)
    assert var.get() == 0
    assert sum(counters["graph_break"].values()) == 0


def test_a_host_context_var_breaks_compiled_code_where_the_stand_in_does_not():
    host, _ = pair()
    with pytest.raises(Exception, match="ContextVar|Unsupported"):  # the defect the stand-in removes
        torch.compile(stepping(host), backend="eager", fullgraph=True)(torch.ones(2))
