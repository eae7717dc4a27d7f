"""sglang's Wan VAE decodes a video one latent frame at a time with a causal feature cache
(runtime/models/vaes/wanvae.py, every release), and keeps that cache's state in four module-level
ContextVars (`is_first_frame`, `feat_cache`, `feat_idx`, `first_chunk`): every cached causal conv
reads the conv index and sets it one further. dynamo cannot trace `ContextVar.set()`, so under
`--enable-torch-compile` (which compiles the VAE decode from 0.5.17 on) the decoder breaks at every
cached conv: 0.5.23 on CPU, through sglang's own decoding stage, 303 graphs and 307 breaks for three
small videos, and sglang's recompile limit (64) hit.

Here the four become `CellContextVar`s (fluxfix.context_vars: the same values per context, changed in
place while compiling) and `AutoencoderKLWan.decode`'s own frame runs eagerly, as the host wrote it:
its loop over latent frames, the cache set-up and the contexts, between compiled calls of the decoder.
The decoder then compiles whole, one graph per cache state (first chunk, second, the rest), instead
of the loop unrolled over every latent frame into one graph per video length. The loop hands the
decoder `x[:, :, i : i + 1]`, a view whose strides carry the video's frame count, so every new length
compiled the decoder again at each cache state (an H100, 0.5.23's server: 31 s at its first request,
81 frames after its own 17-frame warmup); each frame is now handed over contiguous (one latent frame
copied: the same values, the same video). 0.5.8 to 0.5.17 also
test a cache entry, a tensor or the first chunk's marker string, with `entry == "Rep"`: dynamo before
2.14 cannot trace a tensor compared with a string ("torch.* op returned non-Tensor"), so there the
test becomes `isinstance(entry, str) and entry == "Rep"` (the same answer for a tensor, None or the
marker). Eager behaviour is unchanged.
"""
from __future__ import annotations

import ast
import contextvars
import re
import sys

from fluxfix import StepAside, Verdict, hookimpl, recode
from patches.sglang.host import SglangPatch

WANVAE = "sglang.multimodal_gen.runtime.models.vaes.wanvae"
CACHE_VARS = ("is_first_frame", "feat_cache", "feat_idx", "first_chunk")
VAE = "AutoencoderKLWan"
CACHE_VAR_USE = re.compile(r"\b(" + "|".join(CACHE_VARS) + r")\.(get|set)\(")  # a read or write of the cache state
MARKER = "Rep"  # what the resample leaves in the cache for the first latent frame
CONTIGUOUS_FRAMES = f"{VAE}.decode: each latent frame contiguous"


def is_decoder_call_on_a_slice(node: ast.AST) -> bool:
    """`self.decoder(x[:, :, i : i + 1, :, :])`: a latent frame's view handed to the decoder."""
    return (isinstance(node, ast.Call) and ast.unparse(node.func) == "self.decoder" and len(node.args) == 1
            and isinstance(node.args[0], ast.Subscript))


class _FramesContiguous(ast.NodeTransformer):
    """`self.decoder(x[...])` -> `self.decoder(x[...].contiguous())`."""

    def visit_Call(self, node):
        self.generic_visit(node)
        if is_decoder_call_on_a_slice(node):
            node.args[0] = ast.Call(ast.Attribute(node.args[0], "contiguous", ast.Load()), [], [])
        return node


def is_marker_test(node: ast.AST) -> bool:
    """`entry == "Rep"` or `entry != "Rep"`."""
    return (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq))
            and isinstance(node.comparators[0], ast.Constant) and node.comparators[0].value == MARKER)


class _StringFirst(ast.NodeTransformer):
    """`entry == "Rep"` -> `isinstance(entry, str) and entry == "Rep"`; `!=` -> `not isinstance(...) or ...`."""

    def visit_Compare(self, node):
        if not is_marker_test(node):
            return self.generic_visit(node)
        is_str = ast.Call(ast.Name("isinstance", ast.Load()), [node.left, ast.Name("str", ast.Load())], [])
        if isinstance(node.ops[0], ast.Eq):
            return ast.BoolOp(ast.And(), [is_str, node])
        return ast.BoolOp(ast.Or(), [ast.UnaryOp(ast.Not(), is_str), node])


def marker_tests(module) -> dict:
    """The resample functions that compare a cache entry with the marker string (0.5.8-0.5.17; 0.5.9-0.5.11
    import `resample_forward` from parallel/wan_common_utils.py, whose function is the one rewritten)."""
    candidates = {"resample_forward": vars(module).get("resample_forward"),
                  "WanResample.forward": vars(getattr(module, "WanResample", object)).get("forward")}
    return {name: func for name, func in candidates.items()
            if func is not None and any(is_marker_test(n) for n in ast.walk(recode.syntax(func)))}


