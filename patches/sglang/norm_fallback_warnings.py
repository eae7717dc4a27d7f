"""sglang's fused norm layers warn each time they fall back to the native path: a graph break
per call in every block. Every release 0.5.8-0.5.23; no upstream fix."""
from fluxfix import hookimpl
from patches.sglang.host import SglangPatch
from fluxfix.warn_once import WarningSites


class NormFallbackWarnings(WarningSites, SglangPatch):
    summary = "fused-norm fallback warnings shown once, outside the compiled graph (same path runs)"
    targets = ("sglang.multimodal_gen.runtime.layers.layernorm",)
    functions = ()  # every warnings.warn the module's functions and methods make
    upstream = "none"


@hookimpl
def fluxfix_patches():
    return [NormFallbackWarnings()]
