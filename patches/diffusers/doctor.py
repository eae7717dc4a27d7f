"""What `fluxfix doctor --host diffusers` compiles: diffusers' own transformers, built from the
published architectures (each model's config.json) at reduced depth and full width, random
weights, one small image or video latent."""
from __future__ import annotations

import contextlib

from fluxfix.architectures import ARCHITECTURES, depth_values
from fluxfix.cases import Case

CLASSES = {"flux": "FluxTransformer2DModel", "flux2": "Flux2Transformer2DModel", "wan": "WanTransformer3DModel",
           "qwen-image": "QwenImageTransformer2DModel"}
MODELS = tuple(CLASSES)


def _inputs(model: str, dev, dtype) -> dict:
    """A 256x256 image (16x16 latent tokens after patching) or one 16x16 video latent frame, 64 text tokens."""
    import torch

    def rand(*shape):
        return torch.randn(*shape, device=dev, dtype=dtype)

    text_len = 64
    if model == "flux":
        return dict(hidden_states=rand(1, 256, 64), encoder_hidden_states=rand(1, text_len, 4096), pooled_projections=rand(1, 768),
                    timestep=torch.tensor([0.5], device=dev, dtype=dtype), guidance=torch.tensor([3.5], device=dev, dtype=dtype),
                    img_ids=torch.zeros(256, 3, device=dev), txt_ids=torch.zeros(text_len, 3, device=dev), return_dict=False)
    if model == "flux2":
        return dict(hidden_states=rand(1, 256, 128), encoder_hidden_states=rand(1, text_len, 15360),
                    timestep=torch.tensor([0.5], device=dev, dtype=dtype), guidance=torch.tensor([4.0], device=dev, dtype=dtype),
                    img_ids=torch.zeros(1, 256, 4, device=dev), txt_ids=torch.zeros(1, text_len, 4, device=dev), return_dict=False)
    if model == "wan":
        return dict(hidden_states=rand(1, 16, 1, 32, 32), timestep=torch.tensor([500], device=dev),
                    encoder_hidden_states=rand(1, text_len, 4096), return_dict=False)
    return dict(hidden_states=rand(1, 256, 64), encoder_hidden_states=rand(1, text_len, 3584),
                encoder_hidden_states_mask=torch.ones(1, text_len, device=dev), timestep=torch.tensor([0.5], device=dev, dtype=dtype),
                img_shapes=[(1, 16, 16)], return_dict=False)  # txt_seq_lens is deprecated (0.37): the mask says it


def cases(model: str, layers: int, device: str, dtype, features=()) -> tuple[list[Case], list[str]]:
    import diffusers
    import torch

    class_name, arch = CLASSES[model], ARCHITECTURES[model]
    torch.manual_seed(0)
    depth = depth_values(arch, layers)
    net = getattr(diffusers, class_name)(**arch.config, **depth).to(device=device, dtype=dtype).eval()
    if "layerwise-fp8" in features:  # diffusers' own API: float8 storage, the run's dtype for compute
        net.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if "faster-cache" in features:  # its spatial attention cache, as a pipeline sets it up (timestep from the step)
        from diffusers import FasterCacheConfig

        net.enable_cache(FasterCacheConfig(spatial_attention_block_skip_range=2, current_timestep_callback=lambda: 900,
                                           attention_weight_callback=lambda _: 0.5, is_guidance_distilled=True))
    if "first-block-cache" in features:
        from diffusers import FirstBlockCacheConfig

        net.enable_cache(FirstBlockCacheConfig(threshold=0.2))
    if "taylorseer" in features:
        from diffusers import TaylorSeerCacheConfig

        net.enable_cache(TaylorSeerCacheConfig())
    if "sea-cache" in features:  # 0.42+, Wan 2.x / Cosmos 3; the cache context carries the step (below)
        try:
            from diffusers import SeaCacheConfig
        except ImportError:
            raise ValueError(f"--feature sea-cache needs diffusers 0.42 or newer (this is {diffusers.__version__})") from None
        if model != "wan":
            raise ValueError(f"--feature sea-cache supports --model wan here (SeaCache caches Wan 2.x and Cosmos 3), not {model!r}")
        net.enable_cache(SeaCacheConfig(threshold=1e6))
    if "mag-cache" in features:  # 0.37+: calibrated magnitude ratios, one per step
        from diffusers import MagCacheConfig

        net.enable_cache(MagCacheConfig(threshold=0.06, num_inference_steps=4, mag_ratios=[1.0] * 4))
    if "lora" in features:  # peft LoRA layers on the attention projections, as load_lora_weights leaves them
        try:
            from peft import LoraConfig
        except ImportError:
            raise ValueError("--feature lora needs peft: pip install peft") from None
        net.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
    if "group-offload" in features:  # block-level groups kept on the CPU, moved to the device per block
        net.enable_group_offload(onload_device=torch.device(device), offload_device=torch.device("cpu"),
                                 offload_type="block_level", num_blocks_per_group=1)
    # diffusers' pipelines run the denoiser inside a cache context (0.37+); the caching hooks need one
    context = getattr(net, "cache_context", None)
    inputs = _inputs(model, torch.device(device), dtype)
    # the next step: a new timestep (its dtype kept), as every step brings
    later = {**inputs, "timestep": (inputs["timestep"] * 0.5).to(inputs["timestep"].dtype)}

    # SeaCache reads the step from the cache context, as WanPipeline passes it: one step for every call here (the
    # harness function is compiled whole, so a changing step would recompile it), which shows its hooks' breaks
    where = dict(step_index=1, sigma=0.75, num_inference_steps=4) if "sea-cache" in features else {}

    def step(named=inputs):  # the same code path for every call: only the inputs change
        with torch.no_grad(), (context("cond", **where) if context and features else contextlib.nullcontext()):
            return net(**named)

    params = sum(p.numel() for p in net.parameters()) / 1e6
    blocks = "+".join(str(v) for v in depth.values())
    what = f"diffusers {class_name} ({arch.published} architecture), {blocks} blocks at full width, {params:.0f}M params"
    rebuild = (lambda: cases(model, layers, device, dtype, features)[0][0]) if features else None  # hooks register anew
    return [Case(f"{arch.published} transformer", what, step, more=[(later,)], rebuild=rebuild)], []
