"""Runs untrusted generated code: one separate process per program, with limits, and reports what happened.

Layers, each stopping what the one before might miss:
- a fresh Python (`-I`: no user site, no PYTHON* variables) in a new empty temporary directory, with
  an environment of our own (no variable of the caller's, so no secret), in its own process group so
  a timeout kills everything it started;
- resource limits (address space, CPU seconds, file size, open files) set in the child before it runs;
- an audit hook (PEP 578, which code cannot remove once installed) that denies process creation
  (fork, exec, subprocess, os.system), sockets, ctypes / foreign code, and opening files outside
  the working directory and Python's own installation;
- a wall-clock timeout enforced by the parent.

It follows the execution harness of HumanEval (Chen et al. 2021), whose authors also warn that such
guards are not a security boundary against a determined attacker: run builds of untrusted models in
a container or VM as well.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

Status = Literal["passed", "failed", "timeout", "memory", "denied"]

# Runs before the program, in the child: limits first, then the hook (so the hook does not see our setup).
_GUARD = r'''
import resource, sys, os
def _limit(kind, value, hard=None):
    try:
        resource.setrlimit(kind, (value, value if hard is None else hard))
    except (ValueError, OSError):
        pass
_limit(resource.RLIMIT_AS, {memory_bytes})
_limit(resource.RLIMIT_CPU, {cpu_seconds}, {cpu_seconds} + 1)  # SIGXCPU first, not an anonymous SIGKILL
_limit(resource.RLIMIT_FSIZE, {file_bytes})
_limit(resource.RLIMIT_NOFILE, 64)
_limit(resource.RLIMIT_CORE, 0)
import io, math, re, itertools, functools, collections, heapq, bisect, string, random, typing, json, fractions, decimal, statistics, hashlib, copy, operator, datetime  # noqa: preload what solutions use, before opening is restricted
_ALLOWED_DIRS = tuple(os.path.realpath(p) + os.sep for p in {allowed_dirs!r})
_DENIED = {{"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
           "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "ctypes.dlopen", "ctypes.cdata",
           "os.kill", "os.killpg", "pty.spawn"}}
class SandboxDenied(PermissionError):
    pass
def _hook(event, args):
    if event in _DENIED:
        raise SandboxDenied(f"sandbox: {{event}} is not allowed")
    if event == "open" and args and isinstance(args[0], (str, bytes)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if not (path + os.sep).startswith(_ALLOWED_DIRS):
            raise SandboxDenied(f"sandbox: opening {{path}} is not allowed")
sys.addaudithook(_hook)
del _hook, _limit
'''

_PROGRAM = "program.py"


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    cpu_seconds: int = 10
    file_mb: int = 16
    max_output_chars: int = 4000


@dataclass(frozen=True)
class RunResult:
    status: Status
    returncode: Optional[int]
    error_type: Optional[str]  # the exception's name (AssertionError, SyntaxError, ...), or the limit hit
    error_line: str  # the program's source line the error came from (a failing test's assert), when known
    stderr: str  # its tail
    wall_seconds: float

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _allowed_dirs(workdir: Path) -> list[str]:
    """The working directory and Python's installation (stdlib and site-packages), nothing else."""
    dirs = {str(workdir), sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.__file__)}
    return sorted(d for d in dirs if d)


_TRACE_FRAME = re.compile(rf'File ".*{re.escape(_PROGRAM)}", line (\d+)')
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Denied|Warning|Iteration))\b")


def _diagnose(stderr: str, source: str) -> tuple[Optional[str], str]:
    lines = stderr.strip().splitlines()
    error_type = None
    for line in reversed(lines):
        m = _EXC_LINE.match(line.strip())
        if m:
            error_type = m.group(1).rsplit(".", 1)[-1]
            break
    frames = _TRACE_FRAME.findall(stderr)
    src = source.splitlines()
    error_line = src[int(frames[-1]) - 1].strip() if frames and 0 < int(frames[-1]) <= len(src) else ""
    return error_type, error_line


def run_program(source: str, limits: Limits = Limits()) -> RunResult:
    """Runs `source` as a script; it passes when it exits with 0 (a failing test raises)."""
    with tempfile.TemporaryDirectory(prefix="synth-sandbox-") as tmp:
        workdir = Path(tmp).resolve()
        guard = _GUARD.format(memory_bytes=limits.memory_mb * 2**20, cpu_seconds=limits.cpu_seconds,
                              file_bytes=limits.file_mb * 2**20, allowed_dirs=_allowed_dirs(workdir))
        (workdir / _PROGRAM).write_text(source)
        (workdir / "guard.py").write_text(guard)
        runner = (f"exec(compile(open('guard.py').read(), 'guard.py', 'exec'))\n"
                  f"__file__ = {_PROGRAM!r}\n"
                  f"exec(compile(open({_PROGRAM!r}).read(), {_PROGRAM!r}, 'exec'), {{'__name__': '__main__'}})\n")
        env = {"PATH": "/usr/bin:/bin", "HOME": str(workdir), "TMPDIR": str(workdir), "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        t0 = time.perf_counter()
        # stdout is not kept (tests raise; a program printing forever must not fill our memory); stderr
        # goes to a file the file-size limit bounds. A new session: the timeout kills the whole group.
        with open(workdir / "stderr.txt", "wb") as err_file:
            proc = subprocess.Popen([sys.executable, "-I", "-B", "-c", runner], cwd=workdir, env=env,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_file,
                                    start_new_session=True, close_fds=True)
            try:
                proc.wait(timeout=limits.timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # and anything it left behind
            except ProcessLookupError:
                pass
            proc.wait()
        wall = time.perf_counter() - t0
        with open(workdir / "stderr.txt", "rb") as f:
            f.seek(max(0, (workdir / "stderr.txt").stat().st_size - limits.max_output_chars))
            stderr = f.read().decode("utf-8", "replace")
    rc = proc.returncode
    error_type, error_line = _diagnose(stderr, source)
    if timed_out or rc == -signal.SIGXCPU:
        return RunResult("timeout", rc, "Timeout", error_line, stderr, wall)
    if error_type == "MemoryError" or rc == -signal.SIGKILL and not stderr.strip():
        return RunResult("memory", rc, "MemoryError", error_line, stderr, wall)
    if error_type == "SandboxDenied" or "sandbox: " in stderr:
        return RunResult("denied", rc, "SandboxDenied", error_line, stderr, wall)
    if rc == 0:
        return RunResult("passed", rc, None, "", stderr, wall)
    return RunResult("failed", rc, error_type or f"exit {rc}", error_line, stderr, wall)
