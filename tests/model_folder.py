"""A model folder in the exact layout Hugging Face diffusers loads from (model_index.json and one
folder per component), with the published model's config files and random weights, so that real
pipelines (`diffusers.FluxPipeline.from_pretrained(folder)`, `WanPipeline`) run end to end with no download.

Where the configs come from (black-forest-labs/FLUX.1-dev as published on the Hub; the values below
were checked against public code that vendors those files verbatim):
- model_index.json, transformer/config.json, vae/config.json, scheduler/scheduler_config.json: the
  FLUX.1-dev repository's own files (written by diffusers 0.30.0.dev0; the transformer file is quoted
  verbatim in e.g. Ascend ModelZoo's FLUX.1-dev README, the scheduler file in ostris/ai-toolkit, the
  VAE file, identical to FLUX.1-schnell's, in FLUX fine-tune repositories). The published transformer
  file has no `axes_dims_rope`: FluxTransformer2DModel's default (16, 56, 56) applies.
- text_encoder/config.json: FLUX.1-dev's copy of openai/clip-vit-large-patch14's text config
  (CLIPTextModel; bos/eos ids 0/2 as in that old config; transformers' CLIP then pools at the
  highest input id, which is why the tokenizer below puts <|endoftext|> last).
- text_encoder_2/config.json: FLUX.1-dev's copy of google/t5-v1_1-xxl (T5EncoderModel; vendored
  verbatim e.g. in kohya-ss/sd-scripts' flux_utils.py).

Weights: random (fixed seed), made by the host's own classes from the config and saved with their
own `save_pretrained` (file names and sharding are the installed release's); the published config
is then written over the one save_pretrained wrote, so the folder reads as the Hub's.

Tokenizers are built here (vocabularies cannot be downloaded): a CLIP byte-level BPE (vocab.json,
merges.txt) and a T5 Unigram tokenizer (tokenizer.json), each trained on a few lines of text with
the `tokenizers` library, loaded by the host's CLIPTokenizer / T5TokenizerFast and saved with their
save_pretrained. Their vocabularies are far smaller than the text encoders' vocab_size (49408,
32128), which stays as published: every id is below it, so the extra embedding rows are harmless.
"""
from __future__ import annotations

import json
import pathlib
import tempfile

FLUX_DEV = {
    "model_index.json": {
        "_class_name": "FluxPipeline",
        "_diffusers_version": "0.30.0.dev0",
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "T5EncoderModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "FluxTransformer2DModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    },
    "transformer": {
        "_class_name": "FluxTransformer2DModel",
        "_diffusers_version": "0.30.0.dev0",
        "_name_or_path": "../checkpoints/flux-dev/transformer",
        "attention_head_dim": 128,
        "guidance_embeds": True,
        "in_channels": 64,
        "joint_attention_dim": 4096,
        "num_attention_heads": 24,
        "num_layers": 19,
        "num_single_layers": 38,
        "patch_size": 1,
        "pooled_projection_dim": 768,
    },
    "vae": {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": "0.30.0.dev0",
        "_name_or_path": "../checkpoints/flux-dev",
        "act_fn": "silu",
        "block_out_channels": [128, 256, 512, 512],
        "down_block_types": ["DownEncoderBlock2D"] * 4,
        "force_upcast": True,
        "in_channels": 3,
        "latent_channels": 16,
        "latents_mean": None,
        "latents_std": None,
        "layers_per_block": 2,
        "mid_block_add_attention": True,
        "norm_num_groups": 32,
        "out_channels": 3,
        "sample_size": 1024,
        "scaling_factor": 0.3611,
        "shift_factor": 0.1159,
        "up_block_types": ["UpDecoderBlock2D"] * 4,
        "use_post_quant_conv": False,
        "use_quant_conv": False,
    },
    "scheduler": {
        "_class_name": "FlowMatchEulerDiscreteScheduler",
        "_diffusers_version": "0.30.0.dev0",
        "base_image_seq_len": 256,
        "base_shift": 0.5,
        "max_image_seq_len": 4096,
        "max_shift": 1.15,
        "num_train_timesteps": 1000,
        "shift": 3.0,
        "use_dynamic_shifting": True,
    },
    "text_encoder": {
        "_name_or_path": "openai/clip-vit-large-patch14",
        "architectures": ["CLIPTextModel"],
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "dropout": 0.0,
        "eos_token_id": 2,
        "hidden_act": "quick_gelu",
        "hidden_size": 768,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
        "intermediate_size": 3072,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77,
        "model_type": "clip_text_model",
        "num_attention_heads": 12,
        "num_hidden_layers": 12,
        "pad_token_id": 1,
        "projection_dim": 768,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.3",
        "vocab_size": 49408,
    },
    "text_encoder_2": {
        "_name_or_path": "google/t5-v1_1-xxl",
        "architectures": ["T5EncoderModel"],
        "classifier_dropout": 0.0,
        "d_ff": 10240,
        "d_kv": 64,
        "d_model": 4096,
        "decoder_start_token_id": 0,
        "dense_act_fn": "gelu_new",
        "dropout_rate": 0.1,
        "eos_token_id": 1,
        "feed_forward_proj": "gated-gelu",
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "is_gated_act": True,
        "layer_norm_epsilon": 1e-06,
        "model_type": "t5",
        "num_decoder_layers": 24,
        "num_heads": 64,
        "num_layers": 24,
        "output_past": True,
        "pad_token_id": 0,
        "relative_attention_max_distance": 128,
        "relative_attention_num_buckets": 32,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.43.3",
        "use_cache": True,
        "vocab_size": 32128,
    },
}

