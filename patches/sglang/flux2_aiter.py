"""On AMD, Flux 2 must admit the AITER and AITER_SAGE attention backends. Between sglang PRs
#22423 and #22802 its backend list lacked them (a regression on ROCm); admit them where missing."""
from fluxfix import StepAside, Verdict, hookimpl
from patches.sglang.host import SglangPatch, on_rocm

WANTED = ("AITER", "AITER_SAGE")


class Flux2Aiter(SglangPatch):
    summary = "Flux 2 admits the AITER and AITER_SAGE attention backends on ROCm"
    targets = ("sglang.multimodal_gen.runtime.models.dits.flux_2",)
    upstream = "sglang #22802"
    expected = {">=0.5.8": "not needed (off ROCm)"}
    # on ROCm: applied where the list lacks them (development builds between #22423 and #22802, no release)
    expected_rocm = {">=0.5.8": "not needed (admitted)"}
    contract_release = "0.5.23"
    # the contract runs on 0.5.23 put into the state of the development builds between #22423 and #22802
    contract_state = (("sglang/multimodal_gen/runtime/models/dits/flux_2.py",
                       "        AttentionBackendEnum.AITER,\n        AttentionBackendEnum.AITER_SAGE,\n    }", "    }"),)
    drift = (("sglang/multimodal_gen/runtime/models/dits/flux_2.py", "Flux2Transformer2DModel", "Flux2DiT"),)
    contract_skips = {
        "before": "ROCm is stood in once sglang is imported (its import on a ROCm torch would query a real ROCm device)",
        "between": "ROCm is stood in once sglang is imported (its import on a ROCm torch would query a real ROCm device)",
        "drift": "off ROCm the patch steps aside before it reads the class; ROCm is stood in only by its defect check, which needs that class",
    }

    def defect(self):
        """Flux 2's attention backend list on ROCm: this CPU machine stands in for one after sglang's
        imports (torch reports a HIP version; the patch's platform test reads it, nothing after it does)."""
        import torch

        from patches.sglang.host import warp_size_answered

        with warp_size_answered():
            import sglang.multimodal_gen.runtime.layers.linear  # noqa: F401  (parents first)
            from sglang.multimodal_gen.runtime.models.dits import flux_2
        torch.version.hip = torch.version.hip or "6.4.0"
        admitted = {b.name for b in getattr(flux_2.Flux2Transformer2DModel, "_supported_attention_backends", ())}
        missing = sorted(set(WANTED) - admitted)
        return f"Flux2Transformer2DModel does not admit {', '.join(missing)} on ROCm" if missing else None

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
