"""Runs untrusted generated code and says whether it passed its tests; a pass is proven, not assumed.

The boundary is the OS: each program runs under bubblewrap (`bwrap`) in new user, pid, network,
ipc, uts and cgroup namespaces, as uid 65534 with every capability dropped, no new user namespaces,
a seccomp filter (no ptrace, process_vm_*, pidfd_getfd, mount, bpf, keyctl, io_uring, ...), no
/proc, read-only binds of only the interpreter, its standard library and the system libraries
(site-packages, ctypes and the C test modules masked), a private size-limited tmpfs as its working
directory, `--die-with-parent` and a new session, a per-run pids cgroup (a process-count limit that
holds even as root, where RLIMIT_NPROC does not), and rlimits (address space, CPU, file size, open
files). Inside, synth/sandbox_harness.py splits the run in two processes: the judge runs the
problem's tests, the reply's code runs in a child the tests call through a pipe with plain data; only
the judge can write the run's random nonce to the result descriptor, after `check(candidate)`
returns. The status comes from that report and exit codes, never from the program's output.
An audit hook inside the solution's process stays as a second layer.

Where bubblewrap is missing, code stages stop before running anything (`require_isolation`) unless
the recipe opts into `isolation: process` (the same two processes, limits and hook, no namespaces),
which the dataset card then states.
"""

from __future__ import annotations

import ast
import atexit
import collections
import functools
import hmac
import json
import marshal
import os
import platform
import queue
import secrets
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from synth.errors import SynthError

Status = Literal["passed", "failed", "timeout", "memory", "denied", "error"]
Isolation = Literal["namespaces", "process"]
_STATUSES = ("passed", "failed", "timeout", "memory", "denied", "error")

HARNESS = Path(__file__).with_name("sandbox_harness.py")
_INNER_HARNESS = "/sandbox/harness.py"
_WORKDIR = "/work"
_UID = 65534
_MAX_REPORT = 64 << 10
# Extension modules the sandboxed interpreter must not load: foreign code, CPython's test modules (raw
# memory access), process creation without audit events, and modules that open files by a path in C,
# past the audit hook's `open` check (readline's history file, spwd's /etc/shadow, dbm files: with
# `isolation: process` as root, `readline.read_history_file('/etc/shadow')` read it line by line).
# Masked with an empty file, so importing them fails; refused by the audit hook too (all that keeps them
# out with `isolation: process`); where the interpreter has one built in, made unimportable inside
# (synth/sandbox_harness.py's _mask_builtin_modules).
_MASKED = ("_ctypes", "_ctypes_test", "_testcapi", "_testinternalcapi", "_testbuffer", "_testclinic",
           "_testimportmultiple", "_testmultiphase", "_xxsubinterpreters", "_xxinterpchannels", "_xxtestfuzz",
           "xxlimited", "xxlimited_35", "_posixsubprocess", "_posixshmem", "_multiprocessing",
           "readline", "spwd", "_dbm", "_gdbm")
_INSTALL_HINT = ("install bubblewrap (as root: `apt-get install -y bubblewrap`, which scripts/install.sh does), "
                 "or opt into weaker process-only isolation with `isolation: process` under stages.verify / "
                 "stages.code_inject in the recipe (the dataset card then says so)")


class SandboxUnavailable(SynthError):
    pass


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 512
    cpu_seconds: int = 10
    file_mb: int = 16
    disk_mb: int = 32  # the private tmpfs the program may write to
    processes: int = 16  # tasks (processes and threads) in the run's pids cgroup
    max_output_chars: int = 4000


@dataclass(frozen=True)
class RunResult:
    status: Status
    returncode: Optional[int]
    error_type: Optional[str]  # the exception's name (AssertionError, SyntaxError, ...), or the limit hit
    error_line: str  # the source line the error came from (a failing test's assert), when known
    stderr: str  # its tail (diagnostics only: never decides the status)
    wall_seconds: float
    detail: str = ""  # what failed, in a line (the judge's words; text from the program is marked as such)

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class _Parts:
    solution: str
    prelude: str
    tests: Optional[str]  # None: a bare script, which cannot pass (nothing proves it right)
    entry_point: str


