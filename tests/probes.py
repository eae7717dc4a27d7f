"""Code that runs in a fresh subprocess with one real host release on sys.path.

`python -m probes NAME [ARG]` runs probe NAME and prints its result as one JSON line. Each probe
uses the host's own functions; fluxfix is activated where the probe says (before or after the
host's imports), so that tests compare real compile behaviour, not fluxfix's bookkeeping. The
helpers come from fluxfix itself: the process starts with FLUXFIX=0, so importing them activates
nothing; `activate()` is the moment.
"""
from __future__ import annotations

import sys

# before anything below imports fluxfix's modules: what the interpreter-start auto-load did
FLUXFIX_AT_START, TORCH_AT_START = "fluxfix" in sys.modules, "torch" in sys.modules

import inspect
import json
import os
import types
import warnings

from fluxfix.breaks import break_site, fullgraph_error
from fluxfix.engine import ENGINE
from fluxfix.warn_once import warning_break
from patches.sglang.host import warp_size_answered as gpu_driver_stand_in


def activate(**extra: str) -> None:
    """The moment this probe activates fluxfix (its process starts with FLUXFIX=0 unless a test
    sets FLUXFIX itself, so importing fluxfix's modules activated nothing until now)."""
    import fluxfix

    fluxfix.activate(environ={**os.environ, "FLUXFIX": os.environ.get("PROBE_FLUXFIX", "1"), **extra})


def _linear_case():
    """The real UnquantizedLinearMethod.apply on weights made by its own create_weights."""
    import torch
    from sglang.multimodal_gen.runtime.layers.linear import UnquantizedLinearMethod

    torch.manual_seed(0)
    method, layer = UnquantizedLinearMethod(), torch.nn.Module()
    method.create_weights(layer, 16, [8], 16, 8, torch.float32)
    torch.nn.init.normal_(layer.weight)
    bias, x = torch.randn(8), torch.randn(4, 16)
    return (lambda x: method.apply(layer, x, bias)), x


def _amp_case():
    import torch
    from sglang.multimodal_gen.runtime.platforms import current_platform

    def scaled(x):  # the shape of sglang's own call sites: branch on the platform check
        return x * 2 if current_platform.is_amp_supported() else x - 1

    return scaled, torch.randn(4)


def platform(order: str = "after") -> dict:
    """Compile the real linear path and a real platform-check call, with fluxfix activated
    before the host's imports or after them; then revert."""
    import torch

    if order == "before":
        activate()
    from sglang.multimodal_gen.runtime.platforms import interface

    (linear, x), (amp, y) = _linear_case(), _amp_case()
    out = {}
    if order == "after":
        out["unpatched"] = {"linear_error": fullgraph_error(linear, x), "amp_error": fullgraph_error(amp, y)}
    activate()
    import fluxfix
    from fluxfix.fold import is_cached_classmethod

    entry = vars(interface.Platform)["is_amp_supported"]
    out["replaced"] = not is_cached_classmethod(entry)
    original = getattr(entry.__func__, "__fluxfix_original__", entry)
    out["patched"] = {"linear_error": fullgraph_error(linear, x), "amp_error": fullgraph_error(amp, y)}
    patched_eager = linear(x), amp(y)
    torch._dynamo.reset()
    out["compiled_close"] = bool(torch.allclose(torch.compile(linear, fullgraph=True)(x), patched_eager[0], rtol=1e-5, atol=1e-5))
    out["status"] = {r.name: r.verdict.value for r in fluxfix.status()}
    fluxfix.revert()
    out["reverted_identity"] = vars(interface.Platform)["is_amp_supported"] is original
    out["eager_identical"] = all(a.equal(b) for a, b in zip(patched_eager, (linear(x), amp(y))))
    out["reverted"] = {"linear_error": fullgraph_error(linear, x), "amp_error": fullgraph_error(amp, y)}
    return out


def platform_check() -> dict:
    """Only the real `current_platform.is_amp_supported()` (its platform modules import without
    torchvision): unpatched, patched, reverted, and its value eagerly."""
    amp, y = _amp_case()
    out = {"unpatched": fullgraph_error(amp, y), "eager": bool(amp(y)[0] == y[0] * 2)}
    activate()
    import fluxfix

    out["patched"], out["eager_patched"] = fullgraph_error(amp, y), bool(amp(y)[0] == y[0] * 2)
    fluxfix.revert()
    out["reverted"] = fullgraph_error(amp, y)
    return out


def _warning_case(fn, *args, match: str) -> dict:
    """Trace `fn` unpatched, activate fluxfix, trace again; count the host's warning."""
    error = fullgraph_error(fn, *args)
    out = {"unpatched_error": error, "unpatched_site": break_site(error)}
    activate()
    import fluxfix

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = fullgraph_error(fn, *args)
        out["warned_while_compiling"] = sum(match in str(w.message) for w in caught)
    out["patched_error"], out["patched_site"] = error, break_site(error)
    out["status"] = {r.name: r.verdict.value for r in fluxfix.status()}
    return out


def rope_warning() -> dict:
    """The real apply_flashinfer_rope_qk_inplace, bound by name before fluxfix is activated.
    Its Triton fallback kernel cannot run without a GPU, so this only traces (fullgraph=True
    raises at the first break, before anything runs): unpatched the break is the warning;
    patched, tracing gets past it to the Triton launch."""
    import torch

    with gpu_driver_stand_in():  # 0.5.8's Triton RoPE module asks for the warp size at import
        from sglang.multimodal_gen.runtime.layers.rotary_embedding import apply_flashinfer_rope_qk_inplace as rope

    q, k, cache = torch.randn(1, 4, 2, 8), torch.randn(1, 4, 2, 8), torch.randn(16, 8)
    return _warning_case(lambda q, k: rope(q, k, cache), q, k, match="FlashInfer")


def norm_warning() -> dict:
    """A real fused-norm layer on its fallback path (hidden size not a multiple of 256), or in
    0.5.8 the real QK-norm fallback. Traced with fullgraph=True; eager outputs are compared
    where the fallback runs without a GPU (in some releases it calls a Triton kernel)."""
    import torch

    with gpu_driver_stand_in():
        from sglang.multimodal_gen.runtime.layers import layernorm
    torch.manual_seed(0)
    if hasattr(layernorm, "LayerNormScaleShift") and hasattr(layernorm.LayerNormScaleShift, "forward_cuda"):
        norm = layernorm.LayerNormScaleShift(64, elementwise_affine=True)
        args = torch.randn(2, 8, 64), torch.randn(2, 1, 64), torch.randn(2, 1, 64)
        fn = norm.forward_cuda
    else:
        q_norm, k_norm = layernorm.RMSNorm(16), layernorm.RMSNorm(16)
        args = torch.randn(2, 8, 64), torch.randn(2, 8, 64)

        def fn(q, k):
            return layernorm.apply_qk_norm(q, k, q_norm, k_norm, 16, allow_inplace=False)

    try:
        unpatched = fn(*args)
    except Exception as exc:  # its native path calls a Triton kernel in some releases
        unpatched, eager_note = None, f"eager needs a GPU here: {type(exc).__name__}"
    out = _warning_case(fn, *args, match="fallback")
    if unpatched is not None:
        patched = fn(*args)
    import fluxfix

    fluxfix.revert()
    if unpatched is None:
        out["eager_identical"] = eager_note
    else:
        same = lambda a, b: all(x.equal(y) for x, y in zip(a, b)) if isinstance(a, tuple) else a.equal(b)  # noqa: E731
        out["eager_identical"] = same(unpatched, patched) and same(unpatched, fn(*args))
    out["reverted_site"] = break_site(fullgraph_error(fn, *args))
    return out


def verdicts() -> dict:
    """Every patch's verdict once every target module that imports here is imported."""
    import fluxfix

    activate(FLUXFIX_COMPILE="regional")  # opt-in patches too: the matrix says where they apply
    with gpu_driver_stand_in():
        records = fluxfix.status(import_targets=True)
    return {r.name: {"verdict": r.verdict.value, "reason": r.reason, "version": r.host_version} for r in records}


def verdicts_on_rocm() -> dict:
    """verdicts() on a simulated ROCm machine (patches.sglang.simulated_rocm: torch reports HIP,
    amdsmi one AMD GPU, aiter a stand-in computing attention with torch reference ops)."""
    from patches.sglang import simulated_rocm

    simulated_rocm.enter()
    return verdicts()


