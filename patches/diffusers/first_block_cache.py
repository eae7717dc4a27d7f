"""diffusers' FirstBlockCache (`enable_cache(FirstBlockCacheConfig(...))`) compiled, regionally or
whole: no recompile storm in the hook registry's shared wrapper.

Its head block's decision (`FBCHeadBlockHook._should_compute_remaining_blocks`, compile-disabled by
design: one `.item()` a step, which costs nothing measurable) breaks the graph inside the hooks, so
the registry's wrapper (`hooks/hooks.py`, `new_forward`) becomes a frame of its own, entered by every
hooked block. dynamo keeps one cache per code object: that frame recompiles per block class, per
head, tail and other block, and per shape, and a FLUX.1 at its second resolution hits the limit of 8;
the rest runs eagerly (160 ms per forward on an H200 against 135 ms). Every release 0.36.0-0.42.1.

Here each block hooked for the cache gets the same wrapper function with a code object shared only by
blocks of its class, hook class and tail flag, so each compiles once per shape. The code is the
host's own (a copy of the code object, same bytecode): eagerly nothing changes. Caches enabled after
fluxfix activated take this path.
"""
from __future__ import annotations

import functools
import types

from fluxfix import StepAside, Verdict, hookimpl
from patches.diffusers.eager_hooks import last_hook
from patches.diffusers.host import DiffusersPatch

APPLY_FUNCTIONS = ("_apply_fbc_head_block_hook", "_apply_fbc_block_hook")
_CODE = {}  # (wrapper code, block class, hook class, is tail) -> the code object those blocks share


def wrapper_per_kind(block) -> None:
    """Give `block`'s registry wrapper, just installed for its cache hook, the code of its kind."""
    hook = last_hook(block)
    if hook is None:
        return  # not diffusers' wrapper as registered (another hook came first): left as it is
    forward = vars(block)["forward"]
    func = forward.func  # diffusers' new_forward
    key = (func.__code__, type(block), type(hook), getattr(hook, "is_tail", False))
    code = _CODE.setdefault(key, func.__code__.replace())  # a new code object: a dynamo cache of its own
    own = types.FunctionType(code, func.__globals__, func.__name__, func.__defaults__, func.__closure__)
    block.forward = functools.partial(own, block)
    block.forward.__dict__.update(forward.__dict__)  # the names and __wrapped__ diffusers gave it


def wrap_apply(apply):
    @functools.wraps(apply)
    def apply_hook(block, *args, **kwargs):
        result = apply(block, *args, **kwargs)
        wrapper_per_kind(block)
        return result

    return apply_hook


class FirstBlockCache(DiffusersPatch):
    summary = "FirstBlockCache compiled: the hook wrapper compiles once per block kind and shape, no recompile storm"
    targets = ("diffusers.hooks.first_block_cache",)
    upstream = "none"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/hooks/first_block_cache.py", "def _apply_fbc_block_hook(", "def _apply_fbc_block_hooks("),)

    def inspect(self, module):
        missing = [n for n in (*APPLY_FUNCTIONS, "FBCHeadBlockHook") if not hasattr(module, n)]
        if missing:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {', '.join(missing)}")
        decision = getattr(module.FBCHeadBlockHook, "_should_compute_remaining_blocks", None)
        if not getattr(decision, "_torchdynamo_disable", False):
            raise StepAside(Verdict.NOT_NEEDED, "FBCHeadBlockHook's decision is not compile-disabled here: no break inside the hooks")
        return {name: getattr(module, name) for name in APPLY_FUNCTIONS}

    def apply(self, module, sites):
        for name, apply in sites.items():
            setattr(module, name, wrap_apply(apply))

        def undo():
            for name, apply in sites.items():
                setattr(module, name, apply)

        return undo

    def defect(self):
        """A small FLUX.1 transformer with FirstBlockCache, its blocks compiled regionally, two
        resolutions (unpatched, the second already passes the limit). The recompile limit is lowered
        to 2 so that one small model shows what a real model's block kinds and resolutions do to the
        limit of 8 in the registry's wrapper (the head hook's own frame, one block's, may reach 2 here:
        its state's first step and shapes)."""
        import torch
        from diffusers import FirstBlockCacheConfig

        from patches.diffusers.group_offloading import recompile_limit_hits
        from patches.diffusers.models import small

        model, inputs = small("flux", layers=(2, 2))
        model.enable_cache(FirstBlockCacheConfig(threshold=0.0))
        model.compile_repeated_blocks(backend="eager")

        def run():
            with torch.no_grad(), torch._dynamo.config.patch(recompile_limit=2):
                for resolution in (1, 2):
                    with model.cache_context("cond"):
                        model(**inputs(resolution, resolution))
                    model._reset_stateful_cache()

        torch._dynamo.reset()
        hits = [hit for hit in recompile_limit_hits(run) if "hooks/hooks.py" in hit]
        return hits[0] if hits else None


@hookimpl
def fluxfix_patches():
    return [FirstBlockCache()]