def _parts(program: str) -> _Parts:
    """A CheckingProgram knows its parts; a plain text ending in `check(name)` after a top-level
    `def check` is split there (its tests see only what they define); anything else is a bare script."""
    if all(hasattr(program, a) for a in ("solution", "prelude", "tests", "entry_point")):
        return _Parts(program.solution, program.prelude, program.tests, program.entry_point)  # type: ignore[attr-defined]
    text = str(program)
    try:
        body = ast.parse(text).body
    except (SyntaxError, ValueError):
        return _Parts(text, "", None, "")
    last = body[-1] if body else None
    checks = [i for i, n in enumerate(body) if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if not (checks and isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
            and isinstance(last.value.func, ast.Name) and last.value.func.id == "check"
            and len(last.value.args) == 1 and isinstance(last.value.args[0], ast.Name) and not last.value.keywords):
        return _Parts(text, "", None, "")
    start = checks[-1]
    if start > 0 and isinstance(body[start - 1], ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "METADATA" for t in body[start - 1].targets):
        start -= 1
    lines = text.splitlines(keepends=True)
    split, end = body[start].lineno - 1, last.lineno - 1
    first = body[start]
    if getattr(first, "decorator_list", None):
        split = min(d.lineno for d in first.decorator_list) - 1
    return _Parts("".join(lines[:split]), "", "".join(lines[split:end]), last.value.args[0].id)


class _StrictAsserts(ast.NodeTransformer):
    """`assert x == y` and `assert x != y` (also inside and/or/not) become `__strict_eq__(x, y)`, which
    compares type and value all the way down (synth/sandbox_harness.py: True is not 1, 1.0 is not 1)."""

    def visit_Assert(self, node: ast.Assert) -> ast.Assert:
        node.test = _StrictCompare().visit(node.test)
        return node


class _StrictCompare(ast.NodeTransformer):
    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in (ast.Eq, ast.NotEq):
            return node
        call = ast.Call(func=ast.Name("__strict_eq__", ast.Load()), args=[node.left, node.comparators[0]], keywords=[])
        out: ast.AST = call if type(node.ops[0]) is ast.Eq else ast.UnaryOp(ast.Not(), call)
        return ast.copy_location(out, node)

    def visit_Lambda(self, node: ast.Lambda) -> ast.Lambda:
        return node


def _judge_payload(parts: _Parts) -> bytes:
    """The prompt and the strict tests, compiled here (trusted text) and marshalled for the judge."""
    tests = None
    if parts.tests is not None:
        tree = _StrictAsserts().visit(ast.parse(parts.tests, "<tests>"))
        tests = compile(ast.fix_missing_locations(tree), "<tests>", "exec")
    return marshal.dumps({"prelude": compile(parts.prelude, "<prompt>", "exec"), "tests": tests,
                          "entry_point": parts.entry_point})


# ---- what the sandbox binds, and the seccomp filter ----

@functools.lru_cache(maxsize=1)
def _interpreter() -> tuple[str, list[str], list[str], str]:
    """The base interpreter (not a venv's), the directories it needs, and site directories to mask."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"])
    dirs = [stdlib]
    libdir = sysconfig.get_config_var("LIBDIR")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and os.path.isdir(libdir):
        dirs.append(os.path.realpath(libdir))
    masks = []
    for key in ("purelib", "platlib"):
        for base in {sys.base_prefix, sys.prefix}:
            p = os.path.realpath(sysconfig.get_paths(vars={"base": base, "platbase": base})[key])
            if os.path.isdir(p):
                masks.append(p)
    dynload = os.path.join(stdlib, "lib-dynload")
    return exe, dirs, sorted(set(masks)), dynload


@functools.lru_cache(maxsize=1)
def _system_lib_args() -> tuple[str, ...]:
    args = []
    multiarch = sysconfig.get_config_var("MULTIARCH")
    libs = [f"/usr/lib/{multiarch}"] if multiarch and os.path.isdir(f"/usr/lib/{multiarch}") else ["/usr/lib"]
    for d in libs + ["/usr/lib64"]:
        if os.path.isdir(d) and not os.path.islink(d):
            args += ["--ro-bind", d, d]
    for d in ("/lib", "/lib64"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return tuple(args)


# x86_64 system calls a program never needs and that reach across processes or into the kernel.
_DENIED_SYSCALLS_X86_64 = (
    101,  # ptrace
    310, 311,  # process_vm_readv, process_vm_writev
    312,  # kcmp
    438,  # pidfd_getfd
    298,  # perf_event_open
    321,  # bpf
    323,  # userfaultfd
    248, 249, 250,  # add_key, request_key, keyctl
    165, 166, 155,  # mount, umount2, pivot_root
    272, 308,  # unshare, setns
    175, 313, 176,  # init_module, finit_module, delete_module
    246, 320,  # kexec_load, kexec_file_load
    303, 304,  # name_to_handle_at, open_by_handle_at
    425, 426, 427,  # io_uring_setup, io_uring_enter, io_uring_register
    428, 429, 430, 431, 432, 433, 442,  # open_tree, move_mount, fsopen, fsconfig, fsmount, fspick, mount_setattr
    163, 167, 168, 169, 103, 153, 179,  # acct, swapon, swapoff, reboot, syslog, vhangup, quotactl
)


def _seccomp_filter() -> Optional[bytes]:
    """A classic BPF program for bwrap's --seccomp: EPERM for the calls above, kill on a foreign ABI."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None

    def op(code: int, jt: int, jf: int, k: int) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    ld_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, eperm, kill = 0x7FFF0000, 0x00050000 | 1, 0x80000000
    n = len(_DENIED_SYSCALLS_X86_64)
    prog = [op(ld_abs, 0, 0, 4), op(jeq, 1, 0, 0xC000003E), op(ret, 0, 0, kill),  # arch must be x86_64
            op(ld_abs, 0, 0, 0), op(jge, 0, 1, 0x40000000), op(ret, 0, 0, kill)]  # no x32 system calls
    for i, nr in enumerate(_DENIED_SYSCALLS_X86_64):
        prog.append(op(jeq, n - i, 0, nr))  # to the EPERM return after the allow
    prog += [op(ret, 0, 0, allow), op(ret, 0, 0, eperm)]
    return b"".join(prog)


def _bwrap_args(limits: Limits, seccomp_fd: int) -> list[str]:
    return [*_static_bwrap_args(), "--seccomp", str(seccomp_fd), "--size", str(limits.disk_mb << 20), "--perms", "0700",
            "--tmpfs", _WORKDIR, "--chdir", _WORKDIR, "--remount-ro", "/", "--", _interpreter()[0]]


@functools.lru_cache(maxsize=1)
def _static_bwrap_args() -> tuple[str, ...]:
    exe, dirs, masks, dynload = _interpreter()
    args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--uid", str(_UID), "--gid", str(_UID), "--hostname", "sandbox",
            "--ro-bind", exe, exe]
    for d in dirs:
        args += ["--ro-bind", d, d]
    for m in masks:
        args += ["--tmpfs", m]
    if os.path.isdir(dynload):
        for name in sorted(os.listdir(dynload)):
            if name.split(".", 1)[0] in _MASKED:
                args += ["--ro-bind", "/dev/null", os.path.join(dynload, name)]
    args += _system_lib_args()
    args += ["--ro-bind", str(HARNESS), _INNER_HARNESS, "--dev", "/dev", "--size", str(1 << 20), "--tmpfs", "/dev/shm",
             "--clearenv"]
    for k, v in _environment(_WORKDIR).items():
        args += ["--setenv", k, v]
    return tuple(args)


