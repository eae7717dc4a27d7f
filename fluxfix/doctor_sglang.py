"""What `fluxfix doctor` compiles for sglang: its real FLUX.1 transformer (real config class, random
weights, reduced depth at full width) where it builds on this machine, else its real components
that do import (linear layer, platform check, RoPE helper, fused norm, JIT kernels)."""
from __future__ import annotations

import inspect
import os

from fluxfix.device_query import warp_size_answered
from fluxfix.doctor_cases import Case

MODELS = ("flux", "components")


def cases(model: str, layers: int, device: str, dtype) -> tuple[list[Case], list[str]]:
    notes = []
    with warp_size_answered() as answered:
        import sglang.multimodal_gen.runtime.layers.linear  # noqa: F401  (parents first: sglang has import cycles)
    if answered:
        notes.append("no GPU here: sglang's import-time CUDA warp-size query was answered with 32")
    if model == "flux":
        try:
            return [flux_transformer(layers, device, dtype)], notes
        except Exception as exc:
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
            notes.append(f"sglang's FLUX.1 transformer cannot be built on this machine ({type(exc).__name__}: {first}); "
                         "falling back to sglang's real components that do import")
    return components(device), notes


def _server_args(**overrides):
    """sglang's real ServerArgs with its declared defaults; __post_init__ (which resolves the model
    on the hub and sets up a server) is skipped: the layers only read fields."""
    import dataclasses

    from sglang.multimodal_gen.runtime import server_args as sa

    args = object.__new__(sa.ServerArgs)
    for f in dataclasses.fields(sa.ServerArgs):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        object.__setattr__(args, f.name, overrides.get(f.name, default))
    sa.set_global_server_args(args)


def _model_parallel(device: str) -> None:
    import torch
    from sglang.multimodal_gen.runtime.distributed import parallel_state as ps

    for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", str(29500 + os.getpid() % 1000))):
        os.environ.setdefault(key, value)
    if torch.device(device).type == "cuda":
        init = ps.maybe_init_distributed_environment_and_model_parallel
        cfg = {"enable_cfg_parallel": False} if "enable_cfg_parallel" in inspect.signature(init).parameters else {}
        init(tp_size=1, sp_size=1, **cfg)  # the argument exists up to 0.5.1x
    elif not ps.model_parallel_is_initialized():
        ps.init_distributed_environment(world_size=1, rank=0, local_rank=0, backend="gloo")
        ps.initialize_model_parallel(tensor_parallel_degree=1, sequence_parallel_degree=1)


