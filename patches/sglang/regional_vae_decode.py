"""Opt-in (FLUXFIX_COMPILE=regional): sglang's compiled VAE decode compiles the decoder's repeated
blocks instead of the whole decode.

From 0.5.17 on, `--enable-torch-compile` also compiles the VAE decode, whole (`DecodingStage` hands
`vae.decode` to `ActiveTargetCompiledCallable`, runtime/utils/torch_compile.py), and traces the whole
decoder again at a new image size. Here the decoder's resnet blocks are compiled instead, with the host's
arguments, and the decode runs eagerly between them, as the host wrote it. The blocks share their code
and meet several sizes within one decode, so a new size re-traces small graphs or none: on CPU, FLUX.1's
published VAE recompiled in 0.8 s against 34.7 s, its first compile a third shorter. On an H100 with
0.5.23's CUDA decoder fast paths (a Triton GroupNorm+SiLU whose launcher sizes its blocks from the
input) the block graphs still hold to size buckets; sglang's decoding stage took 7.0 s against 13.8 s
for the first compile, 24.6 s against 30.5 s at 768x1344 after 1024x1024, and 25-28 ms against 9-10 ms
a decode after (about 0.5% of a 4.4 s image: the layers between the blocks run eagerly; BENCHMARKS.md).
Other VAEs (Wan's video decoder among them) are compiled whole, as before.
"""
import ast

from fluxfix import StepAside, Verdict, hookimpl, recode
from fluxfix.regional import compiled_regions, repeated_leaves
from patches.sglang.host import SglangPatch

TORCH_COMPILE = "sglang.multimodal_gen.runtime.utils.torch_compile"
CACHE = "ActiveTargetCompiledCallable"
# FLUX.1's VAE config narrowed (two levels of 32 channels): a decoder with the published structure, built in a second
SMALL_FLUX_VAE = {"in_channels": 3, "out_channels": 3, "latent_channels": 16, "block_out_channels": [32, 32],
                  "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
                  "layers_per_block": 1, "act_fn": "silu", "norm_num_groups": 32, "sample_size": 64,
                  "use_quant_conv": False, "use_post_quant_conv": False, "mid_block_add_attention": True,
                  "scaling_factor": 0.3611, "shift_factor": 0.1159}


def decoder_blocks(target) -> list:
    """The repeated blocks of an image VAE's decoder, diffusers' `Decoder` (FLUX.1, FLUX.2, SD3, Z-Image:
    its ResnetBlock2Ds). Other decoders keep the host's whole compile: Wan's blocks read and write its
    per-conv feature cache, which compiles whole per cache state (sglang-wan-vae-cache) but breaks per
    block (measured on 0.5.23: 258 breaks for three small videos)."""
    from diffusers.models.autoencoders.vae import Decoder

    decoder = getattr(target, "decoder", None)
    return repeated_leaves(decoder) if type(decoder) is Decoder else []


def compiles_a_wrapper(method) -> bool:
    """`module = CallableModule(fn)` then `module.compile(...)`: the host's whole compile of the callable."""
    calls = [ast.unparse(n.func) for n in ast.walk(recode.syntax(method)) if isinstance(n, ast.Call)]
    return "CallableModule" in calls and "module.compile" in calls


def regional_get_or_compile(host_get_or_compile, callable_module):
    """`ActiveTargetCompiledCallable.get_or_compile` that compiles the target's decoder blocks once (per
    target, as the host compiles once per target) and hands back `fn` uncompiled, in the host's wrapper."""

    def get_or_compile(self, target, fn, *, compile_kwargs):
        if self.target_id == id(target) and self.compiled_module is not None:
            return self.compiled_module  # compiled already (whole or per block): the host asks at every decode
        blocks = decoder_blocks(target)
        if not blocks:
            return host_get_or_compile(self, target, fn, compile_kwargs=compile_kwargs)
        for block in blocks:
            block.compile(**compile_kwargs)
        self.target_id, self.compiled_module = id(target), callable_module(fn)  # not compiled: the blocks are
        return self.compiled_module

    get_or_compile.__doc__ = "Compiles the VAE decoder's repeated blocks (fluxfix, FLUXFIX_COMPILE=regional)."
    return get_or_compile


class RegionalVaeDecode(SglangPatch):
    summary = "opt-in: the compiled VAE decode compiles the decoder's repeated blocks instead (FLUXFIX_COMPILE=regional)"
    targets = (TORCH_COMPILE,)
    opt_in = "FLUXFIX_COMPILE=regional"
    upstream = "none (0.5.23 compiles the VAE decode whole)"
    expected = {"<0.5.17": "not needed (the VAE decode is not compiled)", ">=0.5.17": "applied"}
    contract_release = "0.5.23"
    drift = ((f"{TORCH_COMPILE.replace('.', '/')}.py",  # the cache no longer compiles the callable's wrapper
              "        module = CallableModule(fn)\n        module.compile(**compile_kwargs)\n",
              "        module = CallableModule(fn)\n        module.requires_grad_(False)\n"),)

    def inspect(self, module):
        cache, wrapper = getattr(module, CACHE, None), getattr(module, "CallableModule", None)
        if cache is None or wrapper is None:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {CACHE} or CallableModule")
        method = vars(cache).get("get_or_compile")
        if method is None or not compiles_a_wrapper(method):
            raise StepAside(Verdict.TARGET_CHANGED, f"{CACHE}.get_or_compile no longer compiles a CallableModule of the callable")
        return {f"{CACHE}.get_or_compile": (cache, method, wrapper)}

    def apply(self, module, sites):
        cache, method, wrapper = sites[f"{CACHE}.get_or_compile"]
        cache.get_or_compile = regional_get_or_compile(method, wrapper)
        return lambda: setattr(cache, "get_or_compile", method)

    def defect(self):
        """sglang's compiled-callable cache on a small FLUX.1 VAE of sglang's own class compiles the whole decode."""
        import importlib

        from sglang.multimodal_gen.configs.models.vaes.flux import FluxVAEConfig
        from sglang.multimodal_gen.runtime.models.vaes.autoencoder import AutoencoderKL

        config = FluxVAEConfig()
        config.update_model_arch(dict(SMALL_FLUX_VAE))
        vae = AutoencoderKL(config).eval()
        cache = getattr(importlib.import_module(TORCH_COMPILE), CACHE)()
        decode = cache.get_or_compile(vae, vae.decode, compile_kwargs={"backend": "eager"})
        whole, _ = compiled_regions(decode)
        _, blocks = compiled_regions(vae)
        return "the VAE decode is compiled whole" if whole else None if blocks else "nothing compiled"


@hookimpl
def fluxfix_patches():
    return [RegionalVaeDecode()]