def rocm_flux_aiter() -> dict:
    """sglang's real FLUX.1 (small) on a simulated ROCm machine with `--attention-backend aiter`,
    compiled from its first call (as sglang runs it), before and after activation; outputs against
    the eager model, and the AITER op's fake checked against its real implementation (opcheck)."""
    import torch

    import fluxfix
    from fluxfix.breaks import compile_report
    from patches.sglang import models, simulated_rocm

    out = {"simulated": simulated_rocm.enter()}
    with gpu_driver_stand_in():
        import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first)
        import sglang.multimodal_gen.runtime.models.dits.flux  # noqa: F401
        from sglang.multimodal_gen.runtime.layers.attention.backends import aiter as backend
    built = models.build("flux", 1, "cpu", torch.float32, height=128, width=128, text_len=16,
                         narrow=models.NARROW["flux"], attention_backend="aiter")
    out["impls"] = sorted({type(m.attn_impl).__name__ for m in built.model.modules() if hasattr(m, "attn_impl")})
    sample = lambda: models.output_tensor(built.step())  # noqa: E731
    eager = sample()
    before = compile_report(sample)
    out["unpatched"] = {"graphs": before.graphs, "breaks": sum(before.breaks.values()),
                        "sites": [f"{s.file}:{s.line}" for s in before.sites]}
    activate(FLUXFIX_COMPILE="regional")  # opt-in patches too: the verdicts below are the matrix's
    out["status"] = {r.name: r.verdict.value for r in fluxfix.status()}
    out["eager_identical"] = torch.equal(eager, sample())
    after = compile_report(sample)
    out["patched"] = {"graphs": after.graphs, "breaks": sum(after.breaks.values()), "error": after.error}
    compiled = torch.compile(sample, fullgraph=True)
    out["compiled_max_err"] = (compiled() - eager).abs().max().item()
    q, k, v = (torch.randn(1, 8, 2, 16) for _ in range(3))
    for name in ("aiter_flash_attn", "aiter_flash_attn_lse"):
        op = getattr(torch.ops.fluxfix, name, None)
        if op is not None:
            torch.library.opcheck(op, (q, k, v, 0.0, False))  # raises where fake and real disagree
            out["opcheck"] = name
    out["verdicts"] = verdicts()  # every patch's ROCm verdict, its targets imported (test_matrix checks them)
    fluxfix.revert()
    out["reverted_disabled"] = bool(getattr(vars(backend.AITerImpl)["forward"], "_torchdynamo_disable", False))
    return out


def rocm_guards() -> dict:
    """0.5.21's modulate and gated-residual helpers on a simulated ROCm machine, traced with
    fullgraph=True on fake GPU tensors (they report is_cuda, as ROCm's do; no kernel runs)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    import fluxfix
    from patches.sglang import simulated_rocm

    simulated_rocm.enter()
    with gpu_driver_stand_in():
        from sglang.kernels.kda_kernels import residual_gate_add_jit as gate
        from sglang.kernels.ops.diffusion.modulate import modulate_scale_shift_jit as modulate
    with FakeTensorMode():
        x = torch.empty(2, 8, 64, device="cuda", dtype=torch.bfloat16)
        rows = torch.empty(2, 64, device="cuda", dtype=torch.bfloat16)
    cases = {"modulate": (modulate.modulate_scale_shift, modulate.can_use_modulate_scale_shift_cuda, (x, rows, rows)),
             "residual_gate": (gate.residual_gate_add, gate.can_use_residual_gate_add_cuda, (x, x, x))}
    out = {name: {"unpatched": _traced_ops(fn, *args), "eager_guard": guard(*args)} for name, (fn, guard, args) in cases.items()}
    activate()
    out["status"] = {r.name: r.verdict.value for r in fluxfix.status()}
    for name, (fn, guard, args) in cases.items():
        out[name]["patched"] = _traced_ops(fn, *args)
        out[name]["eager_guard_patched"] = guard(*args)  # eager calls run the host's own code
    return out


def _traced_ops(fn, *args) -> dict:
    """The ops of `fn`'s graph, traced with fullgraph=True, or the error that stopped tracing."""
    import torch

    ops = []

    def backend(gm, example_inputs):
        ops.extend(str(n.target) for n in gm.graph.nodes if n.op == "call_function")
        return gm.forward

    torch._dynamo.reset()
    try:
        torch.compile(fn, fullgraph=True, backend=backend)(*args)
        return {"ops": ops, "error": None}
    except Exception as exc:
        return {"ops": ops, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}


def flux_forward_batch() -> dict:
    """sglang's real FLUX.1 (small) stepped inside a forward context that carries a real request
    (`Req` with its `SamplingParams`), as sglang's denoising stage runs it; compiled before and
    after activation, from the first call (sglang compiles before its first request): 0.5.23's
    unfused QK-norm+RoPE path (the one a CPU takes) also builds its RoPE module lazily in that call."""
    import torch

    import fluxfix
    from fluxfix.breaks import compile_report
    from patches.sglang import models

    with gpu_driver_stand_in():
        import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first)
        from sglang.multimodal_gen.configs.sample.sampling_params import SamplingParams
        from sglang.multimodal_gen.runtime.layers import layernorm
        from sglang.multimodal_gen.runtime.pipelines_core.schedule_batch import Req
    built = models.build("flux", 1, "cpu", torch.float32, height=128, width=128, text_len=16,
                         narrow=models.NARROW["flux"], forward_batch=Req(sampling_params=SamplingParams()))
    sample = lambda: models.output_tensor(built.step())  # noqa: E731
    out = {}
    for label in ("unpatched", "patched"):
        if label == "patched":
            activate()
            out["status"] = {r.name: r.verdict.value for r in fluxfix.status()}
        layernorm._QK_NORM_ROPE_DICT.clear()  # as in a fresh process: the unpatched run's eager tail filled it
        report = compile_report(sample)
        out[label] = {"graphs": report.graphs, "breaks": sum(report.breaks.values()), "abandoned": report.frames_abandoned,
                      "sites": [f"{s.file}:{s.line}" for s in report.sites], "error": report.error}
    patched_eager = sample()
    fluxfix.revert()
    out["eager_identical"] = torch.equal(patched_eager, sample())  # the host's own eager code, bit for bit
    return out


def autoload() -> dict:
    """What the interpreter-start hook did in this process, and whether it worked."""
    out = {"fluxfix_loaded": FLUXFIX_AT_START and ENGINE.active, "torch_loaded": TORCH_AT_START}
    amp, y = _amp_case()
    out["amp_error"] = fullgraph_error(amp, y)
    return out


def early_lines() -> dict:
    """fluxfix's lines for patches applied before the process set up logging (sglang's workers import the
    platform modules before they set up their handlers) are said once it has, at fluxfix's next line."""
    import logging
    import time

    activate()
    import sglang.multimodal_gen.runtime.platforms.cuda  # noqa: F401  (platform checks applied; no handler yet)

    said = []

    class Keep(logging.Handler):
        def emit(self, record):
            said.append((record.getMessage(), record.created))

    root = logging.getLogger()
    root.addHandler(Keep())
    root.setLevel(logging.INFO)
    set_up = time.time()
    import sglang.multimodal_gen.runtime.layers.rotary_embedding  # noqa: F401  (the RoPE warning patch applied)
    return {"said": [m for m, _ in said], "before_set_up": [m for m, t in said if t < set_up]}


def _worker(queue) -> None:
    queue.put(autoload())


