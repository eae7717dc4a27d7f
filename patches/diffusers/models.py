"""diffusers transformers built from their real config classes with random weights, small enough for
a CPU to compile in seconds (the contract checks and the tests; doctor and the benchmarks build the
published architectures at full width from `fluxfix.architectures`). Each builder returns the
model and a function giving one step's inputs at a resolution (1, 2, 3: growing latents)."""
from __future__ import annotations

import inspect


def _randn(gen, *shape):
    import torch

    return torch.randn(*shape, generator=gen)


def small(kind: str, seed: int = 0, layers: tuple = (1, 1)):
    """(model, inputs(resolution, step)) for kind flux | wan | qwen-image | sd3; `layers`: FLUX.1's
    double and single block counts."""
    import diffusers
    import torch

    torch.manual_seed(seed)
    if kind == "flux":
        model = diffusers.FluxTransformer2DModel(
            patch_size=1, in_channels=16, num_layers=layers[0], num_single_layers=layers[1], attention_head_dim=16, num_attention_heads=2,
            joint_attention_dim=32, pooled_projection_dim=16, guidance_embeds=True, axes_dims_rope=(4, 6, 6))

        def inputs(resolution=1, step=0):
            gen, tokens = torch.Generator().manual_seed(seed + step), 16 * resolution
            return dict(hidden_states=_randn(gen, 1, tokens, 16), encoder_hidden_states=_randn(gen, 1, 8, 32),
                        pooled_projections=_randn(gen, 1, 16), timestep=torch.tensor([1.0 - step / 10]),
                        guidance=torch.tensor([3.5]), img_ids=torch.zeros(tokens, 3), txt_ids=torch.zeros(8, 3), return_dict=False)
    elif kind == "wan":
        model = diffusers.WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, text_dim=32,
            freq_dim=16, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)

        def inputs(resolution=1, step=0):
            gen = torch.Generator().manual_seed(seed + step)
            return dict(hidden_states=_randn(gen, 1, 4, 1, 4 * (resolution + 1), 8), timestep=torch.tensor([900 - 100 * step]),
                        encoder_hidden_states=_randn(gen, 1, 8, 32), return_dict=False)
    elif kind == "qwen-image":
        model = diffusers.QwenImageTransformer2DModel(
            patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16, num_attention_heads=2,
            joint_attention_dim=32, guidance_embeds=False, axes_dims_rope=(4, 6, 6))
        takes_lens = inspect.signature(model.forward).parameters.get("txt_seq_lens")
        deprecated = "deprecat" in inspect.getsource(model.forward).lower() if takes_lens else True

        def inputs(resolution=1, step=0):
            gen, side = torch.Generator().manual_seed(seed + step), 4 * resolution
            named = dict(hidden_states=_randn(gen, 1, side * 4, 16), encoder_hidden_states=_randn(gen, 1, 8, 32),
                         encoder_hidden_states_mask=torch.ones(1, 8), timestep=torch.tensor([1.0 - step / 10]),
                         img_shapes=[(1, side, 4)], return_dict=False)
            if takes_lens and not deprecated:  # releases before the mask replaced it
                named["txt_seq_lens"] = [8]
            return named
    elif kind == "sd3":  # no repeated blocks declared: whole-model compile only
        model = diffusers.SD3Transformer2DModel(
            sample_size=8, patch_size=2, in_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=2,
            joint_attention_dim=16, caption_projection_dim=16, pooled_projection_dim=16, out_channels=4, pos_embed_max_size=16)

        def inputs(resolution=1, step=0):
            gen = torch.Generator().manual_seed(seed + step)
            return dict(hidden_states=_randn(gen, 1, 4, 4 * (resolution + 1), 8), encoder_hidden_states=_randn(gen, 1, 8, 16),
                        pooled_projections=_randn(gen, 1, 16), timestep=torch.tensor([900 - 100 * step]), return_dict=False)
    else:
        raise ValueError(f"no small {kind!r}; choose flux, wan, qwen-image or sd3")
    return model.eval(), inputs


def small_flux(seed: int = 0):
    model, inputs = small("flux", seed)
    return model, inputs()


def caching_hook_run(cache: str, compiled: bool | str = True, resolutions=(1, 2, 3), steps: int = 6, limit: int = 8) -> dict:
    """A small FLUX.1 (2+2 blocks; SeaCache: a small Wan 2.1, 2 blocks) with a caching hook (taylorseer |
    mag-cache | sea-cache) driven as a pipeline does (a cache context per denoiser call with the step, as
    WanPipeline gives it, the cache reset for each new image), `steps` steps at each resolution, compiled
    before the first call (backend eager) regionally (`compiled` True or "regional"), whole ("whole") or
    not at all (False), under recompile limit `limit`: dynamo's recompile-limit hits, the graphs it
    compiled, its graph breaks and their reasons, the outputs."""
    import torch

    from patches.diffusers.group_offloading import dynamo_messages, limit_hits

    model, inputs = small("wan") if cache == "sea-cache" else small("flux", layers=(2, 2))
    if cache == "sea-cache":
        from diffusers import SeaCacheConfig

        model.enable_cache(SeaCacheConfig(threshold=1e6))  # any change is small enough: the middle steps reuse the cache
    elif cache == "taylorseer":
        from diffusers import TaylorSeerCacheConfig

        model.enable_cache(TaylorSeerCacheConfig(cache_interval=2, disable_cache_before_step=1, max_order=1))
    elif cache == "mag-cache":  # a threshold that skips some steps after the first ones
        from diffusers import MagCacheConfig

        model.enable_cache(MagCacheConfig(threshold=0.5, num_inference_steps=steps, mag_ratios=[1.0] * steps, retention_ratio=0.2))
    else:
        raise ValueError(f"no caching hook {cache!r}; choose taylorseer, mag-cache or sea-cache")
    outputs = []

    def run():
        with torch.no_grad():
            for resolution in resolutions:
                for step in range(steps):
                    where = dict(step_index=step, sigma=1.0 - step / steps, num_inference_steps=steps) if cache == "sea-cache" else {}
                    with model.cache_context("cond", **where):
                        outputs.append(model(**inputs(resolution, step))[0])
                model._reset_stateful_cache()

    torch._dynamo.reset()
    counters = torch._dynamo.utils.counters
    graphs, breaks = counters["stats"]["unique_graphs"], dict(counters["graph_break"])
    if compiled == "whole":
        model.compile(backend="eager")
    elif compiled:
        model.compile_repeated_blocks(backend="eager")
    with torch._dynamo.config.patch(recompile_limit=limit):
        hits = limit_hits(dynamo_messages(run))
    new_breaks = {reason: n - breaks.get(reason, 0) for reason, n in counters["graph_break"].items() if n > breaks.get(reason, 0)}
    return {"limit_hits": hits, "graphs": counters["stats"]["unique_graphs"] - graphs, "breaks": sum(new_breaks.values()),
            "break_reasons": sorted(new_breaks), "outputs": outputs}