def _environment(workdir: str) -> dict[str, str]:
    return {"HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PATH": "/nonexistent"}


# ---- the process-count limit when root (RLIMIT_NPROC does not hold for uid 0 outside) ----

_PIDS_ROOT = Path("/sys/fs/cgroup/pids")


def _own_pids_cgroup() -> Optional[Path]:
    try:
        for line in Path("/proc/thread-self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "pids" in controllers.split(","):
                return _PIDS_ROOT / path.lstrip("/")
    except OSError:
        return None
    return None


class _Launcher:
    """A thread that lives in its own pids cgroup (v1) and starts sandboxes from there: children
    inherit the cgroup of the thread that forks them, so each run gets the process-count limit
    without moving a thread between cgroups per run (each move waits for an RCU grace period, about
    as long as the interpreter's start-up). One launcher serves one run at a time, and only once its
    cgroup holds nothing but the thread (the kernel releases a dead pid namespace's count about a
    second late), so every run gets the full limit and no more; after the run every process left in
    its cgroup is killed. The thread is also the parent bwrap's --die-with-parent watches, and it
    never exits before this process does."""

    def __init__(self) -> None:
        home = _own_pids_cgroup()
        if home is None or not (home / "tasks").exists():
            raise SandboxUnavailable("no writable pids cgroup (/sys/fs/cgroup/pids) to limit the program's "
                                     "processes, which running as root needs")
        self.home, self.path = home, home / f"synth-sandbox-{os.getpid()}-{secrets.token_hex(6)}"
        self.path.mkdir()
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.tid: Optional[int] = None
        started = queue.SimpleQueue()
        threading.Thread(target=self._serve, args=(started,), daemon=True, name="synth-sandbox-launcher").start()
        error = started.get()
        if error is not None:
            self.path.rmdir()
            raise error

    def _serve(self, started: queue.SimpleQueue) -> None:
        try:
            (self.path / "tasks").write_text(str(threading.get_native_id()))
        except OSError as e:
            started.put(SandboxUnavailable(f"cannot join the pids cgroup {self.path}: {e}"))
            return
        self.tid = threading.get_native_id()
        started.put(None)
        while True:
            fn, reply = self.jobs.get()
            try:
                reply.put((fn(), None))
            except BaseException as e:  # noqa: B902 - handed back to the caller's thread
                reply.put((None, e))

    def popen(self, max_tasks: int, *args, **kwargs) -> subprocess.Popen:
        (self.path / "pids.max").write_text(str(max_tasks))
        reply: queue.SimpleQueue = queue.SimpleQueue()
        self.jobs.put((lambda: subprocess.Popen(*args, **kwargs), reply))
        proc, error = reply.get()
        if error is not None:
            raise error
        return proc

    def drained(self) -> bool:
        try:
            return (self.path / "pids.current").read_text().strip() == "1"
        except OSError:
            return False

    def kill_leftovers(self) -> None:
        try:
            pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return
        for pid in pids:
            if pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self) -> None:
        self.kill_leftovers()
        try:
            (self.home / "tasks").write_text(str(self.tid))
            for _ in range(50):
                try:
                    self.path.rmdir()
                    return
                except OSError:
                    time.sleep(0.01)
        except OSError:
            pass