def spawned_worker() -> dict:
    """A multiprocessing spawn child (as sglang starts its GPU workers) reports on itself."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_worker, args=(queue,))
    child.start()
    result = queue.get(timeout=300)
    child.join()
    return result


def sglang_plugins() -> dict:
    """sglang's own plugin loading (>= 0.5.21), as its worker bootstrap calls it, in a process whose
    FLUXFIX is unset (the probe's own FLUXFIX=0 is lifted first: fluxfix is imported but inactive)."""
    from sglang.multimodal_gen.runtime.platforms.plugins import load_plugins

    os.environ.pop("FLUXFIX", None)
    load_plugins()
    amp, y = _amp_case()
    return {"fluxfix_loaded": ENGINE.active, "amp_error": fullgraph_error(amp, y)}


def _defects() -> dict:
    """Which defects the host's own code shows right now under torch.compile(fullgraph=True)."""
    import torch
    from sglang.multimodal_gen.runtime.layers import rotary_embedding

    (linear, x), (amp, y) = _linear_case(), _amp_case()
    rope = rotary_embedding.apply_flashinfer_rope_qk_inplace
    q, cache = torch.randn(1, 4, 2, 8), torch.randn(16, 8)
    rope_error = fullgraph_error(lambda q: rope(q, q.clone(), cache), q)
    return {
        "linear_breaks": fullgraph_error(linear, x) is not None,
        "platform_breaks": fullgraph_error(amp, y) is not None,
        "rope_warning_breaks": warning_break(rope_error) is not None,
    }


def _applied_once() -> bool:
    """Each patched object was changed exactly once (no double wrapping, no double rewrite)."""
    from sglang.multimodal_gen.runtime.platforms import interface

    from fluxfix.fold import is_cached_classmethod
    from fluxfix.warn_once import ATTR

    entry = vars(interface.Platform)["is_amp_supported"]
    if not is_cached_classmethod(entry):
        if not is_cached_classmethod(entry.__func__.__fluxfix_original__):
            return False
    from sglang.multimodal_gen.runtime.layers import rotary_embedding

    func = rotary_embedding.apply_flashinfer_rope_qk_inplace
    names = getattr(getattr(func, "__wrapped__", func), "__code__").co_names
    return names.count(ATTR) <= 1 and ATTR + ATTR not in "".join(names)


def concurrent_imports() -> dict:
    """Host modules imported from several threads while another thread activates fluxfix."""
    import threading

    modules = [
        "sglang.multimodal_gen.runtime.layers.linear",
        "sglang.multimodal_gen.runtime.layers.rotary_embedding",  # its __init__ imports .utils
        "sglang.multimodal_gen.runtime.platforms.mps",
    ]
    # No thread imports a package and its submodule at once: CPython itself can deadlock on that
    # (one thread holds the child's import lock while importing the parent, the other the
    # reverse; it raises _DeadlockError). Their shared parents load first.
    import sglang.multimodal_gen.runtime.layers.custom_op  # noqa: F401

    barrier, errors = threading.Barrier(len(modules) + 1), []

    def load(name):
        barrier.wait()
        try:
            __import__(name)
        except Exception as exc:
            errors.append(f"{name}: {exc}")

    def activating():
        barrier.wait()
        activate()

    threads = [threading.Thread(target=load, args=(m,)) for m in modules] + [threading.Thread(target=activating)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "errors": errors,
        "defects": _defects(),
        "applied_once": _applied_once(),
        "outcomes": {p: sorted(o) for p, o in ENGINE.outcomes.items()},
    }


def _kernel_module_stub(func):
    """Run `func`'s original code with its JIT-module loader answering a do-nothing kernel: the
    host's own allocation and argument handling run, only the GPU kernel launch is skipped."""
    loader = next(n for n in func.__code__.co_names if n.startswith("_jit_"))
    saved = func.__globals__[loader]
    func.__globals__[loader] = lambda *a, **k: types.SimpleNamespace(**{n: (lambda *a, **k: None) for n in func.__code__.co_names})
    return lambda: func.__globals__.__setitem__(loader, saved)


def jit_kernels() -> dict:
    """sglang's tvm-ffi JIT kernels (timestep embedding, in-place QK-norm) on meta tensors: dynamo
    cannot trace them unpatched; patched they compile with fullgraph=True, and the op's fake result
    matches what the host's own code allocates (its GPU kernel launch skipped)."""
    import torch

    with gpu_driver_stand_in():
        from sglang.multimodal_gen.runtime.layers import layernorm, visual_embedding

    def is_registered_op(f):  # not a plain function whose own code calls the JIT module (0.5.23 wraps it as an op)
        return not (isinstance(f, types.FunctionType) and any(n.startswith("_jit_") for n in f.__code__.co_names))

    meta = {"device": "meta"}
    timestep = visual_embedding.timestep_embedding_cuda
    qknorm = getattr(layernorm, "fused_inplace_qknorm", None)
    cases = {"timestep": (lambda t: timestep(t, 256, True), torch.randn(3, **meta))}
    if qknorm is not None and not is_registered_op(qknorm):
        w = torch.ones(128, **meta)
        cases["qknorm"] = (lambda q, k: qknorm(q, k, w, w, 1e-6, head_dim=128), torch.randn(1, 8, 4, 128, **meta), torch.randn(1, 8, 4, 128, **meta))
    rmsnorm = getattr(layernorm, "rmsnorm_hf", None)  # 0.5.23+
    if rmsnorm is not None:
        x2d, weight = torch.randn(6, 256, dtype=torch.bfloat16, **meta), torch.ones(256, dtype=torch.bfloat16, **meta)
        cases["rmsnorm"] = (lambda x: rmsnorm(x, weight, 1e-6), x2d)
    out = {"qknorm_is_op": qknorm is not None and is_registered_op(qknorm), "unpatched": {}, "patched": {}}
    originals = {"timestep": timestep.__code__, "qknorm": getattr(qknorm, "__code__", None)}
    for name, (fn, *args) in cases.items():
        error = fullgraph_error(fn, *args)
        out["unpatched"][name] = {"error": error and error.splitlines()[0], "in_kernel_module": bool(error) and ("jit_kernel" in error or "kernels/ops" in error)}
    if rmsnorm is not None:  # what the host allocates vs the op's fake, and a caller-given `out` still works
        restore = _kernel_module_stub(rmsnorm)
        try:
            host_rms = rmsnorm(x2d, weight, 1e-6)
        finally:
            restore()
        out["rmsnorm_host"] = [list(host_rms.shape), str(host_rms.dtype)]
    host_shapes = []
    for n, dim, dtype in ((3, 256, torch.float32), (1, 64, torch.bfloat16), (5, 320, torch.float16)):
        restore = _kernel_module_stub(timestep)
        try:
            real = timestep(torch.randn(n, dtype=dtype, **meta), dim)
        finally:
            restore()
        host_shapes.append([list(real.shape), str(real.dtype)])
    activate()
    import fluxfix

    for name, (fn, *args) in cases.items():
        out["patched"][name] = {"error": fullgraph_error(fn, *args)}
    fake_shapes = []
    for n, dim, dtype in ((3, 256, torch.float32), (1, 64, torch.bfloat16), (5, 320, torch.float16)):
        torch._dynamo.reset()
        got = torch.compile(lambda t: timestep(t, dim), fullgraph=True, backend="aot_eager")(torch.randn(n, dtype=dtype, **meta))
        fake_shapes.append([list(got.shape), str(got.dtype)])
    out["host_shapes"], out["fake_shapes"] = host_shapes, fake_shapes
    if rmsnorm is not None:
        torch._dynamo.reset()
        got = torch.compile(lambda x: rmsnorm(x, weight, 1e-6), fullgraph=True, backend="aot_eager")(x2d)
        out["rmsnorm_fake"] = [list(got.shape), str(got.dtype)]
        given = torch.empty_like(x2d)
        out["rmsnorm_out_bypasses_op"] = fullgraph_error(lambda x: rmsnorm(x, weight, 1e-6, given), x2d) is not None
    if "qknorm" in cases:
        schema = torch.ops.fluxfix.sglang_fused_inplace_qknorm.default._schema
        out["qknorm_writes"] = [a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
        graphs = []

        def capture(gm, example_inputs):
            from torch._functorch.aot_autograd import aot_module_simplified

            return aot_module_simplified(gm, example_inputs, fw_compiler=lambda g, _: graphs.append(g.code) or g.forward)

        def on_views(x):  # q and k as views of one buffer, as sglang's attention passes them
            qknorm(x[..., :128], x[..., 128:], w, w, 1e-6, head_dim=128)
            return x

        torch._dynamo.reset()
        torch.compile(on_views, fullgraph=True, backend=capture)(torch.randn(1, 8, 4, 256, **meta))
        out["qknorm_functionalized"] = "auto_functionalized" in graphs[0] and "sglang_fused_inplace_qknorm" in graphs[0]
    out["status"] = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}
    fluxfix.revert()
    out["reverted_code"] = timestep.__code__ is originals["timestep"] and (qknorm is None or qknorm.__code__ is originals["qknorm"] if "qknorm" in cases else True)
    out["reverted_breaks"] = fullgraph_error(*cases["timestep"]) is not None
    return out


def _rank(rank: int, world: int, port: str, queue) -> None:
    import os

    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    reports = [None] * world
    dist.all_gather_object(reports, {"rank": rank, **autoload()})
    if rank == 0:
        queue.put(reports)
    dist.barrier()  # no rank tears gloo down while another still talks to it
    dist.destroy_process_group()


def distributed_ranks() -> dict:
    """A real torch.distributed job (gloo, 2 ranks, spawned as launchers do): each rank reports
    whether fluxfix reached it and whether the host's platform check compiles there."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.start_processes(_rank, args=(2, port, queue), nprocs=2, start_method="spawn", join=True)
    return {"ranks": queue.get(timeout=60)}


def flux2_aiter(rocm: str = "rocm") -> dict:
    """Flux 2's attention backend list as its model module defines it, with fluxfix active. With
    `rocm`, torch reports a HIP version once the host is imported (this CPU machine stands in for
    a ROCm one: the patch's platform test reads torch.version.hip, nothing after it does)."""
    import torch

    with gpu_driver_stand_in():
        import sglang.multimodal_gen.runtime.layers.linear  # noqa: F401  (parents first)
        from sglang.multimodal_gen.runtime.models.dits import flux_2
    if rocm == "rocm":  # after the host's imports, which would query a real ROCm device
        torch.version.hip = "6.4.0"
    activate()
    import fluxfix

    model = flux_2.Flux2Transformer2DModel
    patched = sorted(b.name for b in model._supported_attention_backends)
    record = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}["sglang-flux2-aiter"]
    fluxfix.revert()
    return {"patched": patched, "status": record, "reverted": sorted(b.name for b in model._supported_attention_backends)}


def data_pointer_tests() -> dict:
    """The host's own helpers that compare data pointers, traced with fullgraph=True before and
    after fluxfix: FLUX.2's SwiGLU writing into a slice of a larger buffer (0.5.23) and
    FP32LayerNorm's cached fp32 weights (0.5.17+). Patched eager output must equal unpatched eager
    output bit for bit; inductor-compiled output must match it within bf16 tolerance."""
    import torch

    with gpu_driver_stand_in():
        from sglang.multimodal_gen.runtime.layers import layernorm
        from sglang.multimodal_gen.runtime.models.dits import flux_2
    torch.manual_seed(0)
    cases = {}
    if "out" in inspect.signature(getattr(flux_2, "_flux2_swiglu", lambda: None)).parameters:
        def swiglu(x):
            buf = torch.zeros(2, 8, 24)
            flux_2._flux2_swiglu(x, buf[..., 8:16])  # `out` is a view, as the next GEMM's input slice is
            return buf

        cases["swiglu"] = (swiglu, torch.randn(2, 8, 16))
    if hasattr(layernorm.FP32LayerNorm, "_cached_fp32_param"):
        norm = layernorm.FP32LayerNorm(64, elementwise_affine=True)
        with torch.no_grad():
            norm.weight.normal_()
            norm.bias.normal_()
        cases["fp32_layernorm"] = (lambda x: norm(x), torch.randn(2, 8, 64, dtype=torch.bfloat16))
    result = {"cases": sorted(cases), "unpatched": {}, "patched": {}, "reverted": {}}
    with torch.no_grad():
        eager = {name: fn(x) for name, (fn, x) in cases.items()}
        for name, (fn, x) in cases.items():
            error = fullgraph_error(fn, x)
            result["unpatched"][name] = {"error": error and error.splitlines()[0], "site": break_site(error)}
        activate()
        import fluxfix

        for name, (fn, x) in cases.items():
            torch._dynamo.reset()
            compiled = torch.compile(fn, fullgraph=True)(x)
            result["patched"][name] = {
                "error": fullgraph_error(fn, x),
                "eager_identical": fn(x).equal(eager[name]),
                "compiled_close": torch.allclose(compiled.float(), eager[name].float(), rtol=1e-2, atol=1e-2),
                "compiled_changed_buffer": bool(compiled.abs().sum() > 0),
            }
        result["status"] = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}["sglang-data-pointer-tests"]
        fluxfix.revert()
        for name, (fn, x) in cases.items():
            result["reverted"][name] = fullgraph_error(fn, x) is not None
    return result


