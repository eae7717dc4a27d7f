"""diffusers: its patches and host support."""
