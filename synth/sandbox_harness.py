"""The inside of the code sandbox (synth/sandbox.py starts it as `python -I -S -B sandbox_harness.py ARGS`).

Two processes, so the tests never share an interpreter with the code they judge:
- the judge (this process, trusted code only) runs the problem's own `check(candidate)`; `candidate`
  forwards each call to the solution's process and gets back plain data (None, bool, int, float,
  complex, str, bytes, list, tuple, dict, set, frozenset, nothing else), and `assert a == b` in the
  tests (rewritten and compiled by synth/sandbox.py) compares type and value with `strict_eq` (an
  object equal to everything cannot even be sent). Only when check() returns does the judge write
  the run's nonce and "passed" to the result descriptor;
- the solution process is forked before the judge reads the tests or the nonce (so neither is ever
  in its memory); it closes every descriptor but its two pipes, limits itself, loads the reply and
  answers calls. Exits, atexit, excepthook, tracing, frame or gc tricks act on that process only.
The OS (namespaces, seccomp: no ptrace, no /proc) keeps the two apart; this file holds no secret
the solution could find, and imports only what it needs before the fork.
"""

import _json
import builtins
import marshal
import os
import resource
import signal
import sys

_MAX_MESSAGE = 64 << 20
_MAX_DEPTH = 200
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


# ---- plain data across the pipe: exact types only, tagged, so nothing changes type on the way ----

def encode(value, depth=0):
    if depth > _MAX_DEPTH:
        raise TypeError("value nested too deeply")
    t = type(value)
    if value is None:
        return ["N"]
    if t is bool:
        return ["B", value]
    if t is int:
        return ["I", hex(value)]
    if t is float:
        return ["F", value.hex()]
    if t is complex:
        return ["C", value.real.hex(), value.imag.hex()]
    if t is str:
        return ["S", value]
    if t is bytes:
        return ["Y", value.hex()]
    if t is list or t is tuple or t is set or t is frozenset:
        tag = {list: "L", tuple: "T", set: "E", frozenset: "R"}[t]
        return [tag, [encode(v, depth + 1) for v in value]]
    if t is dict:
        return ["D", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]]
    raise TypeError(f"{t.__name__} is not plain data")


def decode(item, depth=0):
    """Untrusted input (the solution writes it): anything malformed raises ValueError."""
    if depth > _MAX_DEPTH or type(item) is not list or not item or type(item[0]) is not str:
        raise ValueError("malformed value")
    tag, args = item[0], item[1:]
    if tag == "N" and not args:
        return None
    if tag == "B" and len(args) == 1 and type(args[0]) is bool:
        return args[0]
    if tag == "I" and len(args) == 1 and type(args[0]) is str and len(args[0]) < 1 << 20:
        return int(args[0], 16)
    if tag == "F" and len(args) == 1 and type(args[0]) is str:
        return float.fromhex(args[0])
    if tag == "C" and len(args) == 2 and all(type(a) is str for a in args):
        return complex(float.fromhex(args[0]), float.fromhex(args[1]))
    if tag == "S" and len(args) == 1 and type(args[0]) is str:
        return args[0]
    if tag == "Y" and len(args) == 1 and type(args[0]) is str:
        return bytes.fromhex(args[0])
    if tag in ("L", "T", "E", "R") and len(args) == 1 and type(args[0]) is list:
        items = [decode(v, depth + 1) for v in args[0]]
        return {"L": list, "T": tuple, "E": set, "R": frozenset}[tag](items)
    if tag == "D" and len(args) == 1 and type(args[0]) is list:
        out = {}
        for kv in args[0]:
            if type(kv) is not list or len(kv) != 2:
                raise ValueError("malformed dict item")
            out[decode(kv[0], depth + 1)] = decode(kv[1], depth + 1)
        return out
    raise ValueError("malformed value")


# JSON without the json package (it imports re, a tenth of this interpreter's start-up): messages are
# nested lists and flat dicts of str, bool, int and None.
_quote = _json.encode_basestring_ascii


def dumps(value):
    t = type(value)
    if value is None:
        return "null"
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return int.__repr__(value)
    if t is str:
        return _quote(value)
    if t is list:
        return "[" + ",".join([dumps(v) for v in value]) + "]"
    if t is dict:
        return "{" + ",".join([_quote(k) + ":" + dumps(v) for k, v in value.items()]) + "}"
    raise TypeError(f"cannot send a {t.__name__}")