# the host's own torch fallback of the scale-shift op, by release (0.5.8 has none)
SCALE_SHIFT_FALLBACKS = {"sglang.kernels.ops.diffusion.common.fallback_torch": "fuse_scale_shift_kernel_native",
                         "sglang.kernels.ops.diffusion.triton.torch_fallback": "fuse_scale_shift_kernel_native",
                         "sglang.jit_kernel.diffusion.triton.torch_fallback": "fuse_scale_shift_kernel_native",
                         "sglang.jit_kernel.diffusion.triton.mps_fallback": "fuse_scale_shift_kernel_native",
                         "sglang.jit_kernel.diffusion.triton.npu_fallback": "fuse_scale_shift_native"}


def _first_importable(names):
    import importlib

    name = next((n for n in names if not ENGINE.absent(n)), None)
    return (name, importlib.import_module(name)) if name else (None, None)


def scale_shift_zero_test() -> dict:
    """sglang's Triton scale-shift launcher called with scalar scale and shift (as Wan's norms do),
    traced with fullgraph=True on fake CUDA tensors (tracing needs no GPU) without and with fluxfix;
    then, patched, compiled by inductor on CPU and compared with the host's own torch fallback of
    the same op (scale 0 and shift 0: the host's copy of x, bit for bit)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from sglang.multimodal_gen.runtime.platforms import current_platform

    # from 0.5.11 the launcher module binds its name to a torch fallback on a CPU platform: for its
    # import only, sglang's platform answers as CUDA would, so the name is the Triton launcher a GPU gets
    with gpu_driver_stand_in():
        current_platform.is_cpu, current_platform.is_cuda = (lambda: False), (lambda: True)
        try:
            from patches.sglang.scale_shift_zero_test import BRANCHES  # where the launcher lives, by release

            where, module = _first_importable(BRANCHES)
        finally:
            del current_platform.is_cpu, current_platform.is_cuda
        launcher = module.fuse_scale_shift_kernel
        name, found = _first_importable(SCALE_SHIFT_FALLBACKS)  # 0.5.8 has none
        fallback = getattr(found, SCALE_SHIFT_FALLBACKS[name]) if found else None
    with FakeTensorMode():
        fake = (torch.empty(2, 8, 16, device="cuda", dtype=torch.bfloat16), torch.zeros(1, device="cuda"),
                torch.zeros(1, device="cuda"))
    result = {"module": where, "unpatched": fullgraph_error(launcher, *fake)}
    result["unpatched_site"] = break_site(result["unpatched"])
    x = torch.randn(2, 8, 16, dtype=torch.bfloat16)
    zero, scale, shift = torch.zeros(1), torch.full((1,), 0.5), torch.full((1,), -0.25)
    try:
        launcher(x, scale, shift)
        result["eager_unpatched"] = None
    except Exception as exc:  # the host's own CUDA assertion on CPU tensors
        result["eager_unpatched"] = type(exc).__name__
    activate()
    import fluxfix

    record = {r.name: r for r in fluxfix.status(import_targets=True)}["sglang-scale-shift-zero-test"]
    result["status"] = [record.verdict.value, record.reason]
    result["modules"] = {m: [o.verdict.value, o.reason] for m, o in record.modules.items()}
    result["patched"] = fullgraph_error(launcher, *fake)
    try:
        launcher(x, scale, shift)
        result["eager_patched"] = None
    except Exception as exc:
        result["eager_patched"] = type(exc).__name__
    torch._dynamo.reset()
    compiled = torch.compile(launcher, fullgraph=True)
    moved, kept = compiled(x, scale, shift), compiled(x, zero, zero)
    result["compiled_dtype"] = str(moved.dtype)
    if fallback:
        expected = fallback(x, scale, shift)
        result["compiled_close"] = torch.allclose(moved.float(), expected.float(), rtol=1e-2, atol=1e-2)
    result["compiled_moved"] = not moved.equal(x)
    result["zero_is_copy"] = kept.equal(x) and kept.data_ptr() != x.data_ptr()
    fluxfix.revert()
    result["reverted"] = fullgraph_error(launcher, *fake)
    return result


def _launches_skipped(module, launched: list):
    """The launcher's three Triton kernels replaced by a stand-in that records each launch (a GPU
    would run them), and its CUDA device context by a no-op: the host's own Python runs, no kernel."""
    import contextlib

    import torch

    names = [n for n in vars(module) if n.startswith("_gn_") and n.endswith("_kernel")]
    saved = {n: vars(module)[n] for n in names}
    for n in names:
        vars(module)[n] = _RecordingKernel(n, launched)
    device_module = torch.get_device_module
    torch.get_device_module = lambda device=None: types.SimpleNamespace(device=lambda d: contextlib.nullcontext())

    def restore():
        vars(module).update(saved)
        torch.get_device_module = device_module
    return restore


class _RecordingKernel:
    def __init__(self, name, launched):
        self.name, self.launched = name, launched

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.launched.append(self.name)