_idle_launchers: collections.deque[_Launcher] = collections.deque()  # oldest first
_all_launchers: list[_Launcher] = []
_launchers_lock = threading.Lock()


def _take_launcher() -> _Launcher:
    with _launchers_lock:
        if _idle_launchers and _idle_launchers[0].drained():
            return _idle_launchers.popleft()
    launcher = _Launcher()
    with _launchers_lock:
        if not _all_launchers:
            atexit.register(_remove_launchers)
        _all_launchers.append(launcher)
    return launcher


def _give_back(launcher: _Launcher) -> None:
    launcher.kill_leftovers()
    with _launchers_lock:
        _idle_launchers.append(launcher)


def _forget_launchers() -> None:
    """In a child forked from this process the launcher threads do not exist: start afresh."""
    global _launchers_lock
    _launchers_lock = threading.Lock()
    _idle_launchers.clear()
    _all_launchers.clear()


os.register_at_fork(after_in_child=_forget_launchers)


def _remove_launchers() -> None:
    with _launchers_lock:
        for launcher in _all_launchers:
            launcher.remove()
        _all_launchers.clear()
        _idle_launchers.clear()


# ---- availability ----

_checked: dict[Isolation, Optional[str]] = {}
_check_lock = threading.Lock()


def isolation_problem(isolation: Isolation = "namespaces") -> Optional[str]:
    """None when programs can run with this isolation here; else what is missing. Checked once per
    process by running a trivial program."""
    with _check_lock:
        if isolation not in _checked:
            _checked[isolation] = _probe(isolation)
        return _checked[isolation]


