"""diffusers' MagCache (`enable_cache(MagCacheConfig(...))`) compiled: the cached blocks compile.

MagCache hooks every transformer block, and both its hooks' `new_forward`s (`hooks/mag_cache.py`,
the head block's skip decision and every block's residual bookkeeping) are `@torch.compiler.disable`
as a whole: the block's own forward, called inside them, is disabled with them. Compiled regionally
nothing compiles at all; compiled whole, every block runs eagerly between the model's pieces, and the
registry's shared wrapper recompiles per block kind. Every release that has it (0.37.0-0.42.1).

Here those `new_forward`s stay out of the graph but not their callees (dynamo's non-recursive
disable), and each hooked block's registry wrapper runs eagerly too: the decision and bookkeeping run
exactly as diffusers wrote them, and the block's forward is a frame of its own, compiled once per
block class. Caches enabled after fluxfix activated take this path.
"""
from __future__ import annotations

import inspect

from fluxfix import StepAside, Verdict, hookimpl
from patches.diffusers.eager_hooks import disabled_with_callees, not_traced, registering_eagerly, replace
from patches.diffusers.host import DiffusersPatch

HOOKS = ("MagCacheHeadHook", "MagCacheBlockHook")
APPLY_FUNCTIONS = ("_apply_mag_cache_head_hook", "_apply_mag_cache_block_hook")


class MagCache(DiffusersPatch):
    summary = "MagCache compiled: its decisions stay eager, the cached blocks' forwards compile (before, nothing did)"
    targets = ("diffusers.hooks.mag_cache",)
    upstream = "none"
    expected = {"<0.37.0": "not needed (no MagCache)", ">=0.37.0": "applied"}
    drift = (("diffusers/hooks/mag_cache.py", "def _apply_mag_cache_block_hook(", "def _apply_mag_cache_hook("),)
    boundary = "each MagCache-hooked block's call (its skip decision and residual bookkeeping run eagerly around the compiled block)"

    def inspect(self, module):
        hooks = {n: getattr(module, n, None) for n in HOOKS}
        applies = {n: getattr(module, n, None) for n in APPLY_FUNCTIONS}
        missing = [n for n, f in {**hooks, **applies}.items() if f is None or (n in hooks and "new_forward" not in vars(f))]
        if missing:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {', '.join(missing)} (with its own new_forward)")
        if not all(disabled_with_callees(vars(h)["new_forward"]) for h in hooks.values()):
            raise StepAside(Verdict.NOT_NEEDED, "MagCache's new_forward is not compile-disabled with its callees here: the blocks compile")
        if any("block" not in inspect.signature(f).parameters for f in applies.values()):
            raise StepAside(Verdict.TARGET_CHANGED, "MagCache's apply functions take no `block`")
        return {**{f"{n}.new_forward": (h, "new_forward") for n, h in hooks.items()}, **{n: (module, n) for n in applies}}

    def apply(self, module, sites):
        replacements = {f"{n}.new_forward": not_traced(vars(getattr(module, n))["new_forward"]) for n in HOOKS}
        replacements.update({n: registering_eagerly(getattr(module, n), "block") for n in APPLY_FUNCTIONS})
        return replace(sites, replacements)

    def defect(self):
        """A small FLUX.1 transformer (2+2 blocks) with MagCache, its blocks compiled regionally: how
        many graphs compile (none, where the defect is)."""
        from patches.diffusers.models import caching_hook_run

        graphs = caching_hook_run("mag-cache", resolutions=(1,), steps=3)["graphs"]
        return None if graphs else "no graph compiled: every block ran eagerly inside MagCache's compile-disabled new_forward"


@hookimpl
def fluxfix_patches():
    return [MagCache()]