class _Strict:
    strict, object_hook, object_pairs_hook, parse_float, parse_int = True, None, None, float, int

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"{name} is not plain JSON")


_scan = _json.make_scanner(_Strict())


def loads(text):
    try:
        value, end = _scan(text, 0)
    except Exception:  # noqa: BLE001 - StopIteration or a decode error: malformed either way
        raise ValueError("malformed message") from None
    if end != len(text):
        raise ValueError("malformed message")
    return value


def send(fd, message):
    data = dumps(message).encode()
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(fd, data):]


def _read_exactly(fd, n):
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def receive(fd):
    n = int.from_bytes(_read_exactly(fd, 4), "big")
    if n > _MAX_MESSAGE:
        raise ValueError("message too large")
    return loads(_read_exactly(fd, n).decode())


def read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def set_limits(limits, processes):
    for kind, value in ((resource.RLIMIT_AS, limits["memory_bytes"]), (resource.RLIMIT_FSIZE, limits["file_bytes"]),
                        (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NPROC, processes)):
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass
    cpu = limits["cpu_seconds"]
    try:  # SIGXCPU first (a timeout), then SIGKILL
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    except (ValueError, OSError):
        pass


# ---- the solution process (untrusted once the reply runs) ----

# Events that change a path's file or directory: (the positions of their path arguments, of their
# directory-descriptor arguments), as CPython 3.11 raises them. Held to the working directory: with
# `isolation: process` the hook is all that stands between the reply and the host's files (as root,
# `os.remove`, `os.truncate` or an `open(..., "w")` in the standard library reached them before);
# under bubblewrap the binds are read-only anyway.
_CHANGES_PATHS = {"os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.mkdir": ((0,), (2,)),
                  "os.rename": ((0, 1), (2, 3)), "os.link": ((0, 1), (2, 3)), "os.symlink": ((1,), (2,)),
                  "os.truncate": ((0,), ()), "os.chmod": ((0,), (2,)), "os.chown": ((0,), (3,)),
                  "os.utime": ((0,), (3,)), "os.chflags": ((0,), ()), "os.setxattr": ((0,), ()),
                  "os.removexattr": ((0,), ())}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _second_layer(allowed_prefixes, writable_prefixes, masked):
    """An audit hook: not the boundary (the OS is), a second layer that names what was refused. It
    also refuses the modules the OS layer masks as files (`import` is raised for an import statement
    and for `_imp.create_dynamic` alike): with `isolation: process` nothing masks them otherwise."""
    denied = frozenset({"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                        "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
                        "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "ctypes.dlopen",
                        "ctypes.cdata"})
    prefixes, writable = tuple(allowed_prefixes), tuple(writable_prefixes)
    masked = frozenset(masked)
    realpath, fsdecode = os.path.realpath, os.fsdecode

    class SandboxDenied(PermissionError):
        pass

    def resolved(what, path):
        """The real path `what` names: only a plain str or bytes (a subclass could change under the check)."""
        if type(path) not in (str, bytes):
            raise SandboxDenied(f"sandbox: {what} of a path that is not a plain str or bytes")
        return realpath(fsdecode(path))

    def hook(event, args):
        if event in denied or event.startswith("ctypes."):
            raise SandboxDenied(f"sandbox: {event} is not allowed")
        if event == "import" and args and str(args[0]).partition(".")[0] in masked:
            raise ModuleNotFoundError(f"No module named {args[0]!r} (masked by the sandbox)", name=str(args[0]))
        if event == "open" and args:
            path = args[0]
            if type(path) is int:
                return
            full = resolved("open()", path)
            if not (full + "/").startswith(prefixes):
                raise SandboxDenied(f"sandbox: opening {full} is not allowed")
            mode, flags = (args[1], args[2]) if len(args) > 2 else (None, 0)
            writes = (type(flags) is int and flags & _WRITE_FLAGS) or (type(mode) is str and any(c in mode for c in "wax+"))
            if writes and not (full + "/").startswith(writable):
                raise SandboxDenied(f"sandbox: writing {full} is not allowed")
            # `os.open` of a directory gives a descriptor that later calls resolve names against, and
            # the `open` event of those calls does not carry it: only the working directory's
            if mode is None and not (full + "/").startswith(writable) and os.path.isdir(full):
                raise SandboxDenied(f"sandbox: a descriptor of the directory {full} is not allowed")
        if event in _CHANGES_PATHS:
            paths, dir_fds = _CHANGES_PATHS[event]
            if any(k < len(args) and args[k] not in (None, -1) for k in dir_fds):
                raise SandboxDenied(f"sandbox: {event} relative to a directory descriptor is not allowed")
            for k in paths:
                path = args[k] if k < len(args) else None
                if type(path) is int:  # a descriptor it opened (through the `open` check)
                    continue
                full = resolved(event, path)
                if not (full + "/").startswith(writable):
                    raise SandboxDenied(f"sandbox: {event} on {full} is not allowed")
        # SQLite opens (and makes) its file in C, past the `open` event: only in the working directory
        if event == "sqlite3.connect" and args and args[0] not in ("", ":memory:", b"", b":memory:"):
            full = resolved("sqlite3.connect()", args[0])
            if fsdecode(args[0]).startswith("file:") or not (full + "/").startswith(writable):
                raise SandboxDenied(f"sandbox: sqlite3.connect({args[0]!r}) is not allowed")

    sys.addaudithook(hook)


