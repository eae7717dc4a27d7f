"""Real host releases (sglang, diffusers) installed side by side, one --target dir each.

The test venv holds torch and the common import-time modules (requirements-hosts.txt);
each release goes into its own dir with --no-deps, because its full dependency list pins
an exact torch. A release's own pins (transformers etc.) go into the same dir, so they win
over the venv when that dir is first on PYTHONPATH.
"""
import fcntl
import os
import pathlib
import shutil
import sys

from pip_install import pip_install

REPO = pathlib.Path(__file__).resolve().parent.parent
MARKER = ".fluxfix-installed"

# Extra pins per release, installed --no-deps next to it: the transformers, diffusers and
# cache-dit each release pins (the last two from its "diffusion" extra; sglang imports all
# three at import time and their APIs moved between releases), plus tokenizers and
# huggingface-hub versions that match that transformers.
_TF4 = ["transformers==4.57.1", "tokenizers>=0.22,<=0.23.0", "huggingface-hub>=0.34,<1.0",
        "diffusers==0.36.0"]
_TF5 = ["tokenizers>=0.22,<=0.23.0", "huggingface-hub>=1.5,<2", "diffusers==0.37.0"]
_ACCELERATE = "accelerate==1.15.0"
_PEFT = "peft==0.21.2"  # LoRA layers (`add_adapter`, `load_lora_weights`) for the tests and `doctor --feature lora`
PINS = {
    ("sglang", "0.5.8"): _TF4 + ["cache-dit==1.1.8"],
    ("sglang", "0.5.9"): _TF4 + ["cache-dit==1.2.0"],
    ("sglang", "0.5.10"): _TF5 + ["transformers==5.3.0", "cache-dit==1.3.0"],
    ("sglang", "0.5.10.post1"): _TF5 + ["transformers==5.3.0", "cache-dit==1.3.0"],
    ("sglang", "0.5.11"): _TF5 + ["transformers==5.6.0", "cache-dit==1.3.0"],
    # 0.5.17's server_args imports xgrammar at import time (srt/function_call/inkling_detector.py)
    ("sglang", "0.5.17"): _TF5 + ["transformers==5.12.1", "cache-dit==1.3.0", "xgrammar==0.2.1"],
    ("sglang", "0.5.21"): ["transformers==5.12.1", "tokenizers==0.22.2",
                           "huggingface-hub>=1.5,<2", "diffusers==0.37.0", "cache-dit==1.5.1"],
    # transformers 5.19 wants tokenizers>=0.23.1 and huggingface-hub>=1.31
    ("sglang", "0.5.23"): ["transformers==5.19.0", "tokenizers==0.23.2",
                           "huggingface-hub>=1.31,<3", "diffusers==0.37.0", "cache-dit==1.5.1"],
    # diffusers alone (its users' stack): the huggingface-hub its release accepts and a transformers
    # that works with it (diffusers imports transformers when it is installed, and the venv has one);
    # accelerate, which group offloading needs (`send_to_device`); peft, which LoRA needs
    ("diffusers", "0.36.0"): ["huggingface-hub>=0.34,<1.0", "transformers==4.57.1", "tokenizers>=0.22,<=0.23.0", _ACCELERATE, _PEFT],
    ("diffusers", "0.37.0"): ["huggingface-hub>=1.5,<2", "transformers==5.3.0", "tokenizers>=0.22,<=0.23.0", _ACCELERATE, _PEFT],
    ("diffusers", "0.40.0"): ["huggingface-hub>=1.23,<2", "transformers==5.12.1", "tokenizers==0.22.2", _ACCELERATE, _PEFT],
    ("diffusers", "0.42.1"): ["huggingface-hub>=1.32,<3", "transformers==5.19.0", "tokenizers==0.23.2", _ACCELERATE, _PEFT],
}


# Releases whose CPU-importable modules still import sglang's compiled kernel package at module
# level (0.5.8's layers/layernorm.py: `from sgl_kernel import ...`). That package is CUDA-only and
# hundreds of MB; its import-only stand-in (patches/sglang/standins, calling anything in it raises)
# goes last on their PYTHONPATH. Later releases import it only on CUDA.
KERNEL_STANDIN = {("sglang", "0.5.8")}


def hosts_root() -> pathlib.Path:
    return pathlib.Path(os.environ.get("FLUXFIX_HOSTS_DIR") or REPO / ".hosts")


def host_dir(dist: str, version: str) -> pathlib.Path:
    """Install dist==version (plus its pins) into <root>/<dist>-<version> once; return the dir."""
    root = hosts_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{dist}-{version}"
    reqs = [f"{dist}=={version}"] + PINS.get((dist, version), [])
    if _installed(target, reqs):
        return target
    # One lock per target: a second pytest process waits here, then sees the marker.
    with open(root / f".{dist}-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed(target, reqs):
            _install(target, reqs)
    return target


def _installed(target: pathlib.Path, reqs: list) -> bool:
    """The dir holds exactly these requirements (a dir made for other pins is made again)."""
    marker = target / MARKER
    return marker.exists() and marker.read_text().split() == reqs


def _install(target: pathlib.Path, reqs: list) -> None:
    print(f"[hostenv] installing {' '.join(reqs)} -> {target}", file=sys.stderr, flush=True)
    # A half-finished dir from a killed run or a failed try has no marker; pip --target would
    # refuse to overwrite some of it, so each try starts from scratch.
    pip_install(["--quiet", "--no-deps", "--no-warn-conflicts", "--target", str(target), *reqs],
                before_each=lambda: shutil.rmtree(target, ignore_errors=True))
    (target / MARKER).write_text("\n".join(reqs) + "\n")  # written last: install complete


def host_env(dist: str, version: str) -> dict:
    """os.environ copy with only that host dir in front on PYTHONPATH, for subprocesses."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(host_dir(dist, version))
    if (dist, version) in KERNEL_STANDIN:
        standin = hosts_root() / "standin-sgl_kernel"
        if not (standin / "sgl_kernel").is_dir():
            shutil.copytree(REPO / "patches" / "sglang" / "standins" / "sgl_kernel", standin / "sgl_kernel", dirs_exist_ok=True)
        env["PYTHONPATH"] += os.pathsep + str(standin)
    return env


def all_releases() -> list[tuple[str, str]]:
    """Every release the host folders declare (patches/<host>/host.py RELEASES)."""
    import importlib

    found = []
    for host in ("sglang", "diffusers"):
        found += [(host, v) for v in importlib.import_module(f"patches.{host}.host").RELEASES]
    return found


if __name__ == "__main__":
    # Pre-warm outside pytest (whose capture hides the progress lines), one line per release:
    #   python tests/hostenv.py sglang 0.5.8 0.5.23 ...   or   python tests/hostenv.py --all
    from concurrent.futures import ThreadPoolExecutor, as_completed

    os.environ.setdefault("FLUXFIX", "0")
    wanted = all_releases() if sys.argv[1:] == ["--all"] else [(sys.argv[1], v) for v in sys.argv[2:]]
    # pip spends its time downloading and unpacking: several releases at once (each has its own lock)
    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = {pool.submit(host_dir, dist, v): (dist, v) for dist, v in wanted}
        for n, job in enumerate(as_completed(jobs), 1):
            dist, v = jobs[job]
            print(f"[hostenv] {n}/{len(wanted)} ready: {dist} {v} in {job.result()}", flush=True)
