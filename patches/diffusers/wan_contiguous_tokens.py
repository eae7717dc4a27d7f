"""diffusers before 0.40: Wan's transformer hands its first block the patch embedding's transposed
view of the tokens, every later block a contiguous tensor, so its blocks compiled alone
(`FLUXFIX_COMPILE=regional`, `compile_repeated_blocks`) compile once per layout. While the first
block runs compiled code of its own, the view is made contiguous before the block loop
(fluxfix.contiguous_tokens); eager runs and a whole-model compile are untouched.
"""
from fluxfix import hookimpl
from fluxfix.contiguous_tokens import ContiguousTokensSites, first_block_layout, patchify_drift
from patches.diffusers.host import DiffusersPatch

WAN = "diffusers.models.transformers.transformer_wan"


class WanContiguousTokens(ContiguousTokensSites, DiffusersPatch):
    targets = (WAN,)
    upstream = "diffusers 0.40 (huggingface/diffusers#14236: contiguous for every caller)"
    expected = {"<0.40.0": "applied", ">=0.40.0": "not needed (fixed upstream)"}
    contract_release = "0.37.0"
    drift = patchify_drift("diffusers/models/transformers/transformer_wan.py")

    def defect(self):
        """A small real Wan transformer, its first block compiled alone, run up to that block."""
        from patches.diffusers.models import small

        model, inputs = small("wan")
        return first_block_layout(model, lambda: model(**inputs()))


@hookimpl
def fluxfix_patches():
    return [WanContiguousTokens()]