# size="small": the only keys that differ from the published configs (depth and width, for fast CPU
# runs). The widths chain: joint_attention_dim = T5 d_model, pooled_projection_dim = CLIP
# hidden_size, attention heads x head dim = sum(axes_dims_rope) x heads; the VAE keeps 4 blocks, so
# its 8x downsampling (and the pipeline's size rules) stay as published.
SMALL = {
    "transformer": {"num_layers": 1, "num_single_layers": 1, "num_attention_heads": 2, "attention_head_dim": 16,
                    "axes_dims_rope": [4, 6, 6], "joint_attention_dim": 32, "pooled_projection_dim": 32},
    "vae": {"block_out_channels": [32, 32, 32, 32], "layers_per_block": 1},
    "text_encoder": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 1},
    "text_encoder_2": {"d_model": 32, "d_ff": 64, "d_kv": 16, "num_heads": 2, "num_layers": 1},
}

# Wan-AI/Wan2.1-T2V-1.3B-Diffusers (written by diffusers 0.33.0.dev0). transformer: the published file, as public code
# that builds the model from it quotes it; vae: its values are AutoencoderKLWan's own defaults (latents_mean/std
# included); scheduler: UniPC with flow sigmas and shift 3.0 as diffusers' Wan docs give it, with the keys public
# copies of the repository's file carry; text_encoder: google/umt5-xxl's config (UMT5EncoderModel) as public copies
# give it. Checked here: WanPipeline.from_pretrained loads the folder unchanged and runs end to end.
WAN_LATENTS_MEAN = [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
                    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921]
WAN_LATENTS_STD = [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
                   3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916]
WAN_T2V_1_3B = {
    "model_index.json": {
        "_class_name": "WanPipeline",
        "_diffusers_version": "0.33.0.dev0",
        "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanTransformer3DModel"],
        "vae": ["diffusers", "AutoencoderKLWan"],
    },
    "transformer": {
        "_class_name": "WanTransformer3DModel",
        "_diffusers_version": "0.33.0.dev0",
        "added_kv_proj_dim": None,
        "attention_head_dim": 128,
        "cross_attn_norm": True,
        "eps": 1e-06,
        "ffn_dim": 8960,
        "freq_dim": 256,
        "image_dim": None,
        "in_channels": 16,
        "num_attention_heads": 12,
        "num_layers": 30,
        "out_channels": 16,
        "patch_size": [1, 2, 2],
        "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": 1024,
        "text_dim": 4096,
    },
    "vae": {
        "_class_name": "AutoencoderKLWan",
        "_diffusers_version": "0.33.0.dev0",
        "attn_scales": [],
        "base_dim": 96,
        "dim_mult": [1, 2, 4, 4],
        "dropout": 0.0,
        "latents_mean": WAN_LATENTS_MEAN,
        "latents_std": WAN_LATENTS_STD,
        "num_res_blocks": 2,
        "temperal_downsample": [False, True, True],
        "z_dim": 16,
    },
    "scheduler": {
        "_class_name": "UniPCMultistepScheduler",
        "_diffusers_version": "0.33.0.dev0",
        "beta_end": 0.02,
        "beta_schedule": "linear",
        "beta_start": 0.0001,
        "disable_corrector": [],
        "dynamic_thresholding_ratio": 0.995,
        "final_sigmas_type": "zero",
        "flow_shift": 3.0,
        "lower_order_final": True,
        "num_train_timesteps": 1000,
        "predict_x0": True,
        "prediction_type": "flow_prediction",
        "rescale_betas_zero_snr": False,
        "sample_max_value": 1.0,
        "solver_order": 2,
        "solver_p": None,
        "solver_type": "bh2",
        "steps_offset": 0,
        "thresholding": False,
        "timestep_spacing": "linspace",
        "trained_betas": None,
        "use_beta_sigmas": False,
        "use_exponential_sigmas": False,
        "use_flow_sigmas": True,
        "use_karras_sigmas": False,
    },
    "text_encoder": {
        "_name_or_path": "google/umt5-xxl",
        "architectures": ["UMT5EncoderModel"],
        "classifier_dropout": 0.0,
        "d_ff": 10240,
        "d_kv": 64,
        "d_model": 4096,
        "decoder_start_token_id": 0,
        "dense_act_fn": "gelu_new",
        "dropout_rate": 0.1,
        "eos_token_id": 1,
        "feed_forward_proj": "gated-gelu",
        "initializer_factor": 1.0,
        "is_encoder_decoder": True,
        "is_gated_act": True,
        "layer_norm_epsilon": 1e-06,
        "model_type": "umt5",
        "num_decoder_layers": 24,
        "num_heads": 64,
        "num_layers": 24,
        "output_past": True,
        "pad_token_id": 0,
        "relative_attention_max_distance": 128,
        "relative_attention_num_buckets": 32,
        "scalable_attention": True,
        "tie_word_embeddings": False,
        "tokenizer_class": "T5Tokenizer",
        "torch_dtype": "float32",
        "use_cache": True,
        "vocab_size": 256384,
    },
}

