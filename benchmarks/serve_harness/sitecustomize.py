"""Harness for sglang's server on the GPU machine (benchmarks/run_sglang_serve_gpu.sh puts this folder on
PYTHONPATH, so every process the server spawns runs it at interpreter start); the same in every variant.

- fluxfix, where the variant runs it (FLUXFIX=1): its install folder is added as a site folder, so its
  interpreter-start auto-load (.pth) runs as in a user's pip install; otherwise fluxfix is not on the path.
- Before sglang is first imported: bench_sglang.py's harness shims (patches/sglang/standins/harness_shims.py:
  scipy.stats imported first, transformers' AutoConfig registration idempotent).
- BENCH_NATIVE_NORMS=1 (bench_sglang_serve.py sets it for Wan where nvidia-cutlass-dsl is missing, and records it
  in `stood_in`): once sglang's layernorm module is imported, its CuTe DSL norms take their own forward_native
  (patches/sglang/standins/no_cutlass.py, as bench_sglang.py does in its one process).
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

if os.environ.get("BENCH_NATIVE_NORMS") == "1":
    import wrapt

    def _native_norms(module):
        import no_cutlass  # patches/sglang/standins

        print("harness: stood in:", "; ".join(no_cutlass.route_to_native()), file=sys.stderr)

    wrapt.register_post_import_hook(_native_norms, "sglang.multimodal_gen.runtime.layers.layernorm")
