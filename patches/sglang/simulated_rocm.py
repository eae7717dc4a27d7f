"""A simulated ROCm machine, on a machine without an AMD GPU: what the tests and `fluxfix doctor
--simulate rocm` use to put a real sglang release into the state it takes on ROCm.

Simulated, and said so wherever it is used:
- torch reports a HIP build (`torch.version.hip` set, `torch.version.cuda` None), which drives sglang's `is_hip()`, its AITER
  switches and its platform-specific guards;
- `amdsmi` answers with one AMD GPU, so sglang's platform detection picks its ROCm platform;
- the device queries sglang makes while its modules import are answered as an MI300X (gfx942,
  64-wide wavefronts) would answer them (at run time torch still has no GPU: tensors stay on the CPU);
- `sgl_kernel`, where it is not installed, is fluxfix's import-only stand-in (standins/README.md);
- `aiter`, AMD's kernel library, is a stand-in whose attention functions are torch reference
  implementations (softmax attention computed with torch ops); its other kernels raise.
Nothing here runs on a real ROCm machine: `enter()` refuses when torch is a real HIP build.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import math
import sys
import types

HIP_VERSION = "6.4.43482"  # what a ROCm 6.4 torch build reports
GPU = types.SimpleNamespace(name="AMD Instinct MI300X (simulated)", gcnArchName="gfx942:sramecc+:xnack-",
                            warp_size=64, multi_processor_count=304, total_memory=192 * 2**30, major=9, minor=4)
NOTE = ("ROCm simulated on this machine: torch reports HIP, amdsmi reports one AMD GPU, aiter is a stand-in "
        "computing attention with torch reference ops; verdicts and graph breaks are ROCm's, timings are not")


def reference_attention(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False):
    """softmax(q k^T * scale) v on [batch, seq, heads, dim] tensors, and the log-sum-exp per row
    ([batch, heads, seq], float32): what flash attention returns, computed with torch ops."""
    import torch

    if dropout_p:
        raise NotImplementedError("the simulated aiter computes attention without dropout")
    scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(q.shape[-1])
    qh, kh, vh = (t.transpose(1, 2).float() for t in (q, k, v))
    if kh.shape[1] != qh.shape[1]:  # grouped-query attention: each KV head serves a group of query heads
        kh, vh = (t.repeat_interleave(qh.shape[1] // t.shape[1], dim=1) for t in (kh, vh))
    scores = qh @ kh.transpose(-1, -2) * scale
    if causal:
        mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril(scores.shape[-1] - scores.shape[-2])
        scores = scores.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)
    out = (torch.softmax(scores, dim=-1) @ vh).transpose(1, 2).to(q.dtype).contiguous()
    return out, lse


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1, 0), bias=None,
                    alibi_slopes=None, deterministic=True, return_lse=False, return_attn_probs=False, **kernel_options):
    """aiter.flash_attn_func's signature and results (out, or (out, lse) with return_lse)."""
    if return_attn_probs:
        raise NotImplementedError("the simulated aiter does not return attention probabilities")
    out, lse = reference_attention(q, k, v, dropout_p, softmax_scale, causal)
    return (out, lse) if return_lse else out


class _Stub(types.ModuleType):
    """aiter and its submodules: attention is simulated; any other name imports and raises when called."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def kernel(*args, **kwargs):
            raise NotImplementedError(f"{self.__name__}.{name} is not simulated (only attention is): it needs an AMD GPU")

        kernel.__name__ = name
        return kernel


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.startswith("aiter."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _module(spec.name)

    def exec_module(self, module):
        pass


def _module(name: str, **attrs) -> types.ModuleType:
    module = _Stub(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)  # find_spec() must see it
    module.__path__ = []
    vars(module).update(attrs)
    return module


def aiter_standin() -> dict[str, types.ModuleType]:
    core = _module("aiter.jit.core", ENABLE_CK=True)
    jit = _module("aiter.jit", core=core)
    aiter = _module("aiter", jit=jit, flash_attn_func=flash_attn_func)
    return {"aiter": aiter, "aiter.jit": jit, "aiter.jit.core": core}


_FINDER = _StubFinder()


def amdsmi_standin() -> types.ModuleType:
    return _module("amdsmi", amdsmi_init=lambda *a: None, amdsmi_shut_down=lambda *a: None,
                   amdsmi_get_processor_handles=lambda: [object()])


_saved: dict = {}


def _start() -> None:
    import torch

    if getattr(torch.version, "hip", None) and not active():
        raise RuntimeError("torch is a real ROCm build here: nothing to simulate")
    _saved.update(modules={name: sys.modules.get(name) for name in ("aiter", "aiter.jit", "aiter.jit.core", "amdsmi")},
                  version=(torch.version.hip, torch.version.cuda), path=_kernel_standin_path())
    sys.modules.update(aiter_standin())
    sys.modules["amdsmi"] = amdsmi_standin()
    sys.meta_path.append(_FINDER)
    # a ROCm build reports a HIP version and no CUDA version
    torch.version.hip, torch.version.cuda, torch.version._fluxfix_simulated = HIP_VERSION, None, True


def _stop() -> None:
    import torch

    torch.version.hip, torch.version.cuda = _saved["version"]
    del torch.version._fluxfix_simulated
    sys.meta_path.remove(_FINDER)
    if _saved["path"]:
        sys.path.remove(_saved["path"])
    for name, module in _saved["modules"].items():
        if module is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = module


@contextlib.contextmanager
def simulated():
    """ROCm simulated inside the block (sglang must be imported inside it: its platform is fixed at
    import); everything put back after. Raises RuntimeError on a real ROCm build of torch."""
    if active():
        yield NOTE
        return
    _start()
    try:
        yield NOTE
    finally:
        _stop()


def _kernel_standin_path() -> str | None:
    """sglang imports its compiled kernel package, sgl_kernel, at module level on ROCm; where it
    is not installed, fluxfix's import-only stand-in (calling anything in it raises) goes last on
    sys.path. Returns the path added, if any."""
    import importlib.util
    from pathlib import Path

    if importlib.util.find_spec("sgl_kernel") is not None:
        return None
    path = str(Path(__file__).parent / "standins")
    sys.path.append(path)
    return path


def device_answers(torch) -> dict:
    """What sglang asks of the GPU while its modules import, answered as the simulated GPU would
    (patches.sglang.host.warp_size_answered applies them around imports only: at run time torch
    keeps saying that no GPU is here, so tensors stay on the CPU)."""
    return {"is_available": lambda: True, "device_count": lambda: 1, "current_device": lambda: 0,
            "get_device_properties": lambda device=None: GPU, "get_device_name": lambda device=None: GPU.name,
            "get_device_capability": lambda device=None: (GPU.major, GPU.minor)}


def active() -> bool:
    import torch

    return bool(getattr(torch.version, "_fluxfix_simulated", False))


class RocmContract:
    """Mixin for a patch whose contract cases run on a simulated ROCm machine: its defect is ROCm's, or
    its host code cannot run on a CPU platform but can on the simulated GPU (sglang-wan-contiguous-tokens)."""

    def contract_setup(self) -> None:
        enter()


def enter() -> str:
    """ROCm simulated for the rest of this process (a test probe, doctor's run); returns the note."""
    if not active():
        _start()
    return NOTE
