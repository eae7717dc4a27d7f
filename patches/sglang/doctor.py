"""What `fluxfix doctor` compiles for sglang: its real FLUX.1, FLUX.2, Wan 2.1 or Qwen-Image
transformer (`patches.sglang.models`) where it builds on this machine, else its real components
that do import (linear layer, platform check, RoPE helper, fused norm, JIT kernels)."""
from __future__ import annotations

import traceback

from patches.sglang import models as sglang_models
from patches.sglang import simulated_rocm
from fluxfix.breaks import short_path
from patches.sglang.host import warp_size_answered
from fluxfix.cases import Case
from fluxfix.errors import one_line

MODELS = sglang_models.MODELS + ("components",)


def cases(model: str, layers: int, device: str, dtype) -> tuple[list[Case], list[str]]:
    notes = []
    with warp_size_answered() as answered:
        import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first: sglang has import cycles)
        import sglang.multimodal_gen.runtime.layers.linear  # noqa: F401
    if answered and not simulated_rocm.active():
        notes.append("no GPU here: sglang's import-time CUDA warp-size query was answered with 32")
    if model != "components":
        try:
            return [transformer(model, layers, device, dtype)], notes
        except Exception as exc:
            published = sglang_models.ARCHITECTURES[model].published
            notes.append(f"sglang's {published} transformer cannot be built on this machine ({why(exc)}); "
                         "falling back to sglang's real components that do import")
    return components(device), notes


def why(exc: Exception) -> str:
    """The exception's first line and where the host raised it."""
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{one_line(exc)} at {short_path(last.filename)}:{last.lineno} in {last.name}"


def transformer(model: str, layers: int, device: str, dtype) -> Case:
    """The published architecture with `layers` blocks of each kind, random weights, one 256x256
    image (a 5-frame 256x256 video for Wan) and 64 text tokens."""
    backend = "aiter" if simulated_rocm.active() else "torch_sdpa"  # what an AMD user of FLUX picks
    built = sglang_models.build(model, layers, device, dtype, height=256, width=256, frames=5, text_len=64,
                                attention_backend=backend)
    published = sglang_models.ARCHITECTURES[model].published
    return Case(f"{published} transformer", built.what, built.step)


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
