"""Run a diffusers hook's own Python eagerly and compile only the module beneath it.

Every hooked module runs through one wrapper function of diffusers' hook registry (`hooks/hooks.py`,
`new_forward`), and dynamo keeps one cache per code object. A hook that breaks the graph (a
compile-disabled transfer or cache decision) makes that wrapper, and the frames resumed inside the
hook, frames of their own entered by every hooked module: they recompile per module kind, argument
count, shape and, where the hook's bookkeeping is traced, per step, until the recompile limit sends
the rest to eager. Here such a module's wrapper and its hook's `new_forward` are functions dynamo
does not trace (their callees it does): the hook's code runs exactly as diffusers wrote it, between
graphs, and the module's own forward is a frame of its own, shared by every module of its class.
"""
from __future__ import annotations

import functools
import inspect

from fluxfix.eager import not_traced


def _hooked_forward(function_reference, module, *args, **kwargs):
    """What diffusers' wrapper does for one hook, in a code object of fluxfix's own."""
    args, kwargs = function_reference.pre_forward(module, *args, **kwargs)
    return function_reference.post_forward(module, function_reference.forward(*args, **kwargs))


@functools.cache
def eager_wrapper():
    return not_traced(_hooked_forward)


def last_hook(module):
    """The hook registered last on `module` where its `forward` is still diffusers' registry wrapper
    for that hook (as `register_hook` leaves it); None otherwise (another wrapper came after)."""
    forward, registry = vars(module).get("forward"), getattr(module, "_diffusers_hook", None)
    if isinstance(forward, functools.partial) and forward.args == (module,) and registry is not None and registry._hook_order:
        return registry.hooks[registry._hook_order[-1]]
    return None


def run_hook_eagerly(module, hook) -> bool:
    """Give `module`, whose registry just registered `hook` last, a wrapper dynamo does not trace.
    diffusers' wrapper stays the one `remove_hook` unwinds to. False where the module's forward is not
    diffusers' wrapper for that hook (left as it is)."""
    if hook is None or last_hook(module) is not hook:
        return False
    wrapped = vars(module)["forward"].__wrapped__
    module.forward = functools.update_wrapper(functools.partial(eager_wrapper(), hook.fn_ref, module), wrapped)
    return True


def registering_kinds_eagerly(register, kinds: tuple):
    """`HookRegistry.register_hook`, wrapped so that a module then runs each hook of `kinds` (classes)
    eagerly (`run_hook_eagerly`): for hooks registered by code with no per-module function to wrap."""

    @functools.wraps(register)
    def register_hook(self, hook, name):
        result = register(self, hook, name)
        if isinstance(hook, kinds):
            run_hook_eagerly(self._module_ref, hook)
        return result

    return register_hook


def disabled_with_callees(function) -> bool:
    """Whether `function` is compile-disabled with everything it calls (dynamo's recursive disable)."""
    # torch before 2.10 has no `_torchdynamo_disable_recursive`: its disable was always recursive
    return getattr(function, "_torchdynamo_disable", False) and getattr(function, "_torchdynamo_disable_recursive", True)


def registering_eagerly(apply, parameter: str):
    """`apply`, a diffusers function that registers one hook on the module it is given as `parameter`,
    wrapped so that the module then runs that hook eagerly (`run_hook_eagerly`)."""
    signature = inspect.signature(apply)

    @functools.wraps(apply)
    def apply_hook(*args, **kwargs):
        result = apply(*args, **kwargs)
        module = signature.bind(*args, **kwargs).arguments[parameter]
        run_hook_eagerly(module, last_hook(module))
        return result

    return apply_hook


def replace(sites: dict, replacements: dict):
    """Set each (owner, attribute) of `sites` to its replacement; the undo that puts the originals back."""
    originals = {name: vars(owner)[attr] for name, (owner, attr) in sites.items()}
    for name, (owner, attr) in sites.items():
        setattr(owner, attr, replacements[name])

    def undo():
        for name, (owner, attr) in sites.items():
            setattr(owner, attr, originals[name])

    return undo
