"""Regional compilation in place of a whole-model compile, for users who opt in
(FLUXFIX_COMPILE=regional): the host's `model.compile(...)` compiles each repeated block instead.

With the breaks gone a whole diffusion transformer is one graph, and one graph of 19+38 FLUX.1
blocks takes minutes to compile, at every new resolution again. Blocks of one class share their
code, so dynamo compiles that code once and every block reuses it: the same kernels, a fraction of
the compile time. The blocks get the caller's arguments unchanged; the rest of the model (embeddings,
final norm) runs eagerly, as with the hosts' own regional compile.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("fluxfix")


def listed_blocks(model) -> list:
    """Modules in a ModuleList child of the model whose entries share one class (two or more):
    the transformer blocks of every diffusion transformer the hosts ship."""
    import torch

    blocks = []
    for child in model.children():
        if isinstance(child, torch.nn.ModuleList) and len(child) > 1 and len({type(m) for m in child}) == 1:
            blocks += list(child)
    return blocks


def repeated_leaves(module) -> list:
    """Every submodule of `module` whose class fills a ModuleList (two or more entries of one class)
    and which holds no such list itself: in a VAE decoder the resnet blocks (the up blocks' and the
    middle block's), not the up blocks that hold them. Blocks of one class share their code, so they
    compile once per weight shape, and meeting several sizes in one call they may go dynamic in the first."""
    import torch

    def filled_lists(root) -> list:
        return [m for m in root.modules()
                if isinstance(m, torch.nn.ModuleList) and len(m) > 1 and len({type(e) for e in m}) == 1]

    classes = {type(entry) for lst in filled_lists(module) for entry in lst if not filled_lists(entry)}
    return [m for m in module.modules() if m is not module and type(m) in classes]


def compile_method(find_blocks: Callable) -> Callable:
    """A `compile(self, *args, **kwargs)` for a host's model base class: the blocks that
    `find_blocks(model)` gives are compiled with the caller's arguments; a model without any is
    compiled whole, as before."""
    import torch

    whole = torch.nn.Module.compile

    def compile(self, *args, **kwargs):
        blocks = find_blocks(self)
        if not blocks:
            log.info("fluxfix: %s has no repeated blocks; compiling it whole", type(self).__name__)
            return whole(self, *args, **kwargs)
        for block in blocks:
            block.compile(*args, **kwargs)
        classes = sorted({type(b).__name__ for b in blocks})
        log.info("fluxfix: compiling %d repeated blocks of %s (%s) instead of the whole model (FLUXFIX_COMPILE=regional)",
                 len(blocks), type(self).__name__, ", ".join(classes))

    compile.__doc__ = "Compiles the model's repeated blocks in place (fluxfix, FLUXFIX_COMPILE=regional)."
    return compile


def compiled_regions(model) -> tuple[bool, int]:
    """(whether the model itself is compiled, how many of its submodules are)."""
    own = getattr(model, "_compiled_call_impl", None) is not None
    return own, sum(getattr(m, "_compiled_call_impl", None) is not None for m in model.modules() if m is not model)


def class_method(cls, name: str, method: Callable) -> Callable[[], None]:
    """Give `cls` its own `name`; the undo removes it again (the inherited one shows through)."""
    if name in vars(cls):
        raise ValueError(f"{cls.__qualname__} defines {name} itself")
    setattr(cls, name, method)
    return lambda: delattr(cls, name)


class RegionalCompileSites:
    """Mixin for a host's opt-in regional-compile patch: its model base class (`base`, a name in
    the target module) gets a `compile()` of its own. Declare `base` and implement
    `repeated_blocks(model)` and `small_model()` (a real host model a CPU builds in seconds)."""

    opt_in = "FLUXFIX_COMPILE=regional"
    base: str = ""

    def repeated_blocks(self, model) -> list:
        raise NotImplementedError

    def small_model(self):
        raise NotImplementedError

    def defect(self):
        """`model.compile()` on the small model compiles it whole."""
        model = self.small_model()
        model.compile(backend="eager")
        whole, blocks = compiled_regions(model)
        return f"{type(model).__name__}.compile() compiles it whole" if whole else None if blocks else "nothing compiled"

    def inspect(self, module):
        from fluxfix.patch import StepAside, Verdict

        cls = getattr(module, self.base, None)
        if cls is None:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__}.{self.base} is gone")
        if "compile" in vars(cls):
            raise StepAside(Verdict.TARGET_CHANGED, f"{self.base} defines compile() itself")
        return {f"{self.base}.compile": cls}

    def apply(self, module, sites):
        return class_method(sites[f"{self.base}.compile"], "compile", compile_method(self.repeated_blocks))
