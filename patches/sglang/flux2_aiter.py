"""On AMD, Flux 2 must admit the AITER and AITER_SAGE attention backends. Between sglang PRs
#22423 and #22802 its backend list lacked them (a regression on ROCm); admit them where missing."""
from fluxfix import StepAside, Verdict, hookimpl
from patches.sglang.host import SglangPatch

WANTED = ("AITER", "AITER_SAGE")


def on_rocm() -> bool:
    import torch

    return getattr(torch.version, "hip", None) is not None


class Flux2Aiter(SglangPatch):
    summary = "Flux 2 admits the AITER and AITER_SAGE attention backends on ROCm"
    targets = ("sglang.multimodal_gen.runtime.models.dits.flux_2",)
    upstream = "sglang #22802"

    def inspect(self, module):
        if not on_rocm():
            raise StepAside(Verdict.NOT_NEEDED, "not ROCm: AITER backends do not apply")
        model = getattr(module, "Flux2Transformer2DModel", None)
        if model is None:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__}.Flux2Transformer2DModel is gone")
        backends = vars(model).get("_supported_attention_backends")
        if not backends:
            raise StepAside(Verdict.NOT_NEEDED, "Flux2Transformer2DModel declares no backend list in this release")
        enum = type(next(iter(backends)))
        if not all(hasattr(enum, member) for member in WANTED):
            raise StepAside(Verdict.TARGET_CHANGED, f"{enum.__name__} has no {' / '.join(WANTED)} member")
        missing = {getattr(enum, member) for member in WANTED} - set(backends)
        if not missing:
            raise StepAside(Verdict.NOT_NEEDED, "Flux2Transformer2DModel already admits AITER and AITER_SAGE")
        return {f"Flux2Transformer2DModel._supported_attention_backends += {sorted(m.name for m in missing)}": (model, backends, missing)}

    def apply(self, module, sites):
        ((model, backends, missing),) = sites.values()
        model._supported_attention_backends = type(backends)(set(backends) | missing)
        return lambda: setattr(model, "_supported_attention_backends", backends)


@hookimpl
def fluxfix_patches():
    return [Flux2Aiter()]