def group_norm_silu_op() -> dict:
    """sglang's Triton GroupNorm+SiLU launcher (the VAE decoder's fast path on NVIDIA), through its
    public `group_norm_silu_4d`, compiled as sglang compiles (dynamic=None) on fake CUDA tensors at
    three image sizes, without and with fluxfix; the op's fake output against what the host's own
    launcher returns (its kernel launches skipped); an eager call after patching runs the host's launcher."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from patches.sglang.group_norm_silu_op import LAUNCHER, MODULES, GroupNormSiluOp

    patch = GroupNormSiluOp()
    with gpu_driver_stand_in():
        where, module = _first_importable(MODULES)
    result = {"module": where, "unpatched": patch.defect()}
    sizes = ((64, 64), (48, 80), (40, 40))
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode:
        weight, bias = torch.empty(32, device="cuda"), torch.empty(32, device="cuda")
        inputs = [torch.empty(1, 32, h, w, device="cuda").to(memory_format=torch.channels_last) for h, w in sizes]

    def layout(y):
        return [list(y.shape), list(y.stride()), str(y.dtype)]

    launched = []
    restore = _launches_skipped(module, launched)
    try:
        with mode, torch.no_grad():
            result["host_layouts"] = [layout(module.group_norm_silu_4d(x, weight, bias, 8, 1e-6)) for x in inputs]
    finally:
        restore()
    result["host_launches"] = len(launched)
    activate()
    import fluxfix

    record = {r.name: r for r in fluxfix.status(import_targets=True)}[patch.name]
    result["status"] = [record.verdict.value, record.reason]
    result["patched"] = patch.defect()
    graphs = []

    def count(gm, example_inputs):
        graphs.append(gm)
        return gm

    torch._dynamo.reset()
    compiled = torch.compile(lambda x: module.group_norm_silu_4d(x, weight, bias, 8, 1e-6), backend=count)
    with mode, torch.no_grad():
        result["op_layouts"] = [layout(compiled(x)) for x in inputs]
    result["graphs"] = len(graphs)
    result["graph_targets"] = sorted({str(n.target) for g in graphs for n in g.graph.nodes if n.op == "call_function"
                                      and "fluxfix" in str(n.target)})
    launched.clear()
    restore = _launches_skipped(module, launched)  # eagerly, after patching: the host's launcher itself runs
    try:
        with mode, torch.no_grad():
            module.group_norm_silu_4d(inputs[0], weight, bias, 8, 1e-6)
    finally:
        restore()
    result["eager_launches"] = len(launched)
    fluxfix.revert()
    result["reverted"] = "_fluxfix_op_" not in " ".join(getattr(module, LAUNCHER).__code__.co_names)
    return result


def verified_signatures() -> dict:
    """FLUX.1's fused LayerNorm+modulate site (`_flux_fused_ln_modulate`, sglang's own code) compiled as
    sglang compiles (dynamic=None) on fake CUDA bf16 tensors at three token counts, without and with
    fluxfix; then the patched gate's answers eagerly. The site takes its fast path only on a CUDA
    platform: for the compiles, sglang's platform check answers as a GPU machine's would."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from fluxfix.breaks import compile_report
    from patches.sglang.verified_signatures import GATE

    with gpu_driver_stand_in():
        from sglang.multimodal_gen.runtime.models.dits import flux
    gate_module = sys.modules[GATE]
    check = sys.modules[flux.can_use_fused_layernorm_modulate.__module__]
    site = flux._flux_fused_ln_modulate
    norm = torch.nn.LayerNorm(64, elementwise_affine=False, eps=1e-6)

    def frames() -> int:
        def block(x, scale, shift):
            out = site(norm, x, scale, shift)
            return x * 2 if out is None else out  # None: the eager chain, what the host runs while compiling

        saved = vars(check)["is_cuda"]
        vars(check)["is_cuda"] = lambda: True
        try:
            with FakeTensorMode(allow_non_fake_inputs=True):
                scale, shift = (torch.empty(1, 64, device="cuda", dtype=torch.bfloat16) for _ in range(2))
                first, *more = (torch.empty(1, tokens, 64, device="cuda", dtype=torch.bfloat16) for tokens in (4608, 4544, 4096))
                report = compile_report(block, first, scale, shift, more=[(x, scale, shift) for x in more])
        finally:
            vars(check)["is_cuda"] = saved
        assert report.error is None, report.error
        return report.graphs + report.recompiles

    result = {"unpatched_frames": frames(), "sigs_empty": not flux._FLUX_LN_MOD_SIGS}
    originals = {"site": site.__code__, "is_verified": gate_module.BitExactFusionGate.is_verified.__code__}
    activate()
    import fluxfix

    record = {r.name: r for r in fluxfix.status(import_targets=True)}["sglang-verified-signatures"]
    result["status"] = [record.verdict.value, {m: o.reason for m, o in record.modules.items()}]
    result["patched_frames"] = frames()
    gate = gate_module.BitExactFusionGate("probe", per_signature=True)
    first, other = ((1, 4608, 64), (64, 64, 1)), ((1, 4544, 64), (64, 64, 1))
    answers = [gate.is_verified(first)]
    gate.mark_verified(first)
    result["gate_answers"] = answers + [gate.is_verified(first), gate.is_verified(other)]
    fluxfix.revert()
    result["reverted"] = (site.__code__ is originals["site"]
                          and gate_module.BitExactFusionGate.is_verified.__code__ is originals["is_verified"])
    return result


def _weight_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _graphs():
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


def layerwise_casting(kind: str, backend: str = "aot_eager") -> dict:
    """diffusers' layerwise casting (float8 storage, float32 compute) on a small real transformer:
    unpatched it breaks the graph; with fluxfix the whole model compiles with fullgraph=True (and its
    repeated blocks, where the class declares them), eager output is bit-identical to diffusers' own
    hook, weights stay in float8, and new resolutions recompile only as dynamic shapes need.
    `backend`: aot_eager (traced and functionalized as inductor gets it; seconds on a CPU) or inductor.
    `kind` + "+lora": peft LoRA layers on the attention projections first, then casting (the order
    diffusers supports: LoRA layers added to float8 weights cannot compute, eager or not)."""
    import torch
    from torch._dynamo.utils import counters

    from patches.diffusers.models import small

    kind, _, lora = kind.partition("+")

    def build():
        model, inputs = small(kind)
        if lora:
            from peft import LoraConfig

            model.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
        model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
        return model, inputs

    out = {}
    with torch.no_grad():
        model, inputs = build()
        reference = model(**inputs())[0]
        out["unpatched_bytes"] = _weight_bytes(model)
        step = inputs()
        error = fullgraph_error(lambda: model(**step))
        out["unpatched"] = error and f"{error.splitlines()[0]} at {break_site(error)}"
        activate()
        model, inputs = build()
        out["eager_identical"] = model(**inputs())[0].equal(reference)
        out["patched"] = fullgraph_error(lambda: model(**step))
        torch._dynamo.reset()
        counters.clear()
        compiled = torch.compile(model, fullgraph=True, backend=backend)
        got = compiled(**inputs())[0]
        out["compiled_error"] = (got - reference).abs().max().item() / reference.abs().max().item()
        out["whole_graphs"] = [_graphs()]
        for resolution in (2, 3, 1):  # a second and third resolution, then back: steps change the inputs too
            compiled(**inputs(resolution, step=resolution))
            out["whole_graphs"].append(_graphs())
        out["storage_dtypes"] = sorted({str(p.dtype) for p in model.parameters()})
        out["lora_layers"] = sum(type(m).__module__.startswith("peft") for m in model.modules())
        out["patched_bytes"] = _weight_bytes(model)
        blocks = getattr(model, "_repeated_blocks", None) or []
        out["repeated_blocks"] = list(blocks)
        if blocks:
            model, inputs = build()
            torch._dynamo.reset()
            counters.clear()
            model.compile_repeated_blocks(fullgraph=True, backend=backend)
            got = model(**inputs())[0]
            out["regional_error"] = (got - reference).abs().max().item() / reference.abs().max().item()
            out["regional_graphs"] = [_graphs()]
            for resolution in (2, 3, 1):
                model(**inputs(resolution, step=resolution))
                out["regional_graphs"].append(_graphs())
            out["block_classes"] = len({type(m).__name__ for m in model.modules() if type(m).__name__ in blocks})
        import fluxfix

        out["status"] = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}["diffusers-layerwise-casting"]
        fluxfix.revert()
        model, inputs = build()
        out["reverted"] = fullgraph_error(lambda: model(**step)) is not None
    return out


def faster_cache_logging() -> dict:
    """FasterCache on a small real FLUX.1 transformer: its debug logging breaks fullgraph unpatched;
    patched it compiles, and eagerly the same records are logged and the output is the same."""
    import logging

    import torch
    from diffusers import FasterCacheConfig

    from patches.diffusers.models import small

    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append((record.getMessage(), record.lineno))
    host_logger = logging.getLogger("diffusers.hooks.faster_cache")
    host_logger.addHandler(handler)
    host_logger.setLevel(logging.DEBUG)

    def run():
        model, inputs = small("flux")
        step = {"t": 900}
        model.enable_cache(FasterCacheConfig(spatial_attention_block_skip_range=2, current_timestep_callback=lambda: step["t"],
                                             attention_weight_callback=lambda _: 0.5, is_guidance_distilled=True))
        outs = []
        for n in range(3):  # compute, then approximate from the cache, then compute again
            step["t"] = 900 - 100 * n
            outs.append(model(**inputs(1, n))[0])
        return model, inputs, outs

    out = {}
    with torch.no_grad():
        del records[:]
        _, _, eager = run()
        out["records_unpatched"] = list(records)
        model, inputs, _ = run()
        step = inputs()
        error = fullgraph_error(lambda: model(**step))
        out["unpatched"] = error and f"{error.splitlines()[0]} at {break_site(error)}"
        activate()
        del records[:]
        _, _, patched = run()
        out["records_patched"] = list(records)
        out["eager_identical"] = all(a.equal(b) for a, b in zip(eager, patched))
        model, inputs, _ = run()
        out["patched"] = fullgraph_error(lambda: model(**step))
        import fluxfix

        out["status"] = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}["diffusers-cache-logging"]
    return out


def verdicts_of(host: str) -> dict:
    """Every patch of `host`: its verdict once every target module that imports here is imported."""
    import fluxfix

    activate(FLUXFIX_COMPILE="regional")  # opt-in patches too: the matrix says where they apply
    return {r.name: {"verdict": r.verdict.value, "reason": r.reason, "version": r.host_version}
            for r in fluxfix.status(import_targets=True) if r.host == host}


