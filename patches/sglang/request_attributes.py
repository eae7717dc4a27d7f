"""sglang's request object (`Req`, pipelines_core/schedule_batch.py) hands the attributes it does not
hold to its `sampling_params` through `__getattr__`, which reads that field with
`object.__getattribute__(self, "sampling_params")`. Dynamo cannot trace that call (it raises
inside the trace), so a compiled forward that reads a request attribute from the forward context
breaks and, at the top of the model, abandons the whole frame: sglang 0.5.23's FLUX.1 reads
`forward_batch.enable_spectrum` there on every step of a real `sglang generate` run. While compiling
the same lookup is made through the instance's own `__dict__` (where the dataclass keeps the field),
with the same answers and the same AttributeError; eager calls run the host's code.
"""
from fluxfix import hookimpl
from fluxfix.compile_branch import CompileBranch, CompileBranches
from patches.sglang.host import SglangPatch, warp_size_answered

SCHEDULE_BATCH = "sglang.multimodal_gen.runtime.pipelines_core.schedule_batch"

DELEGATION = CompileBranch(
    owner="Req", function="__getattr__", parameters="(self, name)", defect=("object", "__getattribute__"),
    when_compiling="""
sampling_params = None if name == "sampling_params" else self.__dict__.get("sampling_params")
if sampling_params is not None and hasattr(sampling_params, name):
    return getattr(sampling_params, name)
raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")""",
)


class RequestAttributes(CompileBranches, SglangPatch):
    summary = "request attributes read from the forward context inside a compiled forward no longer break the graph"
    branches = {SCHEDULE_BATCH: (DELEGATION,)}
    targets = tuple(branches)
    breaks_on = ("Observed exception", "expected 1 argument")
    upstream = "none yet (0.5.23 still reads sampling_params with object.__getattribute__)"
    expected = {">=0.5.8": "applied"}
    contract_release = "0.5.23"
    drift = (("sglang/multimodal_gen/runtime/pipelines_core/schedule_batch.py",
              "    def __getattr__(self, name: str) -> Any:", "    def __getattr__(self, name: str, default=None) -> Any:"),)

    def defect(self):
        """A compiled function reading one of the attributes a real Req hands to its sampling params."""
        import torch

        from fluxfix.breaks import fullgraph_error

        with warp_size_answered():
            import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first)
            from sglang.multimodal_gen.configs.sample.sampling_params import SamplingParams
            from sglang.multimodal_gen.runtime.pipelines_core.schedule_batch import Req
        req = Req(sampling_params=SamplingParams())
        return fullgraph_error(lambda x: x + 1 if req.data_type is not None else x - 1, torch.ones(2))


@hookimpl
def fluxfix_patches():
    return [RequestAttributes()]
