"""diffusers' SeaCache (`enable_cache(SeaCacheConfig(...))`, 0.42+, Wan 2.x text-to-video and Cosmos 3)
compiled, regionally or whole: every block compiles, no break inside the hooks, no recompile storm.

SeaCache hooks the transformer and its blocks (`hooks/sea_cache.py`): the root hook reads the step from
the cache context as Python numbers (and `.item()`), the first block's hook decides whether the block
stack runs and is `@torch.compiler.disable` with everything it calls, the leader block's own forward
too; the other blocks' hooks keep Python state (flags, residual history) that dynamo traces, inside the
registry's one shared wrapper. Compiled regionally the leader block never compiles and the graph breaks
at it; compiled whole the model breaks there and at the root hook, and the shared wrapper and the frames
resumed in the hooks recompile per argument count, cache context (cond / uncond) and state (history
empty or not): a small Wan 2.1 through WanPipeline with guidance, 8 steps at two resolutions, 25 graphs,
20 breaks and the recompile limit hit (regionally 8 graphs, 8 breaks).

Here each SeaCache-hooked module runs its hook eagerly, as diffusers wrote it (the decision, the
indicator, the residual bookkeeping: the hook code and its helpers are compile-disabled), and only
the module's own forward compiles, once per block class. Caches enabled after fluxfix activated take
this path. Cosmos 3 (whose root hook gates the decoder stack instead of a leader block) gets the same
rule, its gate and record eager around the compiled stack; checked on Wan 2.1 only.
"""
from __future__ import annotations

from fluxfix import StepAside, Verdict, hookimpl
from patches.diffusers.eager_hooks import disabled_with_callees, not_traced, registering_kinds_eagerly, replace
from patches.diffusers.host import DiffusersPatch

BLOCK_HOOKS = ("SeaCacheLeaderBlockHook", "SeaCacheBlockHook", "SeaCachePostNormHook")  # new_forward calls the module
ROOT_HOOK = "SeaCacheRootHook"
ROOT_METHODS = ("pre_forward", "post_forward", "prepare_decoder_stack", "record_decoder_stack")
STATES = ("SeaCacheSharedState", "SeaCacheContextState")  # the hooks' state and decisions
HELPERS = ("_get_block_inputs", "_build_block_output", "_get_block_outputs", "_record_full_execution", "_is_parameter_sharded")


class SeaCache(DiffusersPatch):
    summary = "SeaCache compiled: its decisions and bookkeeping run eagerly, every cached block's forward compiles, no break inside the hooks"
    targets = ("diffusers.hooks.sea_cache",)
    upstream = "none"
    expected = {"<0.42.0": "not needed (no SeaCache)", ">=0.42.0": "applied"}
    drift = (("diffusers/hooks/sea_cache.py", "def _record_full_execution(", "def _record_full_pass("),)
    boundary = "each SeaCache-hooked module's call (its cache decision and residual bookkeeping run eagerly around the compiled module)"

    def inspect(self, module):
        classes = {n: getattr(module, n, None) for n in (*BLOCK_HOOKS, ROOT_HOOK, *STATES, "HookRegistry")}
        owned = {f"{n}.new_forward": (classes[n], "new_forward") for n in BLOCK_HOOKS}
        # the root hook's own decisions; on Cosmos 3 also the gate before the decoder stack and the record after it
        owned.update({f"{ROOT_HOOK}.{m}": (classes[ROOT_HOOK], m) for m in ROOT_METHODS})
        owned["SeaCacheLeaderBlockHook._build_indicator"] = (classes["SeaCacheLeaderBlockHook"], "_build_indicator")
        missing = [n for n, (cls, attr) in owned.items() if cls is None or attr not in vars(cls)]
        missing += [n for n in (*STATES, "HookRegistry", *HELPERS) if getattr(module, n, None) is None]
        if missing:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {', '.join(missing)}")
        if not disabled_with_callees(vars(classes["SeaCacheLeaderBlockHook"])["new_forward"]):
            raise StepAside(Verdict.NOT_NEEDED, "SeaCache's leader hook is not compile-disabled with its callees here: the blocks compile")
        for n in STATES:  # their methods, each
            owned.update({f"{n}.{m}": (classes[n], m) for m, f in vars(classes[n]).items() if callable(f) and not m.startswith("__")})
        owned.update({n: (module, n) for n in HELPERS})
        owned["HookRegistry.register_hook"] = (classes["HookRegistry"], "register_hook")
        return owned

    def apply(self, module, sites):
        import torch

        hooks = tuple(getattr(module, n) for n in (*BLOCK_HOOKS, ROOT_HOOK))
        replacements = {}
        for name, (owner, attr) in sites.items():
            function = vars(owner)[attr]
            if attr == "new_forward":
                replacements[name] = not_traced(function)  # the module it calls compiles
            elif name == "HookRegistry.register_hook":
                replacements[name] = registering_kinds_eagerly(function, hooks)
            else:
                replacements[name] = torch.compiler.disable(function)
        return replace(sites, replacements)

    def defect(self):
        """A small Wan 2.1 transformer (2 blocks) with SeaCache, its blocks compiled regionally, driven as
        WanPipeline does: the graph breaks inside the hooks, or the leader block never compiles."""
        from patches.diffusers.models import caching_hook_run

        run = caching_hook_run("sea-cache", resolutions=(1,), steps=4)
        if run["breaks"]:
            return f"{run['breaks']} graph break(s) inside SeaCache's hooks: {run['break_reasons'][0]}"
        return None


@hookimpl
def fluxfix_patches():
    return [SeaCache()]
