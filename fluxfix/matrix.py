"""The support matrix, made from the patches' own declarations (`Patch.expected`): one markdown
table per host, its columns the releases the host folder declares (and one for ROCm where the
host's patches declare `expected_rocm`). The README holds these
tables between markers; `python -m fluxfix.matrix --write README.md` refreshes them, and the
test suite checks they are current and that every cell is what the installed release gives."""
from __future__ import annotations

import argparse
import re
import sys

BEGIN, END = "<!-- matrix {host} begin (python -m fluxfix.matrix --write README.md) -->", "<!-- matrix {host} end -->"


def table(host, patches, rocm: bool = False) -> str:
    ours = [p for p in patches if p.host == host.name]
    lines = ["| patch | what it fixes | " + " | ".join(host.releases) + " |", "|---|---|" + "---|" * len(host.releases)]
    for patch in ours:
        cells = [patch.expected_verdict(r, rocm) or "?" for r in host.releases]
        lines.append(f"| `{patch.name}` | {patch.summary} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tables() -> dict[str, str]:
    from fluxfix.engine import ENGINE

    patches = list(ENGINE.load_patches().values())
    made = {name: table(host, patches) for name, host in ENGINE.hosts.items()}
    for name, host in ENGINE.hosts.items():  # a second table where a host's patches say what ROCm gets
        if any(p.expected_rocm for p in patches if p.host == name):
            made[f"{name}-rocm"] = table(host, patches, rocm=True)
    return made


def refreshed(text: str, made: dict[str, str]) -> str:
    for host, body in made.items():
        begin, end = BEGIN.format(host=host), END.format(host=host)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise SystemExit(f"fluxfix.matrix: no '{begin}' ... '{end}' block for {host}; add one where the table belongs")
        text = pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fluxfix.matrix", description=__doc__)
    parser.add_argument("--write", metavar="README", help="refresh the tables in this file instead of printing them")
    args = parser.parse_args(argv)
    made = tables()
    if not args.write:
        print("\n\n".join(f"{host}:\n{body}" for host, body in made.items()))
        return 0
    with open(args.write) as f:
        text = f.read()
    with open(args.write, "w") as f:
        f.write(refreshed(text, made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
