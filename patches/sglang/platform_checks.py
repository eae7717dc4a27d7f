"""sglang's platform checks, made compile-safe.

`current_platform.is_amp_supported()` (and is_hopper, is_blackwell, is_sm120, ...) are classmethods
over functools.lru_cache; called in compiled forward code they make dynamo abandon the whole frame
(sglang 0.5.9-0.5.10.post1: every linear layer; up to 0.5.23: Wan DiT, Wan and Qwen-Image VAEs, ...).
"""
import re

from fluxfix import StepAside, Verdict, hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.fold import cached_classmethods, fold
from patches.sglang.host import SglangPatch

PLATFORMS = "sglang.multimodal_gen.runtime.platforms"


class PlatformChecks(SglangPatch):
    summary = "platform checks (classmethod over lru_cache) become compile-time constants"
    targets = tuple(f"{PLATFORMS}.{m}" for m in ("interface", "cuda", "rocm", "mps", "cpu", "npu", "musa", "xpu"))
    upstream = "sglang #23648 (0.5.11) hoisted one call site (linear layers); the checks themselves remain"
    expected = {">=0.5.8": "applied"}  # the classmethod+lru_cache checks exist in every release
    drift = (  # checks no longer cached, and is_amp_supported renamed: the shape the patch knows is gone
        (f"{PLATFORMS.replace('.', '/')}/interface.py", "from functools import lru_cache",
         "def lru_cache(maxsize=None):\n    return lambda f: f"),
        (f"{PLATFORMS.replace('.', '/')}/interface.py", "def is_amp_supported(", "def amp_supported("),
    )

    def defect(self):
        import torch

        from sglang.multimodal_gen.runtime.platforms import current_platform

        def scaled(x):  # the shape of sglang's own call sites: branch on the platform check
            return x * 2 if current_platform.is_amp_supported() else x - 1

        return fullgraph_error(scaled, torch.randn(4))

    def inspect(self, module):
        sites = cached_classmethods(module)
        if sites:
            return sites
        if module.__name__.endswith(".interface"):
            base = getattr(module, "Platform", None)
            if base is None or "is_amp_supported" not in vars(base):
                raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__}.Platform.is_amp_supported is gone")
            raise StepAside(Verdict.NOT_NEEDED, "Platform checks are no longer classmethods over lru_cache (fixed upstream)")
        raise StepAside(Verdict.NOT_NEEDED, f"no classmethod+lru_cache checks defined in {module.__name__}")

    def explains(self, brk) -> bool:
        # the break sits on the call site: `current_platform.is_amp_supported()` and the like
        return "platform" in brk.code and re.search(r"\.(is|has)_\w+\(", brk.code) is not None

    def apply(self, module, sites):
        undos = [fold(cls, attr, original) for cls, attr, original in sites.values()]
        return lambda: [undo() for undo in reversed(undos)]


@hookimpl
def fluxfix_patches():
    return [PlatformChecks()]
