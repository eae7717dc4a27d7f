"""sglang's own diffusion transformers, built outside a server the way its loader builds them: the
real config class updated with the published architecture (`update_model_arch`), random weights,
depth reduced at full width; one denoising step's inputs, with the RoPE tables made by the host's
own pipeline config. `fluxfix doctor` and `benchmarks/bench_sglang.py` both build from here."""
from __future__ import annotations

import importlib
import inspect
import os
from dataclasses import dataclass
from typing import Callable

from fluxfix.architectures import ARCHITECTURES, depth_values
from patches.sglang.host import warp_size_answered

ROOT = "sglang.multimodal_gen."
# model -> (model module, class, config module, config class, pipeline config module, class)
CLASSES = {
    "flux": ("runtime.models.dits.flux", "FluxTransformer2DModel", "configs.models.dits.flux", "FluxConfig",
             "configs.pipeline_configs.flux", "FluxPipelineConfig"),
    "flux2": ("runtime.models.dits.flux_2", "Flux2Transformer2DModel", "configs.models.dits.flux", "FluxConfig",
              "configs.pipeline_configs.flux", "Flux2PipelineConfig"),
    "wan": ("runtime.models.dits.wanvideo", "WanTransformer3DModel", "configs.models.dits.wanvideo", "WanVideoConfig",
            None, None),
    "qwen-image": ("runtime.models.dits.qwen_image", "QwenImageTransformer2DModel", "configs.models.dits.qwenimage",
                   "QwenImageDitConfig", "configs.pipeline_configs.qwen_image", "QwenImagePipelineConfig"),
}
MODELS = tuple(CLASSES)
# FLUX.1 and Wan at a width a CPU compiles in seconds (heads x head size 2 x 16; FLUX.1's RoPE axes summing to 16)
NARROW = {"flux": dict(in_channels=16, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                       pooled_projection_dim=16, axes_dims_rope=(4, 6, 6)),
          "wan": dict(num_attention_heads=2, attention_head_dim=16, freq_dim=32, ffn_dim=64)}  # text_dim stays: the inputs' 4096
VAE_SCALE = 8  # FLUX.1, Qwen-Image and Wan 2.1 VAEs; sglang sets it when it loads the VAE


def narrow_wan_vae(seed: int = 0):
    """sglang's Wan VAE (AutoencoderKLWan) at base width 8, random weights, eval mode: its real cached
    decode, small enough to compile in seconds on a CPU. Returns (the wanvae module, the VAE)."""
    import torch

    with warp_size_answered():
        from sglang.multimodal_gen.configs.models.vaes.wanvae import WanVAEConfig
        from sglang.multimodal_gen.runtime.models.vaes import wanvae
    config = WanVAEConfig()
    config.arch_config.base_dim = 8
    torch.manual_seed(seed)
    return wanvae, wanvae.AutoencoderKLWan(config).eval()


@dataclass
class Built:
    model: object  # the torch module
    inputs: dict  # one denoising step's keyword arguments
    step: Callable[[], object]  # one step as sglang runs it: no grad, inside its forward context
    what: str  # which host class and architecture, in words
    params_m: float


class Request:
    """Stands for sglang's request object where its pipeline config reads one: the fields given,
    None for the rest (its own defaults for a plain text-to-image request)."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def __getattr__(self, name):
        return None


def _host(path: str):
    return importlib.import_module(ROOT + path)


def set_server_args(**overrides) -> None:
    """sglang's real ServerArgs with its declared defaults; __post_init__ (which resolves the model
    on the hub and sets up a server) is skipped: the layers only read fields."""
    import dataclasses

    sa = _host("runtime.server_args")
    args = object.__new__(sa.ServerArgs)
    for f in dataclasses.fields(sa.ServerArgs):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        object.__setattr__(args, f.name, overrides.get(f.name, default))
    sa.set_global_server_args(args)


def init_model_parallel(device: str) -> None:
    """sglang's process groups for one process (world size 1), without a launcher."""
    import torch

    ps = _host("runtime.distributed.parallel_state")
    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", str(29500 + os.getpid() % 1000))):
        os.environ.setdefault(key, value)
    if ps.model_parallel_is_initialized():
        return
    if torch.device(device).type == "cuda":
        init = ps.maybe_init_distributed_environment_and_model_parallel
        cfg = {"enable_cfg_parallel": False} if "enable_cfg_parallel" in inspect.signature(init).parameters else {}
        init(tp_size=1, sp_size=1, **cfg)
    else:
        ps.init_distributed_environment(world_size=1, rank=0, local_rank=0, backend="gloo")
        # gloo named: sglang would ask its platform, which answers nccl on a (simulated) ROCm machine
        ps.initialize_model_parallel(tensor_parallel_degree=1, sequence_parallel_degree=1, backend="gloo")


def random_weights(model, seed: int, dev) -> None:
    """Fan-in scaled normal matrices, unit norm scales, small biases: activations stay O(1) through
    the blocks, so compiled-vs-eager errors mean something. Drawn on the device the model was built
    on (seconds instead of half a minute for a multi-billion-parameter model on a GPU machine)."""
    import torch

    gen = torch.Generator(device=dev).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen, device=dev) * p.shape[1] ** -0.5)
            elif name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.copy_(torch.randn(p.shape, generator=gen, device=dev) * 0.02)