def regional_compile(kind: str) -> dict:
    """A whole-model `.compile()` of a small diffusers transformer, compiled from its first call and
    run at changing steps and three resolutions: without the opt-in one graph of the whole model;
    with FLUXFIX_COMPILE=regional one graph per block class, the same outputs."""
    import logging

    import torch

    import fluxfix
    from fluxfix.regional import compiled_regions
    from patches.diffusers.models import small

    seen = []
    logging.getLogger("fluxfix").addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: seen.append(r.getMessage())})())
    logging.getLogger("fluxfix").setLevel(logging.INFO)
    out = {}
    calls = [(1, 0), (1, 1), (2, 2), (3, 3), (1, 4)]
    with torch.no_grad():
        model, inputs = small(kind)
        reference = [model(**inputs(r, s))[0] for r, s in calls]
        for choice in ("whole", "regional"):
            activate(FLUXFIX_COMPILE=choice)
            torch._dynamo.reset()
            torch._dynamo.utils.counters.clear()
            model, inputs = small(kind)
            model.compile(backend="aot_eager")
            got = [model(**inputs(r, s))[0] for r, s in calls]
            own, inside = compiled_regions(model)
            out[choice] = {"graphs": _graphs(), "model_compiled": own, "blocks_compiled": own + inside,  # compiled modules in all
                           "error": max(((g - e).abs().max() / e.abs().max()).item() for g, e in zip(got, reference)),
                           "verdict": [r.verdict.value + ": " + r.reason for r in fluxfix.status() if r.name == "diffusers-regional-compile"][0]}
            fluxfix.revert()
    out["block_classes"] = len(set(getattr(model, "_repeated_blocks", ())))
    out["log"] = [m for m in seen if "repeated blocks" in m]
    return out


def wan_contiguous_tokens() -> dict:
    """diffusers' small real Wan transformer, compiled from its first call at three resolutions and back,
    with every patch active, without and with diffusers-wan-contiguous-tokens: its blocks compiled alone
    (FLUXFIX_COMPILE=regional) and the whole model compiled (graphs, breaks, error against eager); eagerly,
    the same output bit for bit."""
    import torch

    import fluxfix
    from patches.diffusers.models import small

    name = "diffusers-wan-contiguous-tokens"
    calls = [(1, 0), (2, 1), (3, 2), (1, 3)]
    model, inputs = small("wan")
    forward = type(model).forward
    own_code = inspect.unwrap(forward).__code__
    with torch.no_grad():
        eager = [model(**inputs(r, s))[0] for r, s in calls]
        out = {"defect": ENGINE.load_patches()[name].defect()}
        for side, off in (("unpatched", name), ("patched", "")):
            for choice in ("regional", "whole"):
                activate(FLUXFIX_COMPILE=choice, FLUXFIX_DISABLE=off)
                torch._dynamo.reset()
                torch._dynamo.utils.counters.clear()
                model, inputs = small("wan")
                model.compile(backend="aot_eager")
                got = [model(**inputs(r, s))[0] for r, s in calls]
                out[f"{side} {choice}"] = {"graphs": _graphs(), "breaks": sum(torch._dynamo.utils.counters["graph_break"].values()),
                                           "error": max((g - e).abs().max().item() for g, e in zip(got, eager))}
                fluxfix.revert()
        activate(FLUXFIX_DISABLE="diffusers-regional-compile")
        model, inputs = small("wan")
        out["eager_identical"] = all(torch.equal(model(**inputs(r, s))[0], e) for (r, s), e in zip(calls, eager))
        out["status"] = [r.verdict.value for r in fluxfix.status() if r.name == name][0]
        out["defect_patched"] = ENGINE.load_patches()[name].defect()
        fluxfix.revert()
    out["reverted"] = inspect.unwrap(type(model).forward).__code__ is own_code
    return out


def sglang_wan_contiguous_tokens() -> dict:
    """sglang's Wan (narrow, two blocks) as its loader builds it, on a simulated ROCm machine (a CPU
    cannot run its blocks: their norms call a CUDA-only Triton kernel), run up to the first block:
    what the block gets compiled alone (the patch's defect check) and eagerly, without and with
    sglang-wan-contiguous-tokens."""
    import fluxfix
    from fluxfix.contiguous_tokens import first_block_input
    from patches.sglang import simulated_rocm

    simulated_rocm.enter()
    with gpu_driver_stand_in():
        import sglang.multimodal_gen.runtime.platforms  # noqa: F401  (parents first)
        from sglang.multimodal_gen.runtime.models.dits import wanvideo
    name = "sglang-wan-contiguous-tokens"
    patch = ENGINE.load_patches()[name]
    own_code = wanvideo.WanTransformer3DModel.forward.__code__

    def eager_layout():
        """The strides the first block gets eagerly (no block compiled)."""
        built = patch.small_model()
        return list(first_block_input(built.model, built.step, compiled=False).stride())

    out = {"unpatched": patch.defect(), "unpatched_eager": eager_layout()}
    activate(FLUXFIX=name)
    out["status"] = [[r.verdict.value, r.reason] for r in fluxfix.status() if r.name == name][0]
    out["patched"] = patch.defect()
    out["patched_eager"] = eager_layout()
    fluxfix.revert()
    out["reverted"] = wanvideo.WanTransformer3DModel.forward.__code__ is own_code
    return out


def frames_through_dynamo(run) -> list[str]:
    """The names of the frames that enter dynamo's Python frame callback while `run()` runs (a frame
    compiled already, or skipped for good, is decided in the interpreter hook and never gets there)."""
    from torch._dynamo import trace_rules

    names, check = [], trace_rules.check

    def counting_check(obj, *args, **kwargs):
        names.append(getattr(obj, "co_name", getattr(obj, "__name__", "?")))
        return check(obj, *args, **kwargs)

    trace_rules.check = counting_check
    try:
        run()
    finally:
        trace_rules.check = check
    return names


def group_offloading(offload_type: str, compile_how: str) -> dict:
    """diffusers' group offloading (CPU to CPU: its hooks and transfers run as on a GPU machine;
    `use_stream` needs a GPU) on a small FLUX.1 (2+4 blocks), compiled `whole` or `regional`
    (compile_repeated_blocks) from the first call, steps and resolutions changing: recompile-limit
    hits, graphs and outputs, unpatched and with fluxfix."""
    import torch
    from torch._dynamo.utils import counters

    import fluxfix
    from patches.diffusers.group_offloading import recompile_limit_hits
    from patches.diffusers.models import small

    calls = [(1, 0), (1, 1), (2, 2), (3, 3)]

    def build():
        model, inputs = small("flux", layers=(2, 4))
        model.enable_group_offload(onload_device=torch.device("cpu"), offload_device=torch.device("cpu"),
                                   offload_type=offload_type, num_blocks_per_group=1 if offload_type == "block_level" else None)
        return model, inputs

    def compiled_run():
        model, inputs = build()
        torch._dynamo.reset()
        counters.clear()
        if compile_how == "whole":  # dynamo's frames and guards are the subject: no backend compile needed
            run = torch.compile(model, backend="eager")
        else:
            model.compile_repeated_blocks(backend="eager")
            run = model
        got = []
        hits = recompile_limit_hits(lambda: got.extend(run(**inputs(r, s))[0] for r, s in calls))
        return {"limit_hits": hits, "graphs": _graphs(), "breaks": sum(counters["graph_break"].values()), "outputs": got,
                "steady_frames": frames_through_dynamo(lambda: run(**inputs(*calls[-1])))}

    out = {}
    with torch.no_grad():
        model, inputs = build()
        eager = [model(**inputs(r, s))[0] for r, s in calls]
        unpatched = compiled_run()
        activate()
        model, inputs = build()
        out["eager_identical"] = all(model(**inputs(r, s))[0].equal(e) for (r, s), e in zip(calls, eager))
        patched = compiled_run()
        for name, got in (("unpatched", unpatched), ("patched", patched)):
            got["error"] = max(((g - e).abs().max() / e.abs().max()).item() for g, e in zip(got.pop("outputs"), eager))
            out[name] = got
        out["status"] = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}["diffusers-group-offloading"]
    return out


def first_block_cache() -> dict:
    """diffusers' FirstBlockCache on a small FLUX.1 (2+2 blocks), blocks compiled regionally from the
    first call as a pipeline drives it (a cache context per denoiser call, the state reset for a new
    image), three resolutions, the recompile limit lowered to 2 (a real model's block kinds and
    resolutions against the limit of 8): limit hits, recompiles of the registry wrapper, outputs,
    unpatched and with fluxfix."""
    import torch

    import fluxfix
    from patches.diffusers.group_offloading import dynamo_messages, limit_hits
    from patches.diffusers.models import small

    calls = [(1, 0), (1, 1), (2, 2), (2, 3), (3, 4)]  # (resolution, step): a new image at each new resolution

    def build():
        from diffusers import FirstBlockCacheConfig

        model, inputs = small("flux", layers=(2, 2))
        model.enable_cache(FirstBlockCacheConfig(threshold=0.05))
        return model, inputs

    def steps(model, inputs):
        outputs, last = [], None
        for resolution, step in calls:
            if resolution != last:
                model._reset_stateful_cache()
            last = resolution
            with model.cache_context("cond"):
                outputs.append(model(**inputs(resolution, step))[0])
        return outputs

    def compiled_run():
        model, inputs = build()
        torch._dynamo.reset()
        model.compile_repeated_blocks(backend="eager")
        got = []
        with torch._dynamo.config.patch(recompile_limit=2):
            torch._logging.set_logs(recompiles=True)  # "Recompiling function new_forward in .../hooks.py" too
            try:
                messages = dynamo_messages(lambda: got.extend(steps(model, inputs)))
            finally:
                torch._logging.set_logs()
        hits = limit_hits(messages)
        wrapper = sum("Recompiling function new_forward" in m and "hooks/hooks.py" in m for m in messages)
        return {"wrapper_limit_hits": [h for h in hits if "hooks/hooks.py" in h], "other_limit_hits": [h for h in hits if "hooks/hooks.py" not in h],
                "wrapper_recompiles": wrapper, "outputs": got}

    out = {}
    with torch.no_grad():
        model, inputs = build()
        eager = steps(model, inputs)
        unpatched = compiled_run()
        activate()
        model, inputs = build()
        out["eager_identical"] = all(g.equal(e) for g, e in zip(steps(model, inputs), eager))
        patched = compiled_run()
        for name, got in (("unpatched", unpatched), ("patched", patched)):
            got["error"] = max(((g - e).abs().max() / e.abs().max()).item() for g, e in zip(got.pop("outputs"), eager))
            out[name] = got
        out["status"] = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}["diffusers-first-block-cache"]
    return out