def _probe(isolation: Isolation) -> Optional[str]:
    if isolation == "namespaces":
        if shutil.which("bwrap") is None:
            return "bubblewrap (bwrap) is not installed"
        if _seccomp_filter() is None:
            return f"the seccomp filter has no system call table for {platform.machine()}"
    r = _run(_Parts("def f():\n    return 1\n", "", "def check(c):\n    assert c() == 1\n", "f"),
             Limits(timeout_s=20), isolation)
    if not r.passed:
        return f"a trivial program did not pass in the sandbox ({r.status}: {r.stderr.strip()[-300:]})"
    return None


def require_isolation(isolation: Isolation = "namespaces") -> None:
    """Code stages call this before running anything."""
    problem = isolation_problem(isolation)
    if problem is not None:
        if isolation == "namespaces":
            raise SandboxUnavailable(f"code cannot run isolated here: {problem}. To fix: {_INSTALL_HINT}")
        raise SandboxUnavailable(f"code cannot run here even with process-only isolation: {problem}")


# ---- one run ----

def _memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)  # inheritable only through pass_fds
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def run_program(program: str, limits: Limits = Limits(), isolation: Isolation = "namespaces", *,
                second_layer: bool = True) -> RunResult:
    """Runs a checking program (synth.code.checking_program): passed only when the problem's tests
    returned, as reported by the judge with this run's nonce. Never raises: anything that goes wrong
    running it is status `error` with the reason. `second_layer=False` leaves out the audit hook,
    so tests can show that the OS boundary holds on its own."""
    t0 = time.perf_counter()
    try:
        return _run(_parts(program), limits, isolation, second_layer)
    except Exception as e:  # noqa: BLE001 - one program must not stop a stage
        return RunResult("error", None, type(e).__name__, "", f"sandbox error: {e}"[-4000:], time.perf_counter() - t0)


def _prefixes(workdir: str) -> dict[str, list[str]]:
    """What the audit hook lets the reply write (its working directory, /dev/null) and read (those,
    /dev/urandom and the interpreter's own files)."""
    writable = [workdir + "/", "/dev/null/"]
    return {"writable_prefixes": writable,
            "allowed_prefixes": writable + ["/dev/urandom/"] + [d.rstrip("/") + "/" for d in _interpreter()[1]]}


def _run(parts: _Parts, limits: Limits, isolation: Isolation, second_layer: bool = True) -> RunResult:
    t0 = time.perf_counter()
    nonce = secrets.token_hex(16)
    opened: list[int] = []
    try:
        fds = {"tests": _memfd("tests", _judge_payload(parts)),
               "solution": _memfd("solution", marshal.dumps({"source": parts.solution,
                                                             "entry_point": parts.entry_point})),
               "nonce": _memfd("nonce", nonce.encode())}
        opened += fds.values()
        result_r, result_w = os.pipe()
        err_r, err_w = os.pipe()
        opened += [result_r, result_w, err_r, err_w]
        fds["result"] = result_w
        exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
        inner = {"fds": fds, "processes": limits.processes, "second_layer": second_layer, "masked": list(_MASKED),
                 "limits": {"memory_bytes": limits.memory_mb << 20, "cpu_seconds": max(1, int(limits.cpu_seconds)),
                            "file_bytes": limits.file_mb << 20}}
        launcher = None
        if isolation == "namespaces":
            seccomp = _seccomp_filter()
            if shutil.which("bwrap") is None or seccomp is None:
                raise SandboxUnavailable(f"no namespace isolation here: {_INSTALL_HINT}")
            seccomp_fd = _memfd("seccomp", seccomp)
            opened.append(seccomp_fd)
            inner.update(_prefixes(_WORKDIR))
            cmd = _bwrap_args(limits, seccomp_fd) + ["-I", "-S", "-B", _INNER_HARNESS, json.dumps(inner)]
            passed_fds = (*fds.values(), seccomp_fd)
            cwd, env, workdir = "/", {}, None
        else:
            import tempfile

            workdir = tempfile.mkdtemp(prefix="synth-sandbox-")  # private: mode 0700
            inner.update(_prefixes(workdir))
            cmd = [exe, "-I", "-S", "-B", str(HARNESS), json.dumps(inner)]
            passed_fds, cwd, env = tuple(fds.values()), workdir, _environment(workdir)
        if os.geteuid() == 0:  # RLIMIT_NPROC does not hold for uid 0 outside: a pids cgroup does
            launcher = _take_launcher()
        try:
            popen = dict(cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_w,
                         pass_fds=passed_fds, start_new_session=True, close_fds=True)
            if launcher is not None:  # the launcher thread, the run's bwrap monitor, then what runs inside
                proc = launcher.popen(limits.processes + 2, cmd, **popen)
            else:
                proc = subprocess.Popen(cmd, **popen)
            for fd in [*passed_fds, err_w]:
                os.close(fd)
                opened.remove(fd)
            report, stderr, timed_out = _collect(proc, result_r, err_r, limits)
        finally:
            if launcher is not None:
                _give_back(launcher)
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        for fd in opened:
            try:
                os.close(fd)
            except OSError:
                pass
    return _result(parts, report, nonce, proc.returncode, timed_out, stderr, time.perf_counter() - t0)