def flux_transformer(layers: int, device: str, dtype) -> Case:
    """FLUX.1-dev's transformer (its config.json's architecture) with `layers` double and `layers`
    single blocks, random weights, one 256x256 image (256 latent tokens) and 64 text tokens."""
    import torch
    from sglang.multimodal_gen.configs.models.dits.flux import FluxArchConfig, FluxConfig
    from sglang.multimodal_gen.configs.pipeline_configs.flux import FluxPipelineConfig
    from sglang.multimodal_gen.runtime.managers.forward_context import set_forward_context
    from sglang.multimodal_gen.runtime.models.dits.flux import FluxTransformer2DModel

    _server_args(model_path="black-forest-labs/FLUX.1-dev", attention_backend="torch_sdpa", kv_gather_degree=1)
    _model_parallel(device)
    arch = FluxArchConfig(patch_size=1, in_channels=64, num_layers=layers, num_single_layers=layers, guidance_embeds=True,
                          axes_dims_rope=(16, 56, 56), num_attention_heads=24, attention_head_dim=128,
                          joint_attention_dim=4096, pooled_projection_dim=768)
    dev = torch.device(device)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # as sglang's loader does
    try:
        with dev:
            model = FluxTransformer2DModel(config=FluxConfig(arch_config=arch), hf_config={}).eval()
    finally:
        torch.set_default_dtype(previous)
    size, text_len = 256, 64
    text = torch.randn(1, text_len, 4096, device=dev, dtype=dtype)
    config = FluxPipelineConfig()
    config.vae_config.arch_config.vae_scale_factor = 8  # FLUX's VAE; set when sglang loads it
    extra = [[text_len]] if "txt_seq_lens" in inspect.signature(config.get_freqs_cis).parameters else []
    with torch.no_grad():
        freqs = config.get_freqs_cis(text, size, size, dev, model.rotary_emb, None, *extra)
    inputs = dict(hidden_states=torch.randn(1, (size // 16) ** 2, 64, device=dev, dtype=dtype), encoder_hidden_states=text,
                  pooled_projections=torch.randn(1, 768, device=dev, dtype=dtype), timestep=torch.tensor([500.0], device=dev),
                  guidance=torch.full((1,), 3500.0, device=dev, dtype=dtype), freqs_cis=freqs)

    def step():
        with torch.no_grad(), set_forward_context(current_timestep=0, attn_metadata=None):
            return model(**inputs)

    params = sum(p.numel() for p in model.parameters()) / 1e6
    return Case("FLUX.1-dev transformer", f"models/dits/flux.py, {layers}+{layers} blocks at full width, {params:.0f}M params", step)


def components(device: str) -> list[Case]:
    """The host's own layers and helpers that import on any machine, each run as sglang runs it."""
    import torch

    with warp_size_answered():
        from sglang.multimodal_gen.runtime.layers import layernorm, linear, rotary_embedding, visual_embedding
        from sglang.multimodal_gen.runtime.platforms import current_platform
    dev = torch.device(device)
    torch.manual_seed(0)
    found = []

    method, layer = linear.UnquantizedLinearMethod(), torch.nn.Module()
    method.create_weights(layer, 64, [64], 64, 64, torch.float32)
    layer.to(dev)
    x, bias = torch.randn(8, 64, device=dev), torch.randn(64, device=dev)
    found.append(Case("linear layer", "layers/linear.py UnquantizedLinearMethod.apply (every DiT projection)",
                      lambda: method.apply(layer, x, bias)))

    found.append(Case("platform check", "current_platform.is_amp_supported(), as Wan's forward and the VAEs call it",
                      lambda: x * 2 if current_platform.is_amp_supported() else x - 1))

    rope = rotary_embedding.apply_flashinfer_rope_qk_inplace
    q, cache = torch.randn(1, 16, 2, 64, device=dev), torch.randn(64, 64, device=dev)
    found.append(Case("RoPE helper", "apply_flashinfer_rope_qk_inplace (its Triton path when FlashInfer is missing)",
                      lambda: rope(q, q.clone(), cache)))

    if hasattr(layernorm, "LayerNormScaleShift") and hasattr(layernorm.LayerNormScaleShift, "forward_cuda"):
        norm = layernorm.LayerNormScaleShift(64, elementwise_affine=True).to(dev)
        h, shift, scale = torch.randn(2, 8, 64, device=dev), torch.randn(2, 1, 64, device=dev), torch.randn(2, 1, 64, device=dev)
        found.append(Case("fused norm", "layers/layernorm.py LayerNormScaleShift.forward_cuda (its fallback path)",
                          lambda: norm.forward_cuda(h, shift, scale)))

    # The JIT kernels run on CUDA only: on other machines they are traced on meta tensors.
    kernel_dev = dev if dev.type == "cuda" else torch.device("meta")
    timestep = visual_embedding.timestep_embedding_cuda
    t = torch.tensor([500.0, 250.0], device=kernel_dev)
    found.append(Case("timestep embedding kernel", "visual_embedding's timestep_embedding_cuda (on CUDA)",
                      lambda: timestep(t, 256, True)))
    qknorm = getattr(layernorm, "fused_inplace_qknorm", None)
    if qknorm is not None:
        qk, w = torch.randn(1, 8, 4, 256, device=kernel_dev), torch.ones(128, device=kernel_dev)
        found.append(Case("in-place QK-norm kernel", "layernorm's fused_inplace_qknorm (QK-norm/RoPE fallback path)",
                          lambda: qknorm(qk[..., :128], qk[..., 128:], w, w, 1e-6, head_dim=128)))
    return found
