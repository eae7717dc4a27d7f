"""diffusers' TaylorSeer cache (`enable_cache(TaylorSeerCacheConfig(...))`) compiled, regionally or
whole: no recompile storm in the hook's resumed frame.

Its hook's `new_forward` (`hooks/taylorseer_cache.py`) asks a compile-disabled `_measure_should_compute`
whether to run the layer, then runs it and updates the Taylor factors (`TaylorSeerState.update`,
traced). dynamo resumes after the decision in one frame shared by every hooked layer, which
recompiles per layer kind, per decision and, through `update`'s step counters, per step: a small
FLUX.1 (2+2 blocks) hits the limit of 8 in six steps at three resolutions, and the rest runs eagerly.
Every release 0.36.0-0.42.1.

Here the hook's `new_forward`, its registry wrapper and the state's `update` run eagerly, as diffusers
wrote them (bookkeeping on the layer's outputs: a few element-wise ops a layer), and the hooked layer's
own forward is a frame of its own, shared by every layer of its class. Caches enabled after fluxfix
activated take this path.
"""
from __future__ import annotations

import inspect

from fluxfix import StepAside, Verdict, hookimpl
from patches.diffusers.eager_hooks import not_traced, registering_eagerly, replace
from patches.diffusers.host import DiffusersPatch


class TaylorSeerCache(DiffusersPatch):
    summary = "TaylorSeer cache compiled: its decision and bookkeeping run eagerly, each hooked layer's forward compiles once per kind"
    targets = ("diffusers.hooks.taylorseer_cache",)
    upstream = "none"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/hooks/taylorseer_cache.py", "def _apply_taylorseer_cache_hook(", "def _apply_taylorseer_hook("),)
    boundary = "each TaylorSeer-hooked layer's call (its cache decision and Taylor-factor update run eagerly around the compiled layer)"

    def inspect(self, module):
        hook, state = getattr(module, "TaylorSeerCacheHook", None), getattr(module, "TaylorSeerState", None)
        apply = getattr(module, "_apply_taylorseer_cache_hook", None)
        names = {"TaylorSeerCacheHook.new_forward": hook and vars(hook).get("new_forward"),
                 "TaylorSeerState.update": state and vars(state).get("update"), "_apply_taylorseer_cache_hook": apply}
        missing = [n for n, f in names.items() if f is None]
        if missing:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {', '.join(missing)}")
        if not getattr(vars(hook).get("_measure_should_compute"), "_torchdynamo_disable", False):
            raise StepAside(Verdict.NOT_NEEDED, "TaylorSeerCacheHook's decision is not compile-disabled here: no break inside the hook")
        if "module" not in inspect.signature(apply).parameters:
            raise StepAside(Verdict.TARGET_CHANGED, "_apply_taylorseer_cache_hook takes no `module`")
        return {"TaylorSeerCacheHook.new_forward": (hook, "new_forward"), "TaylorSeerState.update": (state, "update"),
                "_apply_taylorseer_cache_hook": (module, "_apply_taylorseer_cache_hook")}

    def apply(self, module, sites):
        import torch

        hook, state = module.TaylorSeerCacheHook, module.TaylorSeerState
        return replace(sites, {
            "TaylorSeerCacheHook.new_forward": not_traced(hook.new_forward),  # the layer it calls compiles
            "TaylorSeerState.update": torch.compiler.disable(state.update),  # step counters: eager, or a recompile a step
            "_apply_taylorseer_cache_hook": registering_eagerly(module._apply_taylorseer_cache_hook, "module"),
        })

    def defect(self):
        """A small FLUX.1 transformer (2+2 blocks) with the TaylorSeer cache, its blocks compiled
        regionally, four steps at one resolution, the recompile limit lowered to 2 (the test runs six
        steps at three resolutions against the real limit of 8, which the same frame hits)."""
        from patches.diffusers.models import caching_hook_run

        hits = caching_hook_run("taylorseer", resolutions=(1,), steps=4, limit=2)["limit_hits"]
        return hits[0] if hits else None


@hookimpl
def fluxfix_patches():
    return [TaylorSeerCache()]
