"""diffusers' layerwise casting (`enable_layerwise_casting`: weights stored in fp8 or another
low-precision dtype, cast to the compute dtype around each layer's forward), made compile-safe.

Its hook casts with `module.to(dtype)` before and after every layer's forward. `nn.Module._apply`
builds new `nn.Parameter`s, which dynamo cannot trace: a graph break per layer (51 on FLUX.1-dev),
recompiles in the hooks' shared frame, no speed-up over eager (diffusers #9949), and
`compile_repeated_blocks(fullgraph=True)` fails. Every release 0.36.0-0.42.1.

While compiling, the hook leaves the module as it is and runs the layer's own functional form on
its weights cast inside the graph (the values `module.to` would give: one dtype conversion each);
the weights stay in their storage dtype. Eager calls run diffusers' code unchanged. It covers the
layers diffusers casts (Linear, Conv1d/2d/3d, Embedding) where their class runs torch's own
forward; any other layer keeps diffusers' path. Hooks registered while fluxfix is active take
this path (models are built after `import fluxfix`); a hook registered before keeps diffusers'.

Each cast layer's `forward` is then fluxfix's one function bound to the layer (`cast_layer_forward`),
not diffusers' per-layer `functools.partial`: dynamo 2.11 guards the identity of an instance
`forward` unless it is a bound method, where it guards the function; with the partials every block
of a regionally compiled model failed the previous block's guards and recompiled (8 graphs per block
class, then the limit, the rest eager). torch 2.14 guards partials by structure.
"""
from fluxfix import StepAside, Verdict, hookimpl
from fluxfix.breaks import fullgraph_error
from fluxfix.compile_branch import CompileBranch, CompileBranches
from patches.diffusers.host import DiffusersPatch

MODULE = "diffusers.hooks.layerwise_casting"


def cast_forward(module):
    """The layer's forward as a function of (module, compute dtype, *inputs) on weights cast in the
    graph, or None where the layer is not one whose forward is torch's own Linear, Conv or Embedding."""
    import torch

    nn = torch.nn
    forward = type(module).forward
    if forward is nn.Linear.forward:
        return _linear
    if forward in (nn.Conv1d.forward, nn.Conv2d.forward, nn.Conv3d.forward):
        return _conv
    if forward is nn.Embedding.forward:
        return _embedding
    return None


def _cast(tensor, dtype):
    return None if tensor is None else tensor.to(dtype)


def _linear(module, dtype, input):
    import torch

    return torch.nn.functional.linear(input, _cast(module.weight, dtype), _cast(module.bias, dtype))


def _conv(module, dtype, input):
    return module._conv_forward(input, _cast(module.weight, dtype), _cast(module.bias, dtype))


def _embedding(module, dtype, input):
    import torch

    return torch.nn.functional.embedding(input, _cast(module.weight, dtype), module.padding_idx, module.max_norm,
                                         module.norm_type, module.scale_grad_by_freq, module.sparse)


def routed(hook, module) -> bool:
    """This hook's module runs through `new_forward` (registered while fluxfix is active) and has a
    functional form: then, while compiling, casting is new_forward's job."""
    fn_ref = getattr(hook, "fn_ref", None)
    return fn_ref is not None and fn_ref.original_forward is not None and cast_forward(module) is not None


def new_forward(self, module, *args, **kwargs):
    """Called by diffusers' hook registry in place of the layer's forward."""
    import torch

    if torch.compiler.is_compiling() and routed(self, module):
        return cast_forward(module)(module, self.compute_dtype, *args, **kwargs)
    return self.fn_ref.original_forward(*args, **kwargs)


def cast_layer_forward(module, *args, **kwargs):
    """A cast layer's forward, bound to the layer: eagerly diffusers' hook chain as registered; while
    compiling, what that chain does then (pre/post_forward pass through, new_forward casts in the graph)."""
    import torch

    if torch.compiler.is_compiling():
        return cast_forward(module)(module, module._fluxfix_compute_dtype, *args, **kwargs)
    return module._fluxfix_hooked_forward(*args, **kwargs)