# size="small" for Wan: the text width chains into the transformer (text_dim = d_model); the VAE keeps its
# multipliers and temporal downsampling, so the pipeline's 8x spatial and 4x temporal size rules stay
SMALL_WAN = {
    "transformer": {"num_layers": 1, "num_attention_heads": 2, "attention_head_dim": 16, "ffn_dim": 32, "text_dim": 32},
    "vae": {"base_dim": 8, "num_res_blocks": 1},
    "text_encoder": {"d_model": 32, "d_ff": 64, "d_kv": 16, "num_heads": 2, "num_layers": 1},
}

COMPONENTS = ("transformer", "vae", "text_encoder", "text_encoder_2")  # the models a folder holds; index = seed
MODELS = {"FLUX.1-dev": FLUX_DEV, "Wan2.1-T2V-1.3B": WAN_T2V_1_3B}
SMALL_KEYS = {"FLUX.1-dev": SMALL, "Wan2.1-T2V-1.3B": SMALL_WAN}

# what the tokenizers are trained on
TEXT = [
    "a photo of a cat sitting on a red chair",
    "an astronaut riding a horse on the moon, digital art",
    "a watercolor painting of a lighthouse at sunset",
    "close-up portrait of an old man with a grey beard, 85mm",
    "a bowl of ramen with eggs and green onions on a wooden table",
    "the city skyline at night in the rain, neon lights reflecting",
]


def make(model: str, root: pathlib.Path, size: str = "small", device: str = "cpu") -> pathlib.Path:
    """Write root/<model> (e.g. root/FLUX.1-dev) and return it. `size`: small | full. `device`: where the
    random weights are made ("cuda" makes full size's ~17B parameters in seconds, not minutes on a CPU)."""
    configs = configs_of(model, size)
    folder = pathlib.Path(root) / model
    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "model_index.json", configs["model_index.json"])
    for name in COMPONENTS:
        if name in configs:
            write_component(folder, model, name, size, device)
    _save_scheduler(folder, configs)
    for name, entry in configs["model_index.json"].items():
        if name.startswith("tokenizer"):
            TOKENIZERS[entry[1]](folder / name)
    return folder


def write_component(folder: pathlib.Path, model: str, name: str, size: str, device: str = "cpu") -> None:
    """Write one component of `model` (e.g. "vae") into `folder` at `size`, in place of what is there: a
    small folder with its full-size VAE for a benchmark of the VAE alone."""
    import torch

    # published weights are bfloat16; full size in float32 would need twice the memory
    dtype = torch.float32 if size == "small" else torch.bfloat16
    _save_model(folder, name, configs_of(model, size), COMPONENTS.index(name), dtype, device)


