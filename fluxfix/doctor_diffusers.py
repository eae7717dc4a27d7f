"""What `fluxfix doctor --host diffusers` compiles: diffusers' own transformers, built from the
published architectures (each model's config.json) at reduced depth and full width, random
weights, one small image or video latent."""
from __future__ import annotations

from fluxfix.doctor_cases import Case

# class name, the architecture's config values (depth set by --layers), what the step feeds it
ARCHITECTURES = {
    "flux": ("FluxTransformer2DModel", "FLUX.1-dev", dict(
        patch_size=1, in_channels=64, attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
        pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))),
    "flux2": ("Flux2Transformer2DModel", "FLUX.2-dev", dict(
        patch_size=1, in_channels=128, attention_head_dim=128, num_attention_heads=48, joint_attention_dim=15360,
        timestep_guidance_channels=256, mlp_ratio=3.0, axes_dims_rope=(32, 32, 32, 32), rope_theta=2000, eps=1e-6)),
    "wan": ("WanTransformer3DModel", "Wan2.1-T2V-1.3B", dict(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6)),
    "qwen-image": ("QwenImageTransformer2DModel", "Qwen-Image", dict(
        patch_size=2, in_channels=64, out_channels=16, attention_head_dim=128, num_attention_heads=24,
        joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56))),
}
MODELS = tuple(ARCHITECTURES)
DEPTH = {"flux": ("num_layers", "num_single_layers"), "flux2": ("num_layers", "num_single_layers"),
         "wan": ("num_layers",), "qwen-image": ("num_layers",)}


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


def cases(model: str, layers: int, device: str, dtype) -> tuple[list[Case], list[str]]:
    import diffusers
    import torch

    class_name, published, config = ARCHITECTURES[model]
    torch.manual_seed(0)
    depth = {key: layers for key in DEPTH[model]}
    net = getattr(diffusers, class_name)(**config, **depth).to(device=device, dtype=dtype).eval()
    inputs = _inputs(model, torch.device(device), dtype)

    def step():
        with torch.no_grad():
            return net(**inputs)

    params = sum(p.numel() for p in net.parameters()) / 1e6
    blocks = "+".join(str(v) for v in depth.values())
    what = f"diffusers {class_name} ({published} architecture), {blocks} blocks at full width, {params:.0f}M params"
    return [Case(f"{published} transformer", what, step)], []
