"""diffusers transformers built from their real config classes with random weights, at a size a CPU
compiles in seconds (for the contract checks and tests) or at the published architecture's full
width (doctor, benchmarks: `fluxfix.architectures`)."""
from __future__ import annotations


def small_flux(seed: int = 0):
    """A FLUX.1-shaped FluxTransformer2DModel: 1 double + 1 single block, 2 heads of 16; one
    16-token image latent and 8 text tokens. Returns (model, inputs)."""
    import torch
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(seed)
    model = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=16,
                                   num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=16,
                                   guidance_embeds=True, axes_dims_rope=(4, 6, 6)).eval()
    return model, flux_inputs(16, 8, seed)


def flux_inputs(image_tokens: int, text_tokens: int, seed: int = 0, timestep: float = 0.5) -> dict:
    import torch

    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(1, image_tokens, 16, generator=gen),
                encoder_hidden_states=torch.randn(1, text_tokens, 32, generator=gen),
                pooled_projections=torch.randn(1, 16, generator=gen), timestep=torch.tensor([timestep]),
                guidance=torch.tensor([3.5]), img_ids=torch.zeros(image_tokens, 3), txt_ids=torch.zeros(text_tokens, 3),
                return_dict=False)
