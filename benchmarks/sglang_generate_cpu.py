#!/usr/bin/env python3
"""`sglang generate --enable-torch-compile` on CPU, three ways side by side: fluxfix off (FLUXFIX=0),
on (FLUXFIX=1: the whole transformer in one graph), and on with FLUXFIX_COMPILE=regional (each block
class compiled once). One process tree per variant, run by the test suite's probe on a small FLUX.1-dev
folder (tests/model_folder.py) with sglang 0.5.23 from the test host dirs (tests/hostenv.py --all):
wall seconds of the whole command (load, compile, 2 steps at 64x64, decode, save), transformer frames,
breaks, recompiled functions. A CPU's numbers: what compile costs there, not a GPU's per-step speed.

    python benchmarks/sglang_generate_cpu.py [--root DIR]
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from conftest import run_probe  # noqa: E402

VARIANTS = {"fluxfix off": {"FLUXFIX": "0"}, "fluxfix (whole)": {"FLUXFIX": "1"},
            "fluxfix, FLUXFIX_COMPILE=regional": {"FLUXFIX": "1", "FLUXFIX_COMPILE": "regional"}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=None, help="where the model folder and images go (default: a temporary dir)")
    args = parser.parse_args(argv)
    root = pathlib.Path(args.root or tempfile.mkdtemp(prefix="fluxfix-generate-"))
    print("| variant | wall s | transformer frames | breaks | recompiled functions | image |")
    print("|---|---|---|---|---|---|")
    for i, (name, env) in enumerate(VARIANTS.items()):
        r = run_probe("0.5.23", "sglang_generate", str(root / f"variant{i}"), env=env)
        print(f"| {name} | {r['wall_s']} | {len(r['transformer_frames'])} | {r['breaks']} | {len(r['recompiled'])} | "
              f"{'yes' if r['images'] else 'no (exit %s)' % r['returncode']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
