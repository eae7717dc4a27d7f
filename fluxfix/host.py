"""What fluxfix knows of one host library, declared by that host's folder under `patches/`
(found through the same entry-point group as the patches): the core names no host."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Host:
    name: str  # the distribution whose code is patched, e.g. "sglang"
    releases: tuple[str, ...]  # the releases the tests install side by side; the README matrix's columns
    doctor: str = ""  # module with MODELS and cases(model, layers, device, dtype, features) for `fluxfix doctor`
    features: tuple[str, ...] = ()  # what `fluxfix doctor --feature` can switch on for this host
    # the context in which fluxfix imports this host's modules for `status` and `doctor` (e.g.
    # answering an import-time device query on a machine without that device)
    import_context: Callable = field(default=contextlib.nullcontext, compare=False)
    # machines this process can be made to act as for `status` and `doctor --simulate NAME`:
    # name -> "module:function", which puts the process into that state and returns a note saying so
    simulations: dict = field(default_factory=dict, compare=False)

    def simulate(self, name: str) -> str:
        """Enter the named simulation (before the host is imported); returns its note."""
        import importlib

        if name not in self.simulations:
            raise ValueError(f"unknown simulation {name!r} for {self.name}; choose from: {', '.join(self.simulations) or '(none)'}")
        module, function = self.simulations[name].split(":")
        return getattr(importlib.import_module(module), function)()
