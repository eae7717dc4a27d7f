"""`sglang serve` as a user runs it: its own process tree, a health check, then requests to its OpenAI
endpoints. Shared by the CPU probes and the end-to-end benchmark (benchmarks/bench_sglang_serve.py),
which also read what dynamo did in sglang's worker from the server's log."""
from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

DYNAMO_LOGS = "dynamo,graph_breaks,recompiles"  # TORCH_LOGS for what dynamo_in_log reads
TRACED = re.compile(r"\[(\d+)/(\d+)\] Step 1: torchdynamo start tracing (\S+) (\S+):(\d+)")


def cli() -> list[str]:
    """The `sglang` console script: next to the package for a --target install (the tests' host dirs),
    else the one on PATH (a pip install into an environment)."""
    import sglang

    script = pathlib.Path(sglang.__file__).parents[1] / "bin" / "sglang"
    if not script.exists():
        script = pathlib.Path(shutil.which("sglang") or sys.exit("no `sglang` console script found"))
    return [sys.executable, str(script)]


def cpu_args(text_encoders: int = 2) -> list[str]:
    """What sglang's CLI needs on a CPU beside other sglang processes: float32 throughout (the text encoders'
    bf16 default meets a float32 transformer; one precision per text encoder: FLUX.1 has two, Wan one), and a
    torch.distributed port of its own (sglang settles on 30005 or the next free one when it parses its
    arguments, so two processes starting together can pick the same one and the second fails to listen)."""
    return ["--text-encoder-precisions", *["fp32"] * text_encoders, "--dit-precision", "fp32", "--vae-precision", "fp32",
            "--master-port", str(free_port())]


def free_port() -> int:
    """A TCP port free on this machine now (the system's choice)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def dynamo_in_log(log: str) -> dict:
    """What dynamo did in sglang's worker, read from its log (TORCH_LOGS=DYNAMO_LOGS): the transformer's frames
    (frame/compile numbers) and code, the frames compiled again, the files of every frame traced, the graph
    breaks, and the patches the worker said it applied."""
    traced = TRACED.findall(log)
    dit = [t for t in traced if "/models/dits/" in t[3]]
    return {"transformer_frames": sorted({f"{frame}/{again}" for frame, again, *_ in dit}),
            "transformer_code": sorted({f"{name} {path.rsplit('/', 1)[-1]}:{line}" for _, _, name, path, line in dit}),
            "recompiled": sorted({f"{name} {path.split('sglang/')[-1]}" for _, again, name, path, _ in traced if again != "0"}),
            "traced_files": sorted({path.rsplit("/", 1)[-1] for _, _, _, path, _ in traced}),
            "breaks": graph_breaks(log),
            "applied_in_worker": sorted(set(re.findall(r"fluxfix: (\S+) applied", log)))}


def frames_traced(log: str) -> int:
    """Frames dynamo traced (a first compile or a recompile each), as the log says."""
    return len(TRACED.findall(log))


def graph_breaks(log: str) -> int:
    return len(re.findall(r"Graph break in user code", log))


class Server:
    """`sglang serve --model-path FOLDER ARGS` on a free local port, its output to log_path; a context
    manager: entered, it is started (not yet healthy: `wait_healthy`); left, its process group is stopped."""

    def __init__(self, folder, args: list[str], env: dict, log_path: pathlib.Path):
        self.folder, self.args = folder, args
        self.env, self.log_path = env, pathlib.Path(log_path)
        self._on_free_port()

    def _on_free_port(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [*cli(), "serve", "--model-path", str(self.folder), "--host", "127.0.0.1", "--port", str(self.port), *self.args]

    def __enter__(self) -> Server:
        self.started = time.perf_counter()
        self._launch()
        return self

    def _launch(self) -> None:
        with open(self.log_path, "w") as log_file:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log_file, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=self.log_path.parent)  # its outputs/ beside the log

    def __exit__(self, *exc) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(60)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float) -> bool:
        """Polls /health until it answers 200, the server exits, or timeout seconds pass. A server that exits
        because another process took its port between `free_port()` and its bind (tests run side by side)
        starts again on a new port, twice at most; the lost attempt's log is kept beside the log."""
        deadline = time.monotonic() + timeout
        for restart in range(3):  # the first start, then at most two more
            if restart:
                self.__exit__()  # the rest of its process group
                self.log_path.rename(self.log_path.with_name(f"{self.log_path.name}.port-taken-{restart}"))
                self._on_free_port()
                self._launch()
            while self.process.poll() is None and time.monotonic() < deadline:
                try:
                    with urllib.request.urlopen(f"{self.url}/health", timeout=5) as reply:
                        if reply.status == 200:
                            return True
                except OSError:
                    time.sleep(1)
            if self.process.poll() is None or f"{self.port}): address already in use" not in self.log():
                return False
        return False

    def _post(self, path: str, body: dict, timeout: float) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as error:  # say what the server said, not only its status
            raise RuntimeError(f"{path}: HTTP {error.code}: {error.read()[:2000].decode(errors='replace')}; "
                               f"the server's last error: {last_error(self.log())}") from None

    def image(self, body: dict, timeout: float = 600) -> dict:
        """One request to the OpenAI images endpoint; the reply's first image as PNG bytes under "png"
        (the request asks for b64_json PNG), and sglang's "peak_memory_mb" and "inference_time_s" where it
        reports them."""
        reply = self._post("/v1/images/generations", {**body, "response_format": "b64_json", "output_format": "png"}, timeout)
        return {"png": base64.b64decode(reply["data"][0]["b64_json"]),
                **{k: reply.get(k) for k in ("peak_memory_mb", "inference_time_s")}}

    def video(self, body: dict, timeout: float = 1800) -> dict:
        """One request to the OpenAI videos endpoint, which queues a job: polled until it ends; the job's last
        record (status; "peak_memory_mb" and "inference_time_s" where sglang reports them)."""
        job = self._post("/v1/videos", body, timeout)
        deadline = time.monotonic() + timeout
        while job.get("status") not in ("completed", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
            with urllib.request.urlopen(f"{self.url}/v1/videos/{job['id']}", timeout=30) as reply:
                job = json.loads(reply.read())
        return job


def last_error(log: str, lines: int = 25) -> str:
    """The last traceback in a server log (its last `lines` lines, down to the exception's own line), or the
    log's last line when it has none."""
    start = log.rfind("Traceback (most recent call last)")
    if start < 0:
        return log.strip().rsplit("\n", 1)[-1]
    trace = log[start:].splitlines()
    end = next((i for i, line in enumerate(trace[1:], 1) if line and not line.startswith(" ")), len(trace) - 1)
    return "\n".join(trace[: end + 1][-lines:])


def is_png(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n"