def wrap_apply_hook(apply_hook, hook_name):
    """diffusers' apply_layerwise_casting_hook, then `cast_layer_forward` bound as the layer's forward where
    the casting hook is the layer's only hook (with others the chain stays diffusers')."""
    import functools
    import types

    @functools.wraps(apply_hook)
    def apply_layerwise_casting_hook(module, *args, **kwargs):
        result = apply_hook(module, *args, **kwargs)
        registry = getattr(module, "_diffusers_hook", None)
        hook = registry and registry.hooks.get(hook_name)
        if hook is not None and list(registry.hooks) == [hook_name] and routed(hook, module) and "forward" in vars(module):
            module._fluxfix_compute_dtype, module._fluxfix_hooked_forward = hook.compute_dtype, module.forward
            module.forward = types.MethodType(cast_layer_forward, module)
        return result

    return apply_layerwise_casting_hook


HELPERS = (("_fluxfix_routed", routed),)
PRE_FORWARD = CompileBranch(
    owner="LayerwiseCastingHook", function="pre_forward", parameters="(self, module, *args, **kwargs)", defect=("to",),
    when_compiling="""
if _fluxfix_routed(self, module):
    return args, kwargs""", helpers=HELPERS)
POST_FORWARD = CompileBranch(
    owner="LayerwiseCastingHook", function="post_forward", parameters="(self, module, output)", defect=("to",),
    when_compiling="""
if _fluxfix_routed(self, module):
    return output""", helpers=HELPERS)


class LayerwiseCasting(CompileBranches, DiffusersPatch):
    summary = "layerwise casting (fp8 storage) compiles: layers cast their weights inside the graph, not by module.to()"
    branches = {MODULE: (PRE_FORWARD, POST_FORWARD)}
    targets = (MODULE,)
    breaks_on = ("Parameter", "_apply")
    upstream = "none (diffusers #9949: expected never fully compile-compatible)"
    expected = {">=0.36.0": "applied"}
    drift = (("diffusers/hooks/layerwise_casting.py", "def pre_forward(self, module: torch.nn.Module, *args, **kwargs):",
              "def pre_forward(self, module: torch.nn.Module, *args, stream=None, **kwargs):"),)

    def inspect(self, module):
        hook = getattr(module, "LayerwiseCastingHook", None)
        if hook is not None and "new_forward" in vars(hook):
            raise StepAside(Verdict.NOT_NEEDED, "LayerwiseCastingHook has a new_forward of its own in this release")
        missing = [n for n in ("apply_layerwise_casting_hook", "_LAYERWISE_CASTING_HOOK") if not hasattr(module, n)]
        if missing:
            raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} has no {', '.join(missing)}")
        return super().inspect(module)

    def apply(self, module, sites):
        undo_branches = super().apply(module, sites)
        hook, apply_hook = module.LayerwiseCastingHook, module.apply_layerwise_casting_hook
        hook.new_forward = new_forward
        module.apply_layerwise_casting_hook = wrap_apply_hook(apply_hook, module._LAYERWISE_CASTING_HOOK)

        def undo():
            module.apply_layerwise_casting_hook = apply_hook
            del hook.new_forward
            undo_branches()

        return undo

    def explains(self, brk) -> bool:
        return "layerwise_casting" in brk.file or any("layerwise_casting.py" in frame for frame in brk.stack)

    def defect(self):
        """A small FLUX.1 transformer with float8 storage and float32 compute (CPU), whole model, fullgraph."""
        import torch

        from patches.diffusers.models import small_flux

        model, inputs = small_flux()
        model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
        with torch.no_grad():
            return fullgraph_error(lambda: model(**inputs))


@hookimpl
def fluxfix_patches():
    return [LayerwiseCasting()]
