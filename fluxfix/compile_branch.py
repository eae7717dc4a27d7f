"""Host helpers that do something dynamo cannot trace (compare data pointers, ...) where, while
compiling, the outcome is known. The helper keeps its function object and gets new code: while
compiling it runs a stated compile-safe equivalent, otherwise the host's original code, unchanged.
A patch declares each helper in a few lines (`CompileBranch`) and mixes in `CompileBranches`.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from fluxfix import recode
from fluxfix.patch import StepAside, Verdict

ORIGINAL = "_fluxfix_original_"


@dataclass(frozen=True)
class CompileBranch:
    """owner: the class defining the helper ("" for a module-level function); function: its name;
    parameters: the parameter list the replacement is written for, defaults left out;
    defect: names the original's code uses where it has the defect (all must be there);
    relies_on: (helper, names) another function of the module whose code the replacement relies on;
    when_compiling: the body run while compiling (the parameters in scope); where it does not
    return, the host's original code runs after it (a branch for some arguments only);
    helpers: names the body uses that the host's module does not define (added beside the original)."""

    owner: str
    function: str
    parameters: str
    defect: tuple
    when_compiling: str
    relies_on: tuple = ()
    helpers: tuple = ()  # (name, object) pairs

    @property
    def qualname(self) -> str:
        return f"{self.owner}.{self.function}" if self.owner else self.function

    def find(self, module):
        """The host function with the defect, or StepAside saying why not."""
        holder = getattr(module, self.owner, None) if self.owner else module
        func = inspect.getattr_static(holder, self.function, None) if holder is not None else None
        if func is None:
            raise StepAside(Verdict.NOT_NEEDED, f"no {self.qualname} in {module.__name__}")
        if not inspect.isfunction(func):
            raise StepAside(Verdict.TARGET_CHANGED, f"{self.qualname} is no longer a plain function")
        missing = [n for n in self.defect if n not in func.__code__.co_names]
        if missing:
            raise StepAside(Verdict.NOT_NEEDED, f"{self.qualname} does not use {', '.join(missing)} here")
        if recode.plain_signature(func) != self.parameters:
            raise StepAside(Verdict.TARGET_CHANGED, f"{self.qualname}{recode.plain_signature(func)}: expected {self.parameters}")
        if self.relies_on:
            name, names = self.relies_on
            other = getattr(module, name, None)
            if not inspect.isfunction(other) or not set(names) <= set(other.__code__.co_names):
                raise StepAside(Verdict.TARGET_CHANGED, f"{name} no longer has what {self.qualname}'s fix relies on ({', '.join(names)})")
        return func

    def install(self, func):
        original = f"{ORIGINAL}{self.qualname.replace('.', '_')}"
        body = "".join(f"        {line}\n" for line in self.when_compiling.strip().splitlines())
        call = ", ".join(self.parameters.strip("()").replace(" ", "").split(","))
        source = (f"def {func.__name__}{self.parameters}:\n    if torch.compiler.is_compiling():\n{body}"
                  f"    return {original}({call})\n")
        names = {original: recode.original_as_function(func), **dict(self.helpers)}
        if "torch" not in func.__globals__:
            import torch

            names["torch"] = torch
        return recode.recode(func, recode.compile_like(func, source), names)


class CompileBranches:
    """Mixin for a Patch: `branches` maps each target module to the helpers declared for it."""

    branches: dict[str, tuple[CompileBranch, ...]] = {}
    breaks_on: tuple[str, ...] = ()  # words of dynamo's reason for the break these helpers cause

    def inspect(self, module):
        sites, steps = {}, []
        for branch in self.branches.get(module.__name__, ()):
            try:
                sites[f"{module.__name__}.{branch.qualname}"] = (branch.find(module), branch)
            except StepAside as aside:
                steps.append(aside)
        changed = [s.reason for s in steps if s.verdict is Verdict.TARGET_CHANGED]
        if changed:
            raise StepAside(Verdict.TARGET_CHANGED, "; ".join(changed))
        if not sites:
            raise StepAside(Verdict.NOT_NEEDED, "; ".join(s.reason for s in steps) or f"nothing declared for {module.__name__}")
        return sites

    def explains(self, brk) -> bool:
        named = any(w.lower() in brk.reason.lower() for w in self.breaks_on)
        return named and any(frame.endswith(f" in {b.function}") for bs in self.branches.values() for b in bs for frame in brk.stack)

    def apply(self, module, sites):
        undos = [branch.install(func) for func, branch in sites.values()]
        return lambda: [undo() for undo in reversed(undos)]
