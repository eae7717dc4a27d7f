"""diffusers' FasterCache hooks log at debug level inside the forward they wrap (which branch the
cache takes, `hooks/faster_cache.py` FasterCacheDenoiserHook / FasterCacheBlockHook.new_forward):
a graph break at every cached layer on every step, whether or not debug logging is on. Every
release 0.36.0-0.42.1. The calls become compile-safe (`fluxfix.logging_calls`): eagerly they log as
before; while compiling the record is emitted once, as dynamo traces, and the graph goes on.
"""
from fluxfix import hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.logging_calls import LoggerSites
from patches.diffusers.host import DiffusersPatch


class CacheLogging(LoggerSites, DiffusersPatch):
    summary = "FasterCache's debug logging inside the cached forward no longer breaks the graph"
    targets = ("diffusers.hooks.faster_cache",)
    functions = ("FasterCacheDenoiserHook.new_forward", "FasterCacheBlockHook.new_forward")
    upstream = "none"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/hooks/faster_cache.py", 'logger.debug("FasterCache - Computing attention")',
              'logger.debug("FasterCache - Computing attention")\n            print(logger)'),)

    def defect(self):
        """A small FLUX.1 transformer with FasterCache on its attention layers, compiled with fullgraph
        at a step where the cache computes attention (the cache state as its hooks leave it)."""
        import torch
        from diffusers import FasterCacheConfig

        from patches.diffusers.models import small_flux

        model, inputs = small_flux()
        step = {"t": 900}
        model.enable_cache(FasterCacheConfig(spatial_attention_block_skip_range=2, current_timestep_callback=lambda: step["t"],
                                             attention_weight_callback=lambda _: 0.5, is_guidance_distilled=True))
        with torch.no_grad():
            return fullgraph_error(lambda: model(**inputs))


@hookimpl
def fluxfix_patches():
    return [CacheLogging()]
