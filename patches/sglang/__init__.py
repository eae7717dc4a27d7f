"""sglang's diffusion runtime (`sglang.multimodal_gen`): its patches and host support."""