def _error_report(exc, filename):
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno
    return ["raise", type(exc).__name__[:100], str(exc)[:500], line]


def _mask_builtin_modules(masked):
    """The modules synth/sandbox.py masks with empty files, where this interpreter has them built into
    its executable instead (Debian's python3.11 has `_posixsubprocess`, whose fork_exec runs programs
    without the audit events the second layer denies): no file can mask those. Every other built-in
    module is imported now, the masked ones are marked missing, and `_imp.create_builtin`, the one way
    to make a built-in module, is removed, so none can be made from here on (not by clearing the
    mark, nor by calling it with a spec of one's own)."""
    built_in = [name for name in masked if name in sys.builtin_module_names]
    if not built_in:
        return
    import _imp
    import warnings

    with warnings.catch_warnings():  # `spwd` is deprecated
        warnings.simplefilter("ignore")
        for name in sys.builtin_module_names:
            if name not in masked and name not in sys.modules:
                __import__(name)
    for name in built_in:
        sys.modules[name] = None
    del _imp.create_builtin


def solution_process(config, solution_fd, requests, replies):
    low = 3  # every descriptor but these, however high its number (the tests' and the result's above all)
    for fd in sorted({solution_fd, requests, replies}):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 2**31 - 1)
    payload = marshal.loads(read_all(solution_fd))  # written by synth/sandbox.py, before the reply runs
    set_limits(config["limits"], config["processes"])
    _mask_builtin_modules(config["masked"])  # under the limits: what it imports counts against them
    if config["second_layer"]:
        _second_layer(config["allowed_prefixes"], config["writable_prefixes"], config["masked"])

    def leave(code=None):  # what `site` would define (the interpreter runs without it)
        raise SystemExit(code)

    builtins.exit = builtins.quit = leave
    names = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(payload["source"], "<solution>", "exec"), names)
        entry = payload["entry_point"]
        candidate = names.get(entry) if entry else None
        if entry and not callable(candidate):
            raise NameError(f"the reply defines no function {entry!r}")
    except BaseException as e:  # noqa: B902 - SystemExit too: the judge reports what ended the load
        send(replies, _error_report(e, "<solution>"))
        os._exit(0)
    send(replies, ["ready"])
    while True:
        try:
            request = receive(requests)
        except (EOFError, OSError):
            os._exit(0)
        try:
            args, kwargs = decode(request[0]), decode(request[1])
            result = candidate(*args, **kwargs)
        except BaseException as e:  # noqa: B902
            send(replies, _error_report(e, "<solution>"))
            continue
        try:
            send(replies, ["ok", encode(result)])
        except (TypeError, ValueError, RecursionError) as e:
            send(replies, ["raise", "TypeError", f"the function returned a value that is not plain data ({str(e)[:200]})",
                           None])


# ---- the judge ----

class CandidateRaised(Exception):
    """The solution raised, or ended, or sent nonsense: the call fails in the tests."""

    def __init__(self, error_type, message, line):
        super().__init__(f"{error_type}: {message}")
        self.error_type, self.line = error_type, line


def _clean_name(name):
    if type(name) is not str or not name or not set(name) <= _NAME_CHARS:
        return "InvalidReply"
    return name[:100]