def build(model: str, layers: int | None, device: str, dtype, height: int = 1024, width: int = 1024,
          frames: int = 17, text_len: int = 512, seed: int = 0, narrow: dict | None = None,
          attention_backend: str = "torch_sdpa", forward_batch=None) -> Built:
    """`layers`: blocks of each kind (None: the published depth). Images are height x width; Wan
    gets a `frames`-frame video (its VAE keeps every 4th frame, plus the first). `narrow`: values
    that replace the published width (NARROW: small enough for a CPU test). `attention_backend`:
    sglang's --attention-backend (e.g. "aiter" on ROCm). `forward_batch`: the request the forward
    context carries in a real pipeline (sglang's Req), or None."""
    import torch

    model_mod, model_cls, config_mod, config_cls, pipe_mod, pipe_cls = CLASSES[model]
    arch = ARCHITECTURES[model]
    set_server_args(model_path=arch.published, attention_backend=attention_backend, kv_gather_degree=1)
    init_model_parallel(device)
    depth = depth_values(arch, layers)
    values = {**arch.config, **(narrow or {}), **depth}
    config = getattr(_host(config_mod), config_cls)()
    config.update_model_arch(dict(values))  # what sglang's loader does with config.json
    dev = torch.device(device)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # as sglang's loader does; explicit float32/64 tables stay so
    try:
        with warp_size_answered():  # the model module's Triton kernels ask for the warp size at import
            cls = getattr(_host(model_mod), model_cls)
        with dev:
            net = cls(config=config, hf_config=dict(values))
    finally:
        torch.set_default_dtype(previous)
    random_weights(net, seed, dev)
    net.eval()
    pipeline = getattr(_host(pipe_mod), pipe_cls)() if pipe_mod else None
    inputs = _inputs(model, net, pipeline, dev, dtype, height, width, frames, text_len, seed, values)
    context = _host("runtime.managers.forward_context").set_forward_context
    carried = {"forward_batch": forward_batch} if forward_batch is not None else {}

    def step():
        with torch.no_grad(), context(current_timestep=0, attn_metadata=None, **carried):
            return net(**inputs)

    params = sum(p.numel() for p in net.parameters()) / 1e6
    blocks = "+".join(str(v) for v in depth.values())
    what = f"sglang {model_cls} ({arch.published} architecture), {blocks} blocks at full width, {params:.0f}M params"
    return Built(net, inputs, step, what, params)


def _inputs(model, net, pipeline, dev, dtype, height, width, frames, text_len, seed, cfg) -> dict:
    import torch

    gen = torch.Generator(device=dev).manual_seed(seed + 1)

    def rand(*shape):
        return torch.randn(*shape, device=dev, dtype=dtype, generator=gen)

    tokens = (height // (VAE_SCALE * 2)) * (width // (VAE_SCALE * 2))  # 2x2 patches of the latent
    if model == "wan":  # the transformer patchifies and builds its RoPE itself
        latent_frames = (frames - 1) // 4 + 1
        return dict(hidden_states=rand(1, 16, latent_frames, height // VAE_SCALE, width // VAE_SCALE),
                    encoder_hidden_states=rand(1, text_len, 4096), timestep=torch.tensor([500.0], device=dev))
    pipeline.vae_config.arch_config.vae_scale_factor = VAE_SCALE
    text = rand(1, text_len, cfg["joint_attention_dim"])
    request = dict(height=height, width=width, prompt_seq_lens=[[text_len], [text_len]], batch_size=1,
                   did_sp_shard_latents=False)
    if model == "flux":  # encoder 0 is CLIP (pooled), 1 is T5
        pooled = rand(1, cfg["pooled_projection_dim"])
        request.update(prompt_embeds=[pooled, text], pooled_embeds=[pooled])
        fixed = dict(hidden_states=rand(1, tokens, cfg["in_channels"]), encoder_hidden_states=text,
                     timestep=torch.tensor([500.0], device=dev),  # sigma * 1000, float32 as the scheduler's
                     guidance=torch.full((1,), 3500.0, device=dev, dtype=dtype))  # embedded cfg scale * 1000
    elif model == "flux2":  # one Mistral stream; positions from the host's own latent-id helper (on
        # CPU, moved to the device as sglang's latent preparation stage does)
        side_h, side_w = height // (VAE_SCALE * 2), width // (VAE_SCALE * 2)
        request.update(prompt_embeds=[text], image_latent=None,
                       latent_ids=pipeline.maybe_prepare_latent_ids(torch.zeros(1, cfg["in_channels"], side_h, side_w)).to(dev))
        fixed = dict(hidden_states=rand(1, tokens, cfg["in_channels"]), encoder_hidden_states=text,
                     timestep=torch.tensor([0.5], device=dev), guidance=torch.full((1,), 4.0, device=dev))
    else:  # qwen-image
        request.update(prompt_embeds=[text])
        fixed = dict(hidden_states=rand(1, tokens, cfg["in_channels"]), encoder_hidden_states=text,
                     timestep=torch.tensor([0.5], device=dev))
    with torch.no_grad():
        cond = pipeline.prepare_pos_cond_kwargs(Request(**request), dev, net.rotary_emb, dtype)
    accepted = inspect.signature(net.forward).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    return {k: v for k, v in {**cond, **fixed}.items() if takes_any or k in accepted}


def output_tensor(out):
    """The sample a step returns: a tensor, a (sample, ...) tuple or an output object."""
    if isinstance(out, (tuple, list)):
        return out[0]
    return getattr(out, "sample", out)
