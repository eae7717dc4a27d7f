"""Harness shims for sglang on the GPU machine, the same in every variant (see README.md): used by
bench_sglang.py in its one process and by benchmarks/serve_harness/sitecustomize.py in every process of
sglang's server, and named in BENCHMARKS.md."""


def before_sglang() -> None:
    """Run before sglang is first imported.

    - transformers' AutoConfig registration made idempotent: the machine's transformers (5.17) already
      registers model types that sglang 0.5.11 registers again at import (`qwen3_asr`: "already used").
    - `import scipy.stats` first: sglang's CUDA platform probe tries `from sphinx.ext.autodoc.mock import ...`;
      the machine's partial `sphinx` then stays in sys.modules and scipy.stats (imported later via
      transformers -> sklearn, or a scheduler) fails on it."""
    try:
        from transformers import AutoConfig
    except ImportError:
        pass
    else:
        original = AutoConfig.register

        def register(model_type, config, exist_ok=False):
            return original(model_type, config, exist_ok=True)

        AutoConfig.register = staticmethod(register)
    import scipy.stats  # noqa: F401