def caching_hook(cache: str, *also: str) -> dict:
    """A caching hook (taylorseer | mag-cache | sea-cache) on a small FLUX.1 (SeaCache: Wan 2.1), blocks compiled
    regionally from the first call (and, for each of `also`, "whole", compiled that way too), six steps at each of
    three resolutions (`models.caching_hook_run`): limit hits, graphs, breaks and error against eager, unpatched
    and with fluxfix; eager outputs with fluxfix against without."""
    import fluxfix
    from patches.diffusers.models import caching_hook_run

    hows = {"": "regional", **{f"_{how}": how for how in also}}
    eager = caching_hook_run(cache, compiled=False)["outputs"]
    out = {f"unpatched{key}": caching_hook_run(cache, compiled=how) for key, how in hows.items()}
    activate()
    out["eager_identical"] = all(g.equal(e) for g, e in zip(caching_hook_run(cache, compiled=False)["outputs"], eager))
    out.update({f"patched{key}": caching_hook_run(cache, compiled=how) for key, how in hows.items()})
    for key in hows:
        for got in (out[f"unpatched{key}"], out[f"patched{key}"]):
            got["error"] = max(((g - e).abs().max() / e.abs().max()).item() for g, e in zip(got.pop("outputs"), eager))
    out["status"] = {r.name: [r.verdict.value, r.reason] for r in fluxfix.status()}[f"diffusers-{cache.replace('taylorseer', 'taylorseer-cache')}"]
    return out


def flux_forward_warnings() -> dict:
    """FLUX.1's forward called with 3-d ids and an unexpected attention kwarg (both warn): unpatched
    fullgraph breaks at the warning; patched it compiles, and eagerly the same records come from the
    same lines with the same output."""
    import logging

    import torch

    from patches.diffusers.models import small

    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append((record.getMessage(), record.pathname.rsplit("/", 1)[-1], record.lineno))
    logging.getLogger("diffusers").addHandler(handler)

    def call():
        model, inputs = small("flux")
        named = inputs()
        named.update(txt_ids=named["txt_ids"][None], img_ids=named["img_ids"][None], joint_attention_kwargs={"not_a_kwarg": 1})
        return model, named

    out = {}
    with torch.no_grad():
        model, named = call()
        reference = model(**named)[0]
        out["records_unpatched"], records[:] = list(records), []
        error = fullgraph_error(lambda: model(**named))
        out["unpatched"] = error and f"{error.splitlines()[0]} at {break_site(error)}"
        activate()
        model, named = call()
        records[:] = []
        out["eager_identical"] = model(**named)[0].equal(reference)
        out["records_patched"] = list(records)
        out["patched"] = fullgraph_error(lambda: model(**named))
    return out


def qwen_deprecated_argument() -> dict:
    """Qwen-Image's forward called with its deprecated `txt_seq_lens` (diffusers 0.37.0, sglang's pin):
    deprecate() warns inside the forward. Unpatched fullgraph breaks there; patched it compiles, and
    eagerly the same FutureWarning is shown with the same output."""
    import warnings

    import torch

    from patches.diffusers.models import small

    def call():
        model, inputs = small("qwen-image")
        return model, {**inputs(), "txt_seq_lens": [8]}

    out = {}
    with torch.no_grad():
        model, named = call()
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            reference = model(**named)[0]
        out["warnings_unpatched"] = [str(w.message) for w in shown if issubclass(w.category, FutureWarning)]
        error = fullgraph_error(lambda: model(**named))
        out["unpatched"] = error and f"{error.splitlines()[0]} at {break_site(error)}"
        activate()
        model, named = call()
        with warnings.catch_warnings(record=True) as shown:
            warnings.simplefilter("always")
            out["eager_identical"] = model(**named)[0].equal(reference)
        out["warnings_patched"] = [str(w.message) for w in shown if issubclass(w.category, FutureWarning)]
        out["patched"] = fullgraph_error(lambda: model(**named))
    return out


PROMPTS = ("a photo of a cat", "a watercolor painting of a lighthouse at sunset", "neon city at night, rain")


def pipeline(model: str, root: str, backend: str = "aot_eager", cases: str = "float32,layerwise-fp8") -> dict:
    """diffusers' real pipeline end to end (FLUX.1-dev: FluxPipeline; Wan2.1-T2V-1.3B: WanPipeline) on a
    model folder (tests/model_folder.py, made by this release's own classes where root has none), loaded by
    the host's own `DiffusionPipeline.from_pretrained`, `pipe.transformer.compile()` before the first call as
    users do, three prompts at 64x64 in 2 steps (Wan: 5 frames); once per case: as loaded (float32), with fp8
    layerwise casting (layerwise-fp8), with SeaCache (sea-cache, 0.42+: 8 steps, a threshold at which the middle
    steps reuse the cache). This probe never activates fluxfix: only FLUXFIX at interpreter start does.
    `backend`: aot_eager counts the same graphs and breaks as inductor (dynamo decides them first)
    in seconds (inductor's C++ build of the one float32 graph: 48 s on 2 CPU cores)."""
    import hashlib
    import pathlib

    import diffusers
    import numpy
    import torch
    from torch._dynamo.utils import counters

    import model_folder

    folder = pathlib.Path(root) / model
    if not folder.exists():
        model_folder.make(model, pathlib.Path(root))
    out = {"autoloaded": FLUXFIX_AT_START}
    for case in cases.split(","):
        torch._dynamo.reset()
        counters.clear()
        pipe = diffusers.DiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32)
        pipe.set_progress_bar_config(disable=True)
        if case == "layerwise-fp8":
            pipe.transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
        elif case == "sea-cache":
            pipe.transformer.enable_cache(diffusers.SeaCacheConfig(threshold=1e6))
        pipe.transformer.compile(backend=backend)
        common = dict(height=64, width=64, num_inference_steps=8 if case == "sea-cache" else 2)
        outputs = [model_folder.generate(pipe, model, p, generator=torch.Generator().manual_seed(0), **common) for p in PROMPTS]
        out[case] = {"pipeline": type(pipe).__name__, "shapes": [list(o.shape) for o in outputs], "graphs": _graphs(),
                     "breaks": sum(counters["graph_break"].values()), "frames": dict(counters["frames"]),
                     "pixels": [hashlib.sha256(numpy.ascontiguousarray(o).tobytes()).hexdigest() for o in outputs]}
    import fluxfix

    out["status"] = {r.name: r.verdict.value for r in fluxfix.status() if r.host == "diffusers"}
    return out


