"""Harness for sglang's server on the GPU machine (benchmarks/run_sglang_serve_gpu.sh puts this folder on
PYTHONPATH, so every process the server spawns runs it at interpreter start); the same in every variant.

- fluxfix, where the variant runs it (FLUXFIX=1): its install folder is added as a site folder, so its
  interpreter-start auto-load (.pth) runs as in a user's pip install; otherwise fluxfix is not on the path.
- Before sglang is first imported: `import scipy.stats` (sglang's CUDA platform probe leaves the machine's
  partial `sphinx` in sys.modules, after which scipy.stats fails to import), and transformers' AutoConfig
  registration made idempotent (the machine's transformers already registers `qwen3_asr`, which sglang 0.5.11
  registers again at import). bench_sglang.py does the same in its one process.
"""
import importlib.abc
import os
import site
import sys

if os.environ.get("FLUXFIX") == "1" and os.environ.get("BENCH_FLUXFIX_DIR"):
    site.addsitedir(os.environ["BENCH_FLUXFIX_DIR"])


def _before_sglang() -> None:
    import scipy.stats  # noqa: F401
    from transformers import AutoConfig

    original = AutoConfig.register

    def register(model_type, config, exist_ok=False):
        return original(model_type, config, exist_ok=True)

    AutoConfig.register = staticmethod(register)


class _OnFirstSglangImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sglang":
            sys.meta_path.remove(self)
            _before_sglang()
        return None  # the import itself goes on as usual


sys.meta_path.insert(0, _OnFirstSglangImport())