class Solution:
    def __init__(self, pid, requests, replies):
        self.pid, self.requests, self.replies, self.ended = pid, requests, replies, None

    def _ended(self):
        """Why the solution's process is gone, from the kernel (not from anything it wrote)."""
        if self.ended is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                status = 0
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
                self.ended = "Timeout" if sig == signal.SIGXCPU else f"signal {sig}"
            else:
                self.ended = f"exit {os.WEXITSTATUS(status)}"
        return CandidateRaised(self.ended, "the solution's process ended", None)

    def message(self):
        try:
            return receive(self.replies)
        except (EOFError, OSError):
            raise self._ended() from None
        except (ValueError, RecursionError, UnicodeDecodeError):
            raise CandidateRaised("InvalidReply", "the solution's process sent a malformed reply", None) from None

    def raised(self, reply):
        if type(reply) is list and len(reply) == 4 and reply[0] == "raise":
            line = reply[3] if type(reply[3]) is int else None
            return CandidateRaised(_clean_name(reply[1]), "(from the solution) " + str(reply[2])[:500], line)
        return CandidateRaised("InvalidReply", "the solution's process sent a malformed reply", None)

    def call(self, args, kwargs):
        try:
            send(self.requests, [encode(list(args)), encode(dict(kwargs))])
        except OSError:
            raise self._ended() from None
        reply = self.message()
        if type(reply) is list and len(reply) == 2 and reply[0] == "ok":
            try:
                return decode(reply[1])
            except (ValueError, OverflowError, TypeError, RecursionError):
                raise CandidateRaised("InvalidReply", "the solution's process sent a malformed value", None) from None
        raise self.raised(reply)


def strict_eq(a, b):
    """`==` that also compares types, all the way down (True is not 1, 1.0 is not 1, a tuple is not a list)."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is list or ta is tuple:
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b))
    if ta is dict:
        return len(a) == len(b) and all(k in b and strict_eq(v, b[k]) for k, v in a.items())
    return a == b


def _test_line(exc):
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<tests>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def judge(config, tests_fd, nonce_fd, result_fd, solution):
    payload = marshal.loads(read_all(tests_fd))  # code objects compiled by synth/sandbox.py from trusted text
    nonce = read_all(nonce_fd).decode()
    set_limits(config["limits"], config["processes"])

    def report(status, error_type=None, where=None, line=None, detail=""):
        send(result_fd, {"nonce": nonce, "status": status, "error_type": error_type, "where": where, "line": line,
                         "detail": detail[:300]})
        os.close(result_fd)
        try:
            os.kill(solution.pid, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)

    def failed(error_type, where, line, detail):
        status = ("timeout" if error_type == "Timeout" else "memory" if error_type == "MemoryError"
                  else "denied" if error_type in ("SandboxDenied", "PermissionError") else "failed")
        report(status, error_type, where, line, detail)

    try:
        ready = solution.message()
        if ready != ["ready"]:
            raise solution.raised(ready)
    except CandidateRaised as e:
        failed(e.error_type, "solution", e.line, str(e))
    if payload["tests"] is None:
        report("failed", "NoTests", detail="a bare script without check(): nothing proves it right")
    names = {"__name__": "__synth_tests__", "__builtins__": builtins, "__strict_eq__": strict_eq}
    entry = payload["entry_point"]

    def candidate(*args, **kwargs):
        return solution.call(args, kwargs)

    candidate.__name__ = candidate.__qualname__ = entry
    try:
        exec(payload["prelude"], names)
        exec(payload["tests"], names)
        names[entry] = candidate
        check = names["check"]
    except BaseException as e:  # noqa: B902 - the problem's own tests do not load: not the reply's fault
        _print_exception(e)
        report("error", type(e).__name__, "tests", _test_line(e), f"the problem's tests do not load: {e!r}")
    try:
        check(candidate)
    except CandidateRaised as e:
        failed(e.error_type, "solution", e.line, str(e))
    except BaseException as e:  # noqa: B902
        _print_exception(e)
        failed(type(e).__name__[:100], "tests", _test_line(e), f"{type(e).__name__}: {e}")
    report("passed")


def _print_exception(e):
    import traceback  # only when something failed: it costs start-up time

    traceback.print_exception(e)


def main():
    config = loads(sys.argv[1])
    fds = config["fds"]
    requests_r, requests_w = os.pipe()
    replies_r, replies_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(requests_w)
            os.close(replies_r)
            solution_process(config, fds["solution"], requests_r, replies_w)
        finally:
            os._exit(1)
    os.close(requests_r)
    os.close(replies_w)
    os.close(fds["solution"])
    try:
        judge(config, fds["tests"], fds["nonce"], fds["result"], Solution(pid, requests_w, replies_r))
    finally:
        os._exit(1)


if __name__ == "__main__":
    main()
