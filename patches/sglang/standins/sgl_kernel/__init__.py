"""Import-only stand-in for sglang's compiled `sgl_kernel` (see ../README.md).

Any name imports, and calling it raises, so a benchmark that runs through one cannot go unseen;
the one exception is `rmsnorm` (below), a plain-torch version of the kernel Wan calls.
Submodules (`sgl_kernel.quantization`, ...) import the same way, except the ones sglang probes with
`try: import ... except ImportError` to pick a feature: those stay missing, so sglang takes the
path it takes without the real package (torch SDPA attention, its own scalar-type mock).
"""
import importlib.abc
import importlib.machinery
import sys
import types

FLUXFIX_STANDIN = True
MISSING = ("flash_attn", "sparse_flash_attn", "flash_mla", "scalar_type")


def _stub(qualname):
    def _not_carried(*args, **kwargs):
        raise RuntimeError(f"{qualname} was called, but sgl_kernel is an import-only stand-in")

    _not_carried.__name__ = qualname.rsplit(".", 1)[-1]
    return _not_carried


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _stub(f"sgl_kernel.{name}")


class _Sub(types.ModuleType):
    FLUXFIX_STANDIN = True

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub(f"{self.__name__}.{name}")


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if not fullname.startswith("sgl_kernel."):
            return None
        if fullname.split(".")[1] in MISSING:
            raise ModuleNotFoundError(f"No module named {fullname!r} (sgl_kernel stand-in)", name=fullname)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        return _Sub(spec.name)

    def exec_module(self, module):
        module.__path__ = []


sys.meta_path.append(_Finder())


def rmsnorm(input, weight, eps=1e-6, out=None, enable_pdl=None):
    """The one kernel Wan's forward calls here (its q/k RMSNorm across heads): the same math in
    plain torch, no Python side effects, so compiled code traces it like the real op."""
    import torch

    x = input.float()
    y = (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)).to(input.dtype) * weight
    if out is not None:
        out.copy_(y)
        return out
    return y
