"""fluxfix doing its job on a real sglang release: the same compiled code, before and after.

    python examples/before_after.py [--sglang 0.5.10]

Installs that sglang release (side by side, under .hosts/) if needed, then, in a fresh process:
compiles a small stack of sglang's own linear layers (UnquantizedLinearMethod, as every FLUX and
Wan layer uses it) without fluxfix, activates fluxfix, compiles again, and prints the graphs,
graph breaks and their reasons each time, then `fluxfix status`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def stack_of_linear_layers():
    import torch
    from sglang.multimodal_gen.runtime.layers.linear import UnquantizedLinearMethod

    torch.manual_seed(0)
    method, layers = UnquantizedLinearMethod(), []
    for _ in range(3):
        layer = torch.nn.Module()
        method.create_weights(layer, 64, [64], 64, 64, torch.float32)
        torch.nn.init.normal_(layer.weight, std=0.1)
        layers.append((layer, torch.randn(64)))

    def forward(x):
        for layer, bias in layers:
            x = torch.nn.functional.gelu(method.apply(layer, x, bias))
        return x

    return forward, torch.randn(8, 64)


def report(title: str, forward, x) -> None:
    from fluxfix.breaks import compile_report

    result = compile_report(forward, x)
    print(f"{title}: {result.summary()}")
    for reason, count in result.breaks.most_common(3):
        print(f"    {count} x {reason[:100]}")


def show() -> None:
    import warnings

    warnings.simplefilter("ignore")  # sglang warns about missing GPU kernels on a CPU machine
    from importlib.metadata import version

    import fluxfix  # the one line a user adds; reverted here to show the host as shipped first

    fluxfix.revert()
    forward, x = stack_of_linear_layers()
    print(f"sglang {version('sglang')}, torch {version('torch')}: 3 of sglang's linear layers, compiled\n")
    report("without fluxfix", forward, x)
    expected = forward(x)
    fluxfix.activate()

    report("with fluxfix   ", forward, x)
    assert forward(x).equal(expected), "eager output changed"
    print("    eager output: identical\n")
    from fluxfix.cli import main

    main(["status"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sglang", default="0.5.10", help="sglang release to show it on (default 0.5.10)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        return show()
    sys.path.insert(0, str(REPO / "tests"))
    from hostenv import host_env

    env = {k: v for k, v in host_env("sglang", args.sglang).items() if not k.startswith("FLUXFIX")}
    sys.exit(subprocess.call([sys.executable, __file__, "--inside"], env=env))


if __name__ == "__main__":
    main()
