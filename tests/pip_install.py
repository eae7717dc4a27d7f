"""`pip install` that outlasts a registry stalling for a minute or two.

pip retries a dropped connection and resumes a broken download, but all within seconds; when
the registry stalls longer, a run that had hours of tests ahead fails at its install. This runs
the whole install again after a pause. Used by tox (install_command) and by hostenv.py.

    python tests/pip_install.py <pip install arguments>
"""
import subprocess
import sys
import time

TRIES = 3
PAUSE_S = 45


def pip_install(args: list, before_each=None) -> None:
    """`before_each()` runs before every try (hostenv empties its --target dir: pip would not
    overwrite what a failed try left there)."""
    for attempt in range(1, TRIES + 1):
        if before_each:
            before_each()
        # --no-compile: pip would byte-compile every module it installs (torch, each host release: some 90,000
        # files, minutes of CI's two cores); Python compiles the few the tests import when they first do
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-compile", *args])
        if done.returncode == 0:
            return
        if attempt < TRIES:
            print(f"[pip_install] pip exited {done.returncode} (try {attempt} of {TRIES}); "
                  f"trying again in {PAUSE_S} s", file=sys.stderr, flush=True)
            time.sleep(PAUSE_S)
    raise subprocess.CalledProcessError(done.returncode, done.args)


if __name__ == "__main__":
    try:
        pip_install(sys.argv[1:])
    except subprocess.CalledProcessError as failed:
        sys.exit(failed.returncode)
