"""The `fluxfix` command: what applies here and why."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def _status(args) -> int:
    import fluxfix

    if args.simulate:
        from fluxfix.engine import ENGINE

        ENGINE.load_patches()  # the host declarations come with the patches
        hosts = [h for h in ENGINE.hosts.values() if args.simulate in h.simulations]
        if not hosts:
            print(f"fluxfix status: no host declares a simulation named {args.simulate!r}", file=sys.stderr)
            return 2
        print(f"note: {hosts[0].simulate(args.simulate)}", file=sys.stderr)
    records = fluxfix.status(import_targets=not args.no_import)  # in name order, as fluxfix.status() gives them
    if args.json:
        json.dump([r.as_dict() for r in records], sys.stdout, indent=2)
        print()
        return 0
    rows = [("patch", "host", "verdict", "reason")]
    rows += [(r.name, f"{r.host} {r.host_version or '-'}", r.verdict.value, r.reason) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3])
    return 0


def _doctor(args) -> int:
    from fluxfix import doctor

    features = tuple(f.strip() for f in ",".join(args.feature).split(",") if f.strip())
    return doctor.run(args.host, args.model, args.layers, args.device, args.dtype, args.json, features, args.simulate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fluxfix", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each patch does")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="every known patch: host, version, verdict and why")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--no-import", action="store_true", help="do not import host modules; report what is imported now")
    status.add_argument("--simulate", metavar="MACHINE", help="verdicts as on another machine, simulated here (sglang: rocm)")
    status.set_defaults(run=_status)
    doctor = commands.add_parser(
        "doctor", help="every graph break of a real host model, with and without fluxfix, and which patch removes it",
        description="Builds a real host model from its real configuration class with random weights (or, where that "
        "cannot be built on this machine, the host's real components), compiles it with and without fluxfix and lists "
        "every graph break. Exit status 1 when breaks remain that no fluxfix patch removes, 2 when doctor cannot run.")
    doctor.add_argument("--host", help="sglang or diffusers (default: the first of them installed here)")
    doctor.add_argument("--model", default="flux", help="flux, flux2, wan, qwen-image (sglang also: components) (default flux)")
    doctor.add_argument("--layers", type=int, default=1, help="double and single blocks each, at full width (default 1)")
    doctor.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    doctor.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    doctor.add_argument("--json", metavar="PATH", help="also write the results as JSON (- for stdout)")
    doctor.add_argument("--feature", action="append", default=[], metavar="NAME[,NAME]",
                        help="host features to switch on (diffusers: layerwise-fp8, group-offload, faster-cache, first-block-cache, taylorseer, mag-cache, sea-cache, lora); repeatable, combinable")
    doctor.add_argument("--simulate", metavar="MACHINE",
                        help="run as on another machine, simulated here and said so (sglang: rocm — torch reports HIP, "
                             "aiter is a stand-in computing attention with torch ops; FLUX uses the AITER backend)")
    doctor.set_defaults(run=_doctor)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        code = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `fluxfix status --json | head`: the reader left, which is fine
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout at exit
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