def _collect(proc: subprocess.Popen, result_r: int, err_r: int, limits: Limits) -> tuple[bytes, str, bool]:
    """Reads the report and stderr from the descriptors this process holds (bounded) until both
    close or time is up; on a timeout, the whole sandbox is killed."""
    deadline = time.monotonic() + limits.timeout_s
    report, err, keep = bytearray(), bytearray(), limits.max_output_chars * 4
    sel = selectors.DefaultSelector()
    sel.register(result_r, selectors.EVENT_READ)
    sel.register(err_r, selectors.EVENT_READ)
    timed_out, exited_at = False, None
    while sel.get_map():
        now = time.monotonic()
        if now >= deadline:
            timed_out = True
            break
        if proc.poll() is not None:  # the sandbox is gone; what is still open is a leftover: drain briefly
            exited_at = exited_at or now
            if now - exited_at > 0.5:
                break
        for key, _ in sel.select(timeout=min(0.1, deadline - now)):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fd)
            elif key.fd == result_r:
                report += chunk[: max(0, _MAX_REPORT + 1 - len(report))]
            else:
                err += chunk
                del err[:-keep]
    sel.close()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    return bytes(report), err.decode("utf-8", "replace")[-limits.max_output_chars:], timed_out


def _line(source: str, line: object) -> str:
    src = source.splitlines()
    return src[line - 1].strip()[:300] if type(line) is int and 0 < line <= len(src) else ""


def _result(parts: _Parts, raw: bytes, nonce: str, rc: Optional[int], timed_out: bool, stderr: str,
            wall: float) -> RunResult:
    if timed_out:
        return RunResult("timeout", rc, "Timeout", "", stderr, wall, "ran past the wall-clock limit")
    report = None
    if 4 < len(raw) <= _MAX_REPORT and int.from_bytes(raw[:4], "big") == len(raw) - 4:
        try:
            report = json.loads(raw[4:])
        except (ValueError, UnicodeDecodeError):
            report = None
    if not isinstance(report, dict) or not isinstance(report.get("nonce"), str) \
            or not hmac.compare_digest(report["nonce"], nonce) or report.get("status") not in _STATUSES:
        # The judge never reported: the sandbox failed to start, or something killed it.
        return RunResult("error", rc, f"exit {rc}", "", stderr, wall, "the sandbox's judge did not report")
    status = report["status"]
    if status == "passed" and rc != 0:
        status = "error"
    error_type = report.get("error_type")
    error_type = error_type[:100] if isinstance(error_type, str) else None
    where = report.get("where")
    source = parts.solution if where == "solution" else parts.tests or "" if where == "tests" else ""
    detail = report.get("detail") if isinstance(report.get("detail"), str) else ""
    return RunResult(status, rc, error_type, _line(source, report.get("line")), stderr, wall, detail[:300])
