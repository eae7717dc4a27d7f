"""What `fluxfix doctor --host diffusers` compiles: diffusers' own FLUX.1 transformer, built from
the FLUX.1-dev architecture (its config.json) at reduced depth and full width, random weights."""
from __future__ import annotations

from fluxfix.doctor_cases import Case

MODELS = ("flux",)


def cases(model: str, layers: int, device: str, dtype) -> tuple[list[Case], list[str]]:
    import torch
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    model = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=layers, num_single_layers=layers,
                                   attention_head_dim=128, num_attention_heads=24, joint_attention_dim=4096,
                                   pooled_projection_dim=768, guidance_embeds=True, axes_dims_rope=(16, 56, 56))
    model = model.to(device=device, dtype=dtype).eval()
    tokens, text_len = 256, 64  # a 256x256 image, a short prompt
    dev = torch.device(device)
    inputs = dict(hidden_states=torch.randn(1, tokens, 64, device=dev, dtype=dtype),
                  encoder_hidden_states=torch.randn(1, text_len, 4096, device=dev, dtype=dtype),
                  pooled_projections=torch.randn(1, 768, device=dev, dtype=dtype),
                  timestep=torch.tensor([0.5], device=dev, dtype=dtype), guidance=torch.tensor([3.5], device=dev, dtype=dtype),
                  img_ids=torch.zeros(tokens, 3, device=dev), txt_ids=torch.zeros(text_len, 3, device=dev), return_dict=False)

    def step():
        with torch.no_grad():
            return model(**inputs)

    params = sum(p.numel() for p in model.parameters()) / 1e6
    return [Case("FLUX.1 transformer", f"diffusers FluxTransformer2DModel, {layers}+{layers} blocks at full width, {params:.0f}M params", step)], []
