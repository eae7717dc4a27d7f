"""diffusers' group offloading (`enable_group_offload`) under torch.compile: the transfers stay out
of the graph, each block's own forward compiles once per block class, the recompile limit is not hit.

Every hooked module runs through one wrapper function of diffusers' hook registry
(`hooks/hooks.py`, `new_forward`), and dynamo keeps one cache per code object. The offloading hook's
`pre_forward` breaks the graph at its compile-disabled `onload_()` and `post_forward` at
`offload_()`, so that one wrapper, and the frames resumed inside it, get an entry per block class,
argument count, stride and shape: FLUX.1 block-level offloading hits the limit of 8 at its second
resolution, leaf level in its first forward, and the rest runs eagerly. Every release 0.36.0-0.42.1.

Here a module hooked for offloading gets a wrapper of its own that dynamo does not trace (its
callees it does), and the offloading hooks' pre/post_forward run eagerly: the transfers happen
exactly as before, between graphs, and the module's forward is a frame of its own, shared by every
block of its class. Hooks registered before fluxfix activated keep diffusers' wrapper.
"""
from __future__ import annotations

from fluxfix import StepAside, Verdict, hookimpl
from patches.diffusers.eager_hooks import registering_kinds_eagerly, replace
from patches.diffusers.host import DiffusersPatch

HOOK_CLASSES = ("GroupOffloadingHook", "LazyPrefetchGroupOffloadingHook", "LayerExecutionTrackerHook")


def dynamo_messages(run) -> list[str]:
    """What dynamo logs while `run()` runs (its warnings; more where torch's logging is turned up)."""
    import logging

    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    log = logging.getLogger("torch._dynamo")
    log.addHandler(handler)
    try:
        run()
    finally:
        log.removeHandler(handler)
    return messages


def limit_hits(messages) -> list[str]:
    """dynamo's "hit config.recompile_limit (8)" warnings among `messages`, with the function each names."""
    return [" ".join(line.strip() for line in m.splitlines()[:2]) for m in messages if "recompile_limit" in m or "cache_size_limit" in m]


def recompile_limit_hits(run) -> list[str]:
    """dynamo's "hit config.recompile_limit" warnings while `run()` runs."""
    return limit_hits(dynamo_messages(run))


class GroupOffloading(DiffusersPatch):
    summary = "group offloading: transfers outside the graph, each block's forward compiled once per class, no recompile storm"
    targets = ("diffusers.hooks.group_offloading",)
    upstream = "none"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/hooks/group_offloading.py", "from .hooks import HookRegistry, ModelHook",
              "from .hooks import HookRegistry as _Registry, ModelHook"),)

    def defect(self):
        """A small FLUX.1 transformer with block-level offloading (CPU to CPU: the hooks and their
        transfers run as on a GPU machine), compiled whole, one call. The recompile limit is lowered
        to 2 so that one call shows what a real model's blocks and resolutions do to the limit of 8:
        unpatched the shared wrapper needs an entry for the model and for each block class."""
        import torch

        from patches.diffusers.models import small

        model, inputs = small("flux")
        model.enable_group_offload(onload_device=torch.device("cpu"), offload_device=torch.device("cpu"),
                                   offload_type="block_level", num_blocks_per_group=1)
        compiled = torch.compile(model, backend="eager")

        def run():
            with torch.no_grad(), torch._dynamo.config.patch(recompile_limit=2):
                compiled(**inputs(1, 0))

        torch._dynamo.reset()
        hits = recompile_limit_hits(run)
        return hits[0] if hits else None

    def inspect(self, module):
        missing = [n for n in ("HookRegistry", "ModuleGroup", "GroupOffloadingHook") if not hasattr(module, n)]
        if missing or not hasattr(module.HookRegistry, "register_hook"):
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {', '.join(missing) or 'HookRegistry.register_hook'}")
        onload = getattr(module.ModuleGroup, "onload_", None)
        if not getattr(onload, "_torchdynamo_disable", False):
            raise StepAside(Verdict.NOT_NEEDED, "ModuleGroup.onload_ is not compile-disabled here: the hooks trace")
        hooks = {n: getattr(module, n) for n in HOOK_CLASSES if hasattr(module, n)}
        sites = {f"{n}.{m}": (cls, m) for n, cls in hooks.items() for m in ("pre_forward", "post_forward") if m in vars(cls)}
        sites["HookRegistry.register_hook"] = (module.HookRegistry, "register_hook")
        return sites

    boundary = "each offloaded module's call (its onload/offload transfers run eagerly around a compiled forward)"

    def apply(self, module, sites):
        import torch

        registry = module.HookRegistry
        kinds = tuple({cls for cls, _ in sites.values() if cls is not registry})  # the offloading hooks
        register_hook = registering_kinds_eagerly(registry.register_hook, kinds)
        return replace(sites, {name: register_hook if cls is registry else torch.compiler.disable(vars(cls)[attr])
                               for name, (cls, attr) in sites.items()})


@hookimpl
def fluxfix_patches():
    return [GroupOffloading()]