def decodes_per_latent_frame(decode) -> bool:
    """`with forward_context(...)` around a `for` loop that calls `self.decoder(...)`: the shape of
    the cached decode in every release."""
    for node in ast.walk(recode.syntax(decode)):
        if isinstance(node, ast.With) and any(ast.unparse(item.context_expr).startswith("forward_context(")
                                              for item in node.items):
            for loop in (n for n in ast.walk(node) if isinstance(n, ast.For)):
                if any(isinstance(n, ast.Call) and ast.unparse(n.func) == "self.decoder" for n in ast.walk(loop)):
                    return True
    return False


class WanVaeCache(SglangPatch):
    summary = "the Wan VAE's feature-cache state no longer breaks a compiled decode: its decoder compiles whole"
    targets = (WANVAE,)
    upstream = "none yet (0.5.23 still keeps it in ContextVars)"
    expected = {">=0.5.8": "applied"}
    contract_release = "0.5.23"
    drift = (("sglang/multimodal_gen/runtime/models/vaes/wanvae.py",
              'feat_idx = contextvars.ContextVar("feat_idx", default=0)', "feat_idx = [0]"),
             ("sglang/multimodal_gen/runtime/models/vaes/wanvae.py",
              "out_chunks.append(self.decoder(x[:, :, i : i + 1, :, :]))",
              "out_chunks.append(self.decode_chunk(x[:, :, i : i + 1, :, :]))"))

    def defect(self):
        """One cached residual block of a narrow Wan VAE's decoder (its middle block's first), compiled
        inside the cache context its decode sets up, first latent frame: the first break at a read or
        write of the cache state (dynamo's reason differs by release; other breaks are other patches'
        defects). The whole decoder breaks the same way at every cached conv, in ten times the time."""
        import torch

        from fluxfix.breaks import compile_report
        from patches.sglang.models import narrow_wan_vae

        wanvae, vae = narrow_wan_vae()
        vae.clear_cache()
        latent = torch.randn(1, vae.decoder.conv_in.out_channels, 1, 4, 4)
        with torch.no_grad(), wanvae.forward_context(feat_cache_arg=vae._feat_map, feat_idx_arg=0, first_chunk_arg=True):
            report = compile_report(vae.decoder.mid_block.resnets[0], latent)
        found = [site for site in report.sites if CACHE_VAR_USE.search(site.code)]
        return f"{found[0].reason} at {found[0].where}: {found[0].code}" if found else None

    def inspect(self, module):
        found = {name: vars(module).get(name) for name in CACHE_VARS}
        if not any(isinstance(var, contextvars.ContextVar) for var in found.values()):
            raise StepAside(Verdict.NOT_NEEDED, f"{module.__name__} keeps no feature-cache state in ContextVars")
        if not all(isinstance(var, contextvars.ContextVar) for var in found.values()):
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__}: not all of {', '.join(CACHE_VARS)} are ContextVars")
        decode = vars(getattr(module, VAE, object)).get("decode")
        if decode is None or not decodes_per_latent_frame(decode):
            raise StepAside(Verdict.TARGET_CHANGED, f"{VAE}.decode no longer loops over latent frames calling self.decoder")
        sliced = any(map(is_decoder_call_on_a_slice, ast.walk(recode.syntax(decode))))
        frames = {CONTIGUOUS_FRAMES: decode} if sliced else {}
        return {f"{VAE}.decode": decode, **frames, **found, **{f"{name}: `== {MARKER!r}` string first": func
                                                                for name, func in marker_tests(module).items()}}

    def apply(self, module, sites):
        from fluxfix.context_vars import CellContextVar
        from fluxfix.eager import not_traced

        vae = getattr(module, VAE)
        originals = dict(sites)
        undos = [recode.recode(func, recode.rewritten(func, _StringFirst().visit), {})
                 for name, func in sites.items() if name.endswith("string first")]
        decode = originals[f"{VAE}.decode"]
        if CONTIGUOUS_FRAMES in sites:
            undos.append(recode.recode(decode, recode.rewritten(decode, _FramesContiguous().visit), {}))
        # 0.5.9-0.5.11 hand the four to their cached-conv helpers' module (`parallel/wan_common_utils.py`,
        # `bind_context`) at import: every sglang module holding them gets the same stand-ins
        holders = [m for m in list(sys.modules.values()) if getattr(m, "__name__", "").startswith("sglang.multimodal_gen")
                   and any(vars(m).get(name) is originals[name] for name in CACHE_VARS)]
        stand_ins = {name: CellContextVar(originals[name]) for name in CACHE_VARS}
        for holder in holders:
            for name in CACHE_VARS:
                if vars(holder).get(name) is originals[name]:
                    setattr(holder, name, stand_ins[name])
        vae.decode = not_traced(decode)  # its code as rewritten above

        def undo():
            vae.decode = decode
            for holder in holders:
                for name in CACHE_VARS:
                    if vars(holder).get(name) is stand_ins[name]:
                        setattr(holder, name, originals[name])
            for restore in reversed(undos):
                restore()

        return undo

    def explains(self, brk) -> bool:
        return "ContextVar" in brk.reason and any("vaes/wanvae.py" in frame for frame in brk.stack)


@hookimpl
def fluxfix_patches():
    return [WanVaeCache()]
