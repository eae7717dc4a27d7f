"""fluxfix doing its job on a real sglang release: every graph break, without and with fluxfix.

    python examples/before_after.py [--sglang 0.5.10] [doctor options, e.g. --model components]

Installs that sglang release (side by side, under .hosts/) if needed, then runs, in a fresh process
with only that release in front: `fluxfix doctor` (sglang's FLUX.1 transformer where it builds on
this machine, else sglang's real components: linear layer, platform check, RoPE helper, fused norm,
JIT kernels), then `fluxfix status`. Exit status: doctor's (1 when breaks remain that no patch
removes).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sglang", default="0.5.10", help="sglang release to show it on (default 0.5.10)")
    args, doctor_args = parser.parse_known_args()
    sys.path.insert(0, str(REPO / "tests"))
    from hostenv import host_env

    env = {k: v for k, v in host_env("sglang", args.sglang).items() if not k.startswith(("FLUXFIX", "SGLANG_PLUGINS"))}
    env["PYTHONWARNINGS"] = "ignore"  # sglang warns about missing GPU kernels on a CPU machine
    here = {"env": env, "cwd": os.path.dirname(os.path.abspath(__file__))}
    code = subprocess.call([sys.executable, "-m", "fluxfix.cli", "doctor", *doctor_args], **here)
    print()
    subprocess.call([sys.executable, "-m", "fluxfix.cli", "status"], **here)
    return code


if __name__ == "__main__":
    sys.exit(main())
