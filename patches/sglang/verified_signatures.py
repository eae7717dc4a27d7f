"""sglang's bit-exact fusion gates look a call's signature (its tensors' shapes and strides) up in a
set of verified signatures, also while compiling, which pins every compiled graph to one image size.

From 0.5.21 sglang's fast paths on NVIDIA (fused LayerNorm+modulate, SwiGLU, norm_out, QKV packing:
FLUX.1, FLUX.2, Qwen-Image, Sana, HunyuanVideo, and every site built on `BitExactFusionGate.run`)
verify a fused kernel against the eager chain the first time they meet a signature, eagerly, and
keep the verified ones in a set:

    verified = sig in _FLUX_LN_MOD_SIGS
    if not verified and torch.compiler.is_compiling(): return None   # the eager chain

Under torch.compile a set lookup needs the signature's values, so dynamo guards every graph that
makes one on the exact shape (`Eq(s87 + 512, 4544)`: FLUX.1's token count, in an H100 server log of
0.5.23), and each new image size compiles the transformer again, even after its dims went dynamic. In
a server that compiles before any eager call the set stays empty, and the answer is False whatever the
shape. Each lookup now asks first whether the set holds anything (`bool(S) and sig in S`, the same
answer): with an empty set no shape is read, so no guard; dynamo still guards on the set itself, so a
signature verified later is seen as before.
"""
import ast
import inspect

from fluxfix import StepAside, Verdict, hookimpl, recode
from patches.sglang.host import SglangPatch

GATE = "sglang.kernels.ops.diffusion.sites.bitexact_gate"
DITS = "sglang.multimodal_gen.runtime.models.dits"
MODULES = (GATE, *(f"{DITS}.{m}" for m in ("flux", "flux_2", "qwen_image", "sana", "hunyuanvideo")))
VERIFIED = "verified_sigs"  # BitExactFusionGate's set of verified signatures


def verified_sets(module) -> set[str]:
    """The module's global names bound to a gate's set of verified signatures (`_FLUX_LN_MOD_SIGS`)."""
    gates = [v for v in vars(module).values() if isinstance(getattr(v, VERIFIED, None), set)]
    return {name for name, value in vars(module).items() if isinstance(value, set)
            and any(getattr(gate, VERIFIED) is value for gate in gates)}


def lookups(tree: ast.AST, sets: set[str]) -> list[ast.Compare]:
    """`x in S` where S is one of `sets`, `<obj>.verified_sigs`, or a local assigned from either."""
    local = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and is_verified_set(node.value, sets)
             for target in node.targets if isinstance(target, ast.Name)}
    return [node for node in ast.walk(tree) if isinstance(node, ast.Compare) and len(node.ops) == 1
            and isinstance(node.ops[0], ast.In) and is_verified_set(node.comparators[0], sets | local)]


def is_verified_set(node: ast.AST, names: set[str]) -> bool:
    return (isinstance(node, ast.Name) and node.id in names) or (isinstance(node, ast.Attribute) and node.attr == VERIFIED)


def asked_if_empty_first(sets: set[str]):
    """A transform for recode.rewritten: every lookup `x in S` becomes `bool(S) and x in S`."""

    def transform(def_node):
        found = {id(node) for node in lookups(def_node, sets)}

        class Rewrite(ast.NodeTransformer):
            def visit_Compare(self, node):
                if id(node) not in found:
                    return self.generic_visit(node)
                return ast.BoolOp(ast.And(), [ast.Call(ast.Name("bool", ast.Load()), [node.comparators[0]], []), node])

        Rewrite().visit(def_node)

    return transform


def functions(module) -> list:
    """The module's own functions and the methods of its own classes (decorators unwrapped)."""
    found = []
    for value in vars(module).values():
        members = vars(value).values() if inspect.isclass(value) and value.__module__ == module.__name__ else [value]
        for member in members:
            func = inspect.unwrap(member) if callable(member) else None
            if inspect.isfunction(func) and func.__module__ == module.__name__ and func not in found:
                found.append(func)
    return found


class VerifiedSignatures(SglangPatch):
    summary = "bit-exact fusion gates' signature lookups no longer guard compiled graphs on the image size"
    targets = MODULES
    upstream = "none (0.5.23 still looks signatures up while compiling)"
    expected = {"<0.5.21": "not needed (no bit-exact fusion gates)", ">=0.5.21": "applied"}
    contract_release = "0.5.23"
    drift = (("sglang/kernels/ops/diffusion/sites/bitexact_gate.py",
              "        verified = self.verified if sigs is None else sig in sigs\n",
              "        verified = self.verified if sigs is None else self.is_verified(sig)\n"),
             ("sglang/kernels/ops/diffusion/sites/bitexact_gate.py",
              "            return sig in self.verified_sigs\n", "            return self.verified_sigs.__contains__(sig)\n"))

    def inspect(self, module):
        sets = verified_sets(module)
        names = sets | {VERIFIED}
        sites = {}
        for func in functions(module):
            if names & set(func.__code__.co_names) and lookups(recode.syntax(func), sets):
                sites[func.__qualname__] = (func, sets)
        if not sites:
            if module.__name__ == GATE:
                raise StepAside(Verdict.TARGET_CHANGED, f"{module.__name__} no longer looks signatures up in `{VERIFIED}`")
            raise StepAside(Verdict.NOT_NEEDED, f"{module.__name__} looks no signature up in a verified set itself")
        return sites

    def apply(self, module, sites):
        undos = [recode.recode(func, recode.rewritten(func, asked_if_empty_first(sets)), {})
                 for func, sets in sites.values()]
        return lambda: [undo() for undo in reversed(undos)]

    def defect(self):
        """The host's own gate (`BitExactFusionGate.is_verified`, per signature, as its fast paths ask it
        while compiling) compiled as sglang compiles (dynamic=None) at three sizes: two graphs should serve them."""
        import importlib

        import torch

        from fluxfix.breaks import compile_report

        gate = importlib.import_module(GATE).BitExactFusionGate("fluxfix check", per_signature=True)

        def site(x):  # an unverified signature while compiling: the eager chain
            return x + 1 if gate.is_verified((x.shape, x.stride())) else x * 2

        report = compile_report(site, torch.randn(1, 64, 8), more=[(torch.randn(1, 48, 8),), (torch.randn(1, 40, 8),)])
        if report.error:
            return report.error
        return (f"{report.recompiles} recompiles for two new sizes (the signature lookup's guard on the shape)"
                if report.recompiles > 1 else None)


@hookimpl
def fluxfix_patches():
    return [VerifiedSignatures()]
