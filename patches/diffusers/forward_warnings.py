"""diffusers' FLUX.1 transformer warns from inside its forward: when a caller passes the deprecated
3-d `txt_ids` / `img_ids` (`FluxTransformer2DModel.forward`) and when `joint_attention_kwargs` holds
keys the attention processor does not take (`FluxAttention.forward`, every attention layer).
Dynamo breaks the graph at each `logger.warning` call, on every step. Every release 0.36.0-0.42.1.
The calls become compile-safe (`fluxfix.logging_calls`): eagerly they log as before; while compiling
the record is emitted once, as dynamo traces, and the graph goes on.
"""
from fluxfix import hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.logging_calls import LoggerSites
from patches.diffusers.host import DiffusersPatch


class ForwardWarnings(LoggerSites, DiffusersPatch):
    summary = "FLUX.1's forward-path warnings (3-d ids, unexpected attention kwargs) no longer break the graph"
    targets = ("diffusers.models.transformers.transformer_flux",)
    functions = ("FluxTransformer2DModel.forward", "FluxAttention.forward")
    upstream = "none"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/models/transformers/transformer_flux.py", "        if txt_ids.ndim == 3:",
              "        print(logger)\n        if txt_ids.ndim == 3:"),)

    def defect(self):
        """A small FLUX.1 transformer called with 3-d ids (the deprecated form older pipelines pass)."""
        import torch

        from patches.diffusers.models import small

        model, inputs = small("flux")
        named = inputs()
        named.update(txt_ids=named["txt_ids"][None], img_ids=named["img_ids"][None])
        with torch.no_grad():
            return fullgraph_error(lambda: model(**named))


@hookimpl
def fluxfix_patches():
    return [ForwardWarnings()]