def sglang_generate(root: str) -> dict:
    """`sglang generate --enable-torch-compile` (what a user types) on a FLUX.1-dev folder
    (tests/model_folder.py), run as its own process tree with the caller's environment: fluxfix
    reaches sglang's worker only through that environment (FLUXFIX at interpreter start, sglang's
    plugin entry point). What dynamo did in the worker is read from its logs."""
    import pathlib
    import subprocess
    import time

    import model_folder
    import sglang_server

    folder = model_folder.make("FLUX.1-dev", pathlib.Path(root))
    out_dir = pathlib.Path(root) / "images"
    args = [*sglang_server.cli(), "generate", "--model-path", str(folder), "--prompt", "a photo of a cat",
            "--height", "64", "--width", "64", "--num-inference-steps", "2", "--enable-torch-compile",
            "--warmup-mode", "off", "--output-path", str(out_dir), *sglang_server.cpu_args()]
    start = time.perf_counter()
    proc = subprocess.run(args, env={**os.environ, "TORCH_LOGS": sglang_server.DYNAMO_LOGS}, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    return {"returncode": proc.returncode, "log_tail": log[-3000:] if proc.returncode else "",
            "images": sorted(p.suffix for p in out_dir.glob("*")) if out_dir.exists() else [],
            "wall_s": round(time.perf_counter() - start, 1),  # reported, never asserted
            **sglang_server.dynamo_in_log(log)}


def sglang_serve(root: str, *serve_args: str) -> dict:
    """`sglang serve --enable-torch-compile [serve_args]` on a FLUX.1-dev folder (tests/model_folder.py), its own
    process tree with the caller's environment (fluxfix reaches the server's workers only through it), then a
    stream of requests to its OpenAI images endpoint at two resolutions, each with its own seed; the server is
    stopped and what dynamo did in its worker is read from its log."""
    import pathlib

    import model_folder
    import sglang_server

    folder = model_folder.make("FLUX.1-dev", pathlib.Path(root))
    args = ["--enable-torch-compile", "--warmup-mode", "off", *serve_args, *sglang_server.cpu_args()]
    env = {**os.environ, "TORCH_LOGS": sglang_server.DYNAMO_LOGS}
    responses = []
    with sglang_server.Server(folder, args, env, pathlib.Path(root) / "serve.log") as server:
        healthy = server.wait_healthy(300)
        for seed, (height, width) in enumerate([(64, 64), (48, 80), (64, 64)] if healthy else []):
            reply = server.image({"prompt": "a photo of a cat", "height": height, "width": width, "num_inference_steps": 2,
                                  "seed": seed, "generator_device": "cpu"}, timeout=300)
            responses.append({"height": height, "width": width, "png": sglang_server.is_png(reply["png"])})
    log = server.log()
    return {"healthy": healthy, "responses": responses, "log_tail": "" if len(responses) == 3 else log[-3000:],
            **sglang_server.dynamo_in_log(log)}


def wan_vae_decode_eager() -> dict:
    """sglang's Wan VAE (narrow, random weights) decoding three latent frames with its feature cache, before
    and after fluxfix activates in the same process: the eager video must not change (on 0.5.9-0.5.11 the
    cached convs live in another module, handed the cache state at import), and the compiled one must match."""
    import torch

    from patches.sglang.models import narrow_wan_vae

    _, vae = narrow_wan_vae()
    latents = torch.randn(1, 16, 3, 4, 4)
    with torch.no_grad():
        before = vae.decode(latents)
        activate()
        after = vae.decode(latents)
        compiled = torch.compile(vae.decode, backend="aot_eager")(latents)
    return {"eager_identical": torch.equal(before, after), "compiled_error": (compiled - before).abs().max().item(),
            "verdict": {r.name: r.verdict.value for r in ENGINE.records()}["sglang-wan-vae-cache"]}


def _sglang_decoding_stage(model: str, root: str, backend: str, nodes: list | None = None):
    """sglang's own decoding stage on the VAE of a model folder (tests/model_folder.py; sglang picks the
    model's pipeline config), as `--enable-torch-compile` runs it after denoising: ServerArgs for the
    folder, the VAE loaded by sglang's VAELoader. `backend`: the host compiles with inductor; anything
    else is put into the host's own `Module.compile` calls (dynamo decides the graphs and breaks before
    any backend); `nodes`, where given, gets the node count of each graph dynamo hands it (the size of
    what is compiled). Returns (stage, server_args)."""
    import pathlib

    import torch

    import model_folder

    folder = model_folder.make(model, pathlib.Path(root))
    if backend != "inductor":
        host_compile = torch.nn.Module.compile
        chosen = torch._dynamo.lookup_backend(backend)

        def counted(gm, inputs):
            if nodes is not None:
                nodes.append(len(gm.graph.nodes))
            return chosen(gm, inputs)

        def compile_with_backend(self, *args, **kwargs):
            kwargs = {k: v for k, v in kwargs.items() if k not in ("mode", "options")}
            return host_compile(self, *args, **{**kwargs, "backend": counted})

        torch.nn.Module.compile = compile_with_backend
    from sglang.multimodal_gen.runtime.loader.component_loaders.vae_loader import VAELoader
    from sglang.multimodal_gen.runtime.pipelines_core.stages.decoding import DecodingStage
    from sglang.multimodal_gen.runtime.server_args import ServerArgs, set_global_server_args

    server_args = ServerArgs.from_kwargs(model_path=str(folder), enable_torch_compile=True)
    set_global_server_args(server_args)
    vae, _ = VAELoader().load(str(folder / "vae"), server_args, "vae", "diffusers")
    return DecodingStage(vae), server_args


def sglang_wan_vae_decode(root: str, backend: str = "aot_eager", count: str = "4") -> dict:
    """sglang's own decoding stage (_sglang_decoding_stage) on its own Wan VAE, `DecodingStage.decode`
    compiled from its first call (the host compiles the VAE decode itself, 0.5.17+), new latents every
    call: two videos at one size, one at that size with more frames, one at a new size. Wan's DiT cannot
    run on a CPU here (sgl-kernel's CPU build), so the decode stage is driven on its own. `backend`: eager
    or aot_eager in seconds, where inductor's C++ build of the unpatched decode's hundreds of graphs takes
    minutes on 2 CPU cores. `count`: how many
    of the four to decode (the unpatched decode's hundreds of graphs take a minute a video to trace)."""
    import torch
    from torch._dynamo.utils import counters

    from patches.diffusers.group_offloading import dynamo_messages, limit_hits

    stage, server_args = _sglang_decoding_stage("Wan2.1-T2V-1.3B", root, backend)
    generator = torch.Generator().manual_seed(0)
    shapes = [(1, 16, 3, 8, 8), (1, 16, 3, 8, 8), (1, 16, 5, 8, 8), (1, 16, 2, 6, 10)][:int(count)]
    latents = [torch.randn(shape, generator=generator) for shape in shapes]
    counters.clear()
    videos, new_graphs = [], []

    def decode_all():
        for z in latents:
            before = _graphs()
            videos.append(stage.decode(z, server_args, vae_dtype=torch.float32))
            new_graphs.append(_graphs() - before)

    messages = dynamo_messages(decode_all)
    server_args.enable_torch_compile = False  # the same stage eagerly, for the same latents
    eager = [stage.decode(z, server_args, vae_dtype=torch.float32) for z in latents]
    errors = [(v - e).abs().max().item() for v, e in zip(videos, eager)]
    breaks = counters["graph_break"]
    import fluxfix

    status = {r.name: r.verdict.value for r in fluxfix.status() if r.name == "sglang-wan-vae-cache"}
    fluxfix.revert()  # the host's own code back: its eager videos, against the ones decoded with the patch in place
    unchanged = all(torch.equal(e, stage.decode(z, server_args, vae_dtype=torch.float32)) for z, e in zip(latents, eager))
    return {"graphs": _graphs(), "new_graphs": new_graphs, "breaks": sum(breaks.values()), "eager_unchanged": unchanged, "status": status,
            "context_var_breaks": sum(n for reason, n in breaks.items() if "ContextVar" in reason),
            "limit_hits": limit_hits(messages), "shapes": [list(v.shape) for v in videos], "max_error": max(errors)}


def sglang_flux_vae_decode(root: str, backend: str = "aot_eager") -> dict:
    """sglang's own decoding stage (_sglang_decoding_stage) on FLUX.1's VAE, compiled from its first call,
    new latents every call: two images at one size, then one at a new size. Per decode, the graphs
    dynamo compiled meanwhile and their nodes in all; the classes of the modules compiled; the images
    against the same stage's eager ones."""
    import torch
    from torch._dynamo.utils import counters

    import fluxfix
    from patches.diffusers.group_offloading import dynamo_messages, limit_hits

    nodes: list[int] = []
    stage, server_args = _sglang_decoding_stage("FLUX.1-dev", root, backend, nodes)
    generator = torch.Generator().manual_seed(0)
    latents = [torch.randn(shape, generator=generator) for shape in [(1, 16, 8, 8), (1, 16, 8, 8), (1, 16, 6, 10)]]
    counters.clear()
    images, new_graphs, new_nodes = [], [], []

    def decode_all():
        for z in latents:
            before = len(nodes)
            images.append(stage.decode(z, server_args, vae_dtype=torch.float32))
            new_graphs.append(len(nodes) - before)
            new_nodes.append(sum(nodes[before:]))

    messages = dynamo_messages(decode_all)
    server_args.enable_torch_compile = False  # the same stage eagerly, for the same latents
    eager = [stage.decode(z, server_args, vae_dtype=torch.float32) for z in latents]
    status = {r.name: r.verdict.value for r in fluxfix.status() if r.name == "sglang-regional-vae-decode"}
    modules = [stage._compiled_vae_decode.compiled_module, *stage.vae.modules()]  # the host's decode wrapper, the VAE
    compiled = sorted({type(m).__name__ for m in modules if getattr(m, "_compiled_call_impl", None) is not None})
    return {"new_graphs": new_graphs, "new_nodes": new_nodes, "breaks": sum(counters["graph_break"].values()), "status": status,
            "compiled": compiled, "limit_hits": limit_hits(messages), "shapes": [list(i.shape) for i in images],
            "max_error": max((i - e).abs().max().item() for i, e in zip(images, eager))}


def main() -> None:
    name, *args = sys.argv[1:]
    warnings.simplefilter("ignore")  # hosts warn a lot at import on CPU; results go to stdout
    result = globals()[name](*args)
    print("PROBE " + json.dumps(result))


if __name__ == "__main__":
    main()
