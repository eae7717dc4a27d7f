"""Harness for sglang's server on the GPU machine (benchmarks/run_sglang_serve_gpu.sh puts this folder on
PYTHONPATH, so every process the server spawns runs it at interpreter start); the same in every variant.

- fluxfix, where the variant runs it (FLUXFIX=1): its install folder is added as a site folder, so its
  interpreter-start auto-load (.pth) runs as in a user's pip install; otherwise fluxfix is not on the path.
- Before sglang is first imported: bench_sglang.py's harness shims (patches/sglang/standins/harness_shims.py:
  scipy.stats imported first, transformers' AutoConfig registration idempotent).
"""
import importlib.abc
import os
import site
import sys

if os.environ.get("FLUXFIX") == "1" and os.environ.get("BENCH_FLUXFIX_DIR"):
    site.addsitedir(os.environ["BENCH_FLUXFIX_DIR"])


class _OnFirstSglangImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sglang":
            sys.meta_path.remove(self)
            import harness_shims  # patches/sglang/standins, on PYTHONPATH beside the stand-ins

            harness_shims.before_sglang()
        return None  # the import itself goes on as usual


sys.meta_path.insert(0, _OnFirstSglangImport())
