"""The published transformer architectures (each model's config.json on the hub) that doctor and the
benchmark build with random weights: one table, shared by the sglang and diffusers builders."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    published: str  # the checkpoint whose config.json these values are
    config: dict  # its architecture values, depth keys excluded
    depth: tuple  # the config keys that count blocks, set from --layers
    full_depth: tuple  # the published block counts, in the order of `depth`


ARCHITECTURES = {
    "flux": Architecture("FLUX.1-dev", dict(
        patch_size=1, in_channels=64, attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
        pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56)),
        ("num_layers", "num_single_layers"), (19, 38)),
    "flux2": Architecture("FLUX.2-dev", dict(
        patch_size=1, in_channels=128, out_channels=None, attention_head_dim=128, num_attention_heads=48, joint_attention_dim=15360,
        timestep_guidance_channels=256, mlp_ratio=3.0, axes_dims_rope=(32, 32, 32, 32), rope_theta=2000, eps=1e-6),
        ("num_layers", "num_single_layers"), (8, 48)),
    "wan": Architecture("Wan2.1-T2V-1.3B", dict(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6),
        ("num_layers",), (30,)),
    "qwen-image": Architecture("Qwen-Image", dict(
        patch_size=2, in_channels=64, out_channels=16, attention_head_dim=128, num_attention_heads=24,
        joint_attention_dim=3584, guidance_embeds=False, axes_dims_rope=(16, 56, 56)),
        ("num_layers",), (60,)),
}


def depth_values(arch: Architecture, layers) -> dict:
    """Block counts per depth key: `layers` an int for every kind, a tuple per kind (FLUX: double,
    single), or None for the published depth."""
    if layers is None:
        layers = arch.full_depth
    elif isinstance(layers, int):
        layers = (layers,) * len(arch.depth)
    if len(layers) != len(arch.depth):
        raise ValueError(f"{arch.published} takes {len(arch.depth)} block count(s) ({', '.join(arch.depth)}), got {layers}")
    return dict(zip(arch.depth, layers))