def generate(pipe, model: str, prompt: str, frames: int = 5, **common):
    """One call of the model's diffusers pipeline, with the pipeline's own defaults (FLUX.1's guidance 3.5):
    Wan a video of `frames` frames, an array (frames, height, width, 3); FLUX.1 an image, (height, width, 3).
    `common`: height, width, num_inference_steps, generator."""
    import numpy

    if model.startswith("Wan"):
        return numpy.asarray(pipe(prompt, num_frames=frames, **common).frames[0])
    return numpy.asarray(pipe(prompt, **common).images[0])


def configs_of(model: str, size: str) -> dict:
    """The published configs, with SMALL's keys put in for size="small"."""
    if size not in ("small", "full"):
        raise ValueError(f"size {size!r}: choose small or full")
    configs = json.loads(json.dumps(MODELS[model]))  # a deep copy
    if size == "small":
        for name, keys in SMALL_KEYS[model].items():
            configs[name].update(keys)
    return configs


def _class_of(configs: dict, name: str):
    library, class_name = configs["model_index.json"][name]
    return getattr(__import__(library), class_name)


def _save_model(folder: pathlib.Path, name: str, configs: dict, seed: int, dtype, device: str = "cpu") -> None:
    """Random weights from the host's own class, saved by its own save_pretrained."""
    import torch

    cls, config = _class_of(configs, name), configs[name]
    torch.manual_seed(seed)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # parameters are created in the published dtype
    try:
        with torch.device(device):  # and on `device`
            if hasattr(cls, "config_class"):  # transformers: a config object, then the model
                model = cls(cls.config_class.from_dict(config))
            else:
                model = cls.from_config(config)
    finally:
        torch.set_default_dtype(default)
    model.save_pretrained(folder / name)
    _write_json(folder / name / "config.json", config)  # the published file, not the host's rewrite


def _save_scheduler(folder: pathlib.Path, configs: dict) -> None:
    cls = _class_of(configs, "scheduler")
    cls.from_config(configs["scheduler"]).save_pretrained(folder / "scheduler")
    _write_json(folder / "scheduler" / "scheduler_config.json", configs["scheduler"])


def _byte_symbols() -> list:
    """GPT-2/CLIP's bytes-to-unicode table, in its order: the 256 base symbols of a byte-level BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + n) for n in range(len(rest))]


def _clip_merges() -> list:
    """BPE merges learned from TEXT with CLIP's normalizer and pre-tokenizer (words end in </w>)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.train_from_iterator(TEXT, trainers.BpeTrainer(vocab_size=1000, end_of_word_suffix="</w>", show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [m.split(" ") if isinstance(m, str) else m for m in merges]  # "a b" in older tokenizers releases


def _save_clip_tokenizer(target: pathlib.Path) -> None:
    """CLIP's vocab layout: 256 byte symbols, the same with </w>, one token per merge, then
    <|startoftext|> and <|endoftext|> last (as in CLIP's 49406, 49407)."""
    from transformers import CLIPTokenizer

    base = _byte_symbols()
    merges = _clip_merges()
    tokens = list(dict.fromkeys(base + [b + "</w>" for b in base] + ["".join(m) for m in merges]))
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as raw:
        _write_json(pathlib.Path(raw) / "vocab.json", {t: i for i, t in enumerate(tokens)})
        lines = ["#version: 0.2"] + [" ".join(m) for m in merges]
        (pathlib.Path(raw) / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        CLIPTokenizer.from_pretrained(raw, model_max_length=77).save_pretrained(target)


def _save_t5_tokenizer(target: pathlib.Path) -> None:
    """T5's layout: <pad> 0, </s> 1, <unk> 2, the Unigram pieces, then <extra_id_99> .. <extra_id_0>."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import T5TokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Replace(Regex(" {2,}"), " ")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.train_from_iterator(TEXT, trainers.UnigramTrainer(vocab_size=200, special_tokens=["<pad>", "</s>", "<unk>"],
                                                          unk_token="<unk>", show_progress=False))
    tok.add_special_tokens([f"<extra_id_{i}>" for i in reversed(range(100))])
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    with tempfile.TemporaryDirectory() as raw:
        tok.save(str(pathlib.Path(raw) / "tokenizer.json"))
        T5TokenizerFast.from_pretrained(raw, model_max_length=512, extra_ids=100).save_pretrained(target)


# the tokenizer each folder's model_index.json names, made locally
TOKENIZERS = {"CLIPTokenizer": _save_clip_tokenizer, "T5TokenizerFast": _save_t5_tokenizer}


def _write_json(path: pathlib.Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
