"""One thing `fluxfix doctor` compiles: a host model's step or one of the host's components."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Case:
    name: str  # e.g. "FLUX.1 transformer"
    what: str  # which host code, in words
    fn: Callable[..., object]  # runs it once; its first call takes no arguments
    # later calls, each an argument tuple for fn (another timestep, another resolution): what they
    # compile anew is the case's recompiles
    more: list[tuple] = field(default_factory=list)
    # builds the case again once fluxfix is active (host hooks that patches change as they register:
    # diffusers' group offloading), or None to compile the same objects twice
    rebuild: Callable[[], "Case"] | None = None
