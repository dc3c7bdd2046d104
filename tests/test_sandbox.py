"""The sandbox against replies an adversarial model would write, through the real path (extract_code ->
checking_program -> run_program, inside the verify stage): no family of attacks earns a pass, touches
or reads a host file, reaches a host socket or leaves a process behind, and the stage completes with
the honest reply still correct. HumanEval's 164 canonical solutions pass; 164 `return None` stubs fail."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import synth.sandbox as sandbox
from schemas import Generation
from synth.code import checking_program, extract_code
from synth.recipe import FileSeeds, VerifyStage
from synth.sandbox import Limits, SandboxUnavailable, run_program
from synth.seeds import load_seeds
from synth.stages.verify import VerifyAnswers
from tests.conftest import SHARED

FAST = Limits(timeout_s=4, cpu_seconds=4, memory_mb=256)
HUMANEVAL = SHARED / "data" / "humaneval" / "HumanEval.jsonl.gz"
REPO = Path(__file__).resolve().parents[1]
# HumanEval/0's right answer, run only when the attack before it worked: a pass would prove the attack.
RIGHT = ("    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n"
         "            if i != j and abs(a - b) < threshold:\n                return True\n    return False\n")
HEADER = "from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"


@pytest.fixture(scope="module")
def seed():
    return load_seeds(FileSeeds(type="file", path=HUMANEVAL, format="humaneval", limit=1))[0]


@pytest.fixture
def host(tmp_path):
    """A canary file with a secret, a loopback listener, a free port, and the sandbox processes now."""
    canary = tmp_path / "canary.txt"
    canary.write_text("canary-secret-7f3a")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free_port = probe.getsockname()[1]
    probe.close()
    state = {"canary": canary, "port": listener.getsockname()[1], "free_port": free_port,
             "before": (canary.stat().st_mtime_ns, canary.stat().st_mode, canary.stat().st_nlink),
             "pids": _sandbox_pids(), "dir": sorted(os.listdir(tmp_path))}
    yield state
    listener_accepted = True
    try:
        listener.accept()
    except BlockingIOError:
        listener_accepted = False
    listener.close()
    state["accepted"] = listener_accepted


def _sandbox_pids() -> set[int]:
    """Sandbox processes that are this test process's children or orphans (so another process's
    sandboxes running meanwhile do not count)."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if (b"sandbox_harness.py" in cmd or b"/sandbox/harness.py" in cmd or cmd.startswith(b"bwrap\0")) \
                    and ppid in (1, os.getpid()):
                out.add(int(d.name))
    return out


def _host_intact(host, result, texts) -> None:
    canary: Path = host["canary"]
    assert canary.read_text() == "canary-secret-7f3a"
    st = canary.stat()
    assert (st.st_mtime_ns, st.st_mode, st.st_nlink) == host["before"]
    assert sorted(os.listdir(canary.parent)) == host["dir"]  # nothing created, renamed or linked next to it
    for r in result.records:  # nothing read from the host reaches the dataset
        assert "canary-secret" not in (r.error_detail or "") + (r.extracted_answer or "").replace(
            "canary-secret-7f3a", "")
    with pytest.raises(OSError):  # nothing listens on the port the programs tried to take
        socket.create_connection(("127.0.0.1", host["free_port"]), timeout=0.5).close()
    time.sleep(0.3)
    assert not (_sandbox_pids() - host["pids"]), "a sandboxed process outlived its run"


def _run_family(seed, host, bodies: dict[str, str], timeout_s: float = 6):
    """The verify stage over the attacks and one honest reply; returns {name: (status, error_type)}."""
    def reply(body: str) -> str:
        return f"Here you go:\n```python\n{HEADER}{body}```\n"

    gens = [Generation(f"{seed.seed_id}-{k}", seed.seed_id, "m", 0, [], reply(b), "stop", 1, 1) for k, b in bodies.items()]
    gens.append(Generation(f"{seed.seed_id}-honest", seed.seed_id, "m", 0, [], reply(RIGHT), "stop", 1, 1))
    result = VerifyAnswers(VerifyStage(timeout_s=timeout_s, memory_mb=256)).run(gens, [seed])
    got = {r.solution_id.rsplit("-", 1)[1]: r for r in result.records}
    assert got["honest"].is_correct and got["honest"].answer_status == "correct"
    for name in bodies:
        assert not got[name].is_correct and got[name].answer_status != "correct", (name, got[name].error_type)
    _host_intact(host, result, bodies)
    return {k: (r.answer_status, r.error_type) for k, r in got.items()}


def test_reward_hacks_do_not_pass(seed, host):
    wrong = "    return False\n"
    got = _run_family(seed, host, {
        "sysexit": "    return False\nimport sys\nsys.exit(0)\n",
        "osexit": "    return False\nimport os\nos._exit(0)\n",
        "exit": "    return False\nexit()\n",
        "raisesystemexit": "    raise SystemExit(0)\n",
        "exitincall": "    import os\n    os._exit(0)\n",
        "atexit": wrong + "import atexit, os\natexit.register(os._exit, 0)\n",
        "excepthook": wrong + "import sys, os\nsys.excepthook = lambda *a: os._exit(0)\n",
        "alwaysequal": "    class Eq:\n        def __eq__(self, other):\n            return True\n"
                       "        __hash__ = object.__hash__\n    return Eq()\n",
        "boolsubclass": "    class B(int):\n        def __eq__(self, o):\n            return True\n    return B(1)\n",
        "intforbool": "    return 1 if len(numbers) % 2 else 0\n",
        "settrace": wrong + "import sys\nsys.settrace(lambda *a: None)\nsys.setprofile(lambda *a: None)\n",
        # the tests' expected values and the judge's state are in another process: nothing to find
        "frames": "    import sys, gc\n    f = sys._getframe()\n    while f.f_back:\n        f = f.f_back\n"
                  "    for o in gc.get_objects():\n        if isinstance(o, dict) and 'nonce' in o:\n"
                  "            import os\n            os.write(o['fds']['result'], o['nonce'].encode())\n"
                  "    return False\n",
        "forgefds": wrong + "import os\nfor fd in range(3, 256):\n    try:\n"
                    "        os.write(fd, b'\\x00\\x00\\x00\\x11{\"status\":\"passed\"}')\n    except OSError:\n"
                    "        pass\n",
        "stderrtext": wrong + "import sys\nprint('sandbox: passed', file=sys.stderr)\n",
    })
    assert got["alwaysequal"][1] == "TypeError"  # it cannot even be sent to the tests
    assert got["intforbool"][1] == "AssertionError"  # 1 is not True


def test_hook_bypasses_do_not_reach_the_host(seed, host):
    c = str(host["canary"])
    got = _run_family(seed, host, {
        "globals": "    import sys\n    m = sys.modules['__main__'].__dict__\n    m.pop('_DENIED', None)\n"
                   f"    open({c!r}).read()\n" + RIGHT,
        "forkexec": "    import _posixsubprocess\n" + RIGHT,
        "strsubclass": "    class P(str):\n        pass\n"
                       f"    open(P({c!r})).read()\n" + RIGHT,
        "hardlink": f"    import os\n    os.link({c!r}, 'x')\n    open('x').read()\n" + RIGHT,
        "mknod": "    import os, stat\n    os.mknod('/work/sda', stat.S_IFBLK | 0o600, os.makedev(8, 0))\n" + RIGHT,
        "sqlite": f"    import sqlite3\n    sqlite3.connect({c!r}).execute('select 1').fetchall()\n" + RIGHT,
        "symlink": f"    import os\n    os.symlink({c!r}, 'l')\n    open('l').read()\n" + RIGHT,
        "ctypes": "    import ctypes\n" + RIGHT,
        "testcapi": "    import _testcapi\n" + RIGHT,
        "compiled": "    import os\n    open('evil.so', 'wb').write(b'\\x7fELF')\n    import sys\n"
                    "    sys.path.insert(0, '.')\n    import evil\n" + RIGHT,
        # where the interpreter has _posixsubprocess built in (Debian's), no file masks it: cleared
        # marks and a spec of one's own must not make it either
        "unmasked": "    import sys\n    sys.modules.pop('_posixsubprocess', None)\n"
                    "    import _posixsubprocess\n    _posixsubprocess.fork_exec\n" + RIGHT,
        "createbuiltin": "    import _imp, importlib.machinery as m\n"
                         "    _imp.create_builtin(m.ModuleSpec('_posixsubprocess', m.BuiltinImporter)).fork_exec\n" + RIGHT,
    })
    assert got["forkexec"][1] in ("ModuleNotFoundError", "ImportError")


def test_host_files_processes_and_proc_are_out_of_reach(seed, host):
    c = str(host["canary"])
    victim = subprocess.Popen(["sleep", "60"])  # a host process the programs try to kill
    _run_family(seed, host, {
        "remove": f"    import os\n    os.remove({c!r})\n" + RIGHT,
        "rename": f"    import os\n    os.rename({c!r}, {c + '.moved'!r})\n" + RIGHT,
        "chmod": f"    import os\n    os.chmod({c!r}, 0o777)\n" + RIGHT,
        "utime": f"    import os\n    os.utime({c!r}, (0, 0))\n" + RIGHT,
        "listroot": "    import os\n    assert 'etc' in os.listdir('/') or 'proc' in os.listdir('/')\n" + RIGHT,
        "proc": "    open('/proc/1/environ').read()\n" + RIGHT,
        "hostsecret": "    import os\n    assert any('SECRET' in k for k in os.environ)\n" + RIGHT,
        "kill": f"    import os, signal\n    os.kill({victim.pid}, signal.SIGKILL)\n" + RIGHT,
        "pidfd": f"    import os, signal\n    signal.pidfd_send_signal(os.pidfd_open({victim.pid}), signal.SIGKILL)\n"
                 + RIGHT,
        "killall": "    import os, signal\n    for pid in range(2, 4096):\n        try:\n"
                   "            os.kill(pid, signal.SIGKILL)\n        except Exception:\n            pass\n"
                   "    return False\n",
        "bigfile": "    open('/work/big', 'wb').write(b'x' * (200 << 20))\n" + RIGHT,
        "rootfs": "    open('/evil', 'w').write('x')\n" + RIGHT,
    })
    assert victim.poll() is None  # still running
    victim.kill()
    victim.wait()


def test_network_is_unreachable(seed, host):
    got = _run_family(seed, host, {
        "connect": f"    import socket\n    socket.create_connection(('127.0.0.1', {host['port']}), timeout=1)\n" + RIGHT,
        "rawsocket": "    import _socket\n    s = _socket.socket()\n"
                     f"    s.connect(('127.0.0.1', {host['port']}))\n" + RIGHT,
        "listen": f"    import _socket\n    s = _socket.socket()\n    s.bind(('127.0.0.1', {host['free_port']}))\n"
                  "    s.listen()\n    import time\n    time.sleep(2)\n    return False\n",
        "dns": "    import socket\n    socket.getaddrinfo('pypi.org', 443)\n" + RIGHT,
    })
    assert host and got["connect"][0] == "incorrect"


def test_no_process_outlives_the_run(seed, host, tmp_path):
    marker = tmp_path / "survivor.txt"
    _run_family(seed, host, {
        "fork": f"    import os, time\n    if os.fork() == 0:\n        time.sleep(2)\n"
                f"        open({str(marker)!r}, 'w').write('x')\n    return False\n",
        "threads": "    import threading, time\n    threading.Thread(target=time.sleep, args=(30,), daemon=False).start()\n"
                   "    while True:\n        pass\n",
        "setsid": "    import os, time\n    os.setsid()\n    time.sleep(30)\n",
        "forkbomb": "    import os\n    while True:\n        try:\n            os.fork()\n        except Exception:\n"
                    "            pass\n",
        "spawn": "    import os\n    os.posix_spawn('/bin/sleep', ['sleep', '30'], {})\n" + RIGHT,
        "ignorexcpu": "    import signal\n    signal.signal(signal.SIGXCPU, signal.SIG_IGN)\n    while True:\n        pass\n",
    }, timeout_s=5)
    time.sleep(2.2)
    assert not marker.exists()
    assert not (_sandbox_pids() - host["pids"])


def test_parent_side_tricks_do_not_break_the_caller(seed, host):
    got = _run_family(seed, host, {
        "deletes": "    import os, shutil\n    for n in os.listdir('.'):\n        os.remove(n)\n    return False\n",
        "fifo": "    import os\n    os.mkfifo('stderr.txt')\n    return False\n",
        "devzero": "    import os\n    os.symlink('/dev/zero', 'stderr.txt')\n    return False\n",
        "environ": "    import os\n    os.symlink('/proc/self/environ', 'stderr.txt')\n    return False\n",
        "memoryerrortext": "    import sys\n    print('MemoryError', file=sys.stderr)\n    return False\n",
        "floodsstderr": "    import sys\n    while True:\n        sys.stderr.write('x' * 65536)\n",
        "closesstderr": "    import os\n    os.close(2)\n    return False\n",
        "killsjudge": "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    return False\n",
        "garbage": "    import os\n    os.write(1, b'\\xff' * 100)\n    return False\n",
    }, timeout_s=5)
    assert got["memoryerrortext"][1] != "MemoryError"  # the label is not read from stderr


def test_the_os_boundary_holds_without_the_audit_hook(seed, host, tmp_path):
    """The same attacks with the second layer (the audit hook) left out: namespaces, seccomp, masked
    modules, the pids cgroup and rlimits alone keep every one from the host and from a pass."""
    if sandbox.isolation_problem("namespaces"):
        pytest.skip("no bubblewrap here")
    c, marker = str(host["canary"]), tmp_path / "survivor.txt"
    victim = subprocess.Popen(["sleep", "60"])
    bodies = {
        "read": f"    open({c!r}).read()\n" + RIGHT,
        "write": f"    open({c!r}, 'a').write('x')\n" + RIGHT,
        "remove": f"    import os\n    os.remove({c!r})\n" + RIGHT,
        "listroot": "    import os\n    assert {'etc', 'home', 'var'} & set(os.listdir('/'))\n" + RIGHT,
        "proc": "    open('/proc/self/environ').read()\n" + RIGHT,
        "connect": f"    import socket\n    socket.create_connection(('127.0.0.1', {host['port']}), timeout=1)\n" + RIGHT,
        "listen": f"    import socket, time\n    s = socket.socket()\n    s.bind(('127.0.0.1', {host['free_port']}))\n"
                  "    s.listen()\n    time.sleep(2)\n    return False\n",
        "spawn": "    import os\n    os.posix_spawn('/bin/sh', ['sh', '-c', 'true'], {})\n" + RIGHT,
        "subprocess": "    import subprocess\n    subprocess.run(['true'])\n" + RIGHT,
        "fork": f"    import os, time\n    if os.fork() == 0:\n        time.sleep(1.5)\n"
                f"        open({str(marker)!r}, 'w').write('x')\n        os._exit(0)\n    return False\n",
        "forkbomb": "    import os\n    n = 0\n    while n < 10000:\n        try:\n            os.fork()\n"
                    "            n += 1\n        except OSError:\n            pass\n    return False\n",
        "kill": f"    import os, signal\n    os.kill({victim.pid}, signal.SIGKILL)\n" + RIGHT,
        "killjudge": "    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n    return False\n",
        "ctypes": "    import ctypes\n    ctypes.memmove\n" + RIGHT,
        "mknod": "    import os, stat\n    os.mknod('/work/sda', stat.S_IFBLK | 0o600, os.makedev(8, 0))\n" + RIGHT,
        "bigfile": "    open('/work/big', 'wb').write(b'x' * (200 << 20))\n" + RIGHT,
        "alwaysequal": "    class Eq:\n        def __eq__(self, other):\n            return True\n    return Eq()\n",
        "exit": "    return False\nimport os\nos._exit(0)\n",
    }
    programs = {k: checking_program(seed, extract_code(f"```python\n{HEADER}{b}```")) for k, b in bodies.items()}
    programs["honest"] = checking_program(seed, extract_code(f"```python\n{HEADER}{RIGHT}```"))
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(programs, pool.map(lambda p: run_program(p, FAST, second_layer=False), programs.values())))
    assert results.pop("honest").passed
    for name, r in results.items():
        assert not r.passed, name
    time.sleep(1.6)
    assert not marker.exists()
    assert victim.poll() is None
    victim.kill()
    victim.wait()
    canary = host["canary"]
    assert canary.read_text() == "canary-secret-7f3a" and sorted(os.listdir(canary.parent)) == sorted(
        host["dir"] + ["survivor.txt"] * marker.exists())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", host["free_port"]), timeout=0.5).close()
    assert not (_sandbox_pids() - host["pids"])


def test_the_solution_holds_no_descriptor_but_its_two_pipes():
    """Not the result's, the tests' or the nonce's, even when they get high numbers (a busy caller)."""
    import resource

    held = [os.open("/dev/null", os.O_RDONLY) for _ in range(min(1100, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 200))]
    try:
        src = ("import os\ndef f():\n    n = 0\n    for fd in range(3, 8192):\n        try:\n"
               "            os.fstat(fd)\n            n += 1\n        except OSError:\n            pass\n    return n\n"
               "\ndef check(c):\n    assert c() == 2\n\ncheck(f)\n")
        for isolation in ("namespaces", "process"):
            r = run_program(src, FAST, isolation, second_layer=False)
            assert r.passed, (isolation, r.detail, r.stderr[-500:])
    finally:
        for fd in held:
            os.close(fd)


def test_a_run_that_fails_inside_the_sandbox_machinery_is_an_error_not_a_label():
    r = run_program("def f():\n    return 1\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n",
                    Limits(timeout_s=3, memory_mb=1))  # too little memory for the interpreter to start
    assert r.status in ("error", "memory", "failed") and not r.passed
    assert run_program("def f(): pass", None).status == "error"  # type: ignore[arg-type] - any exception: error


@pytest.mark.parametrize("name,source,status,error_type", [
    ("passes", "def f(x):\n    return x + 1\n\ndef check(c):\n    assert c(1) == 2\n\ncheck(f)\n", "passed", None),
    ("fails a test", "def f(x):\n    return x\n\ndef check(c):\n    assert c(1) == 2\n\ncheck(f)\n", "failed",
     "AssertionError"),
    ("syntax error", "def f(:\n    pass\n", "failed", "SyntaxError"),
    ("a bare script proves nothing", "assert 1 + 1 == 2\n", "failed", "NoTests"),
    ("loops forever", "while True:\n    pass\n", "timeout", "Timeout"),
    ("sleeps forever", "import time\ntime.sleep(100)\n", "timeout", "Timeout"),
    ("allocates without bound", "x = []\nwhile True:\n    x.append(' ' * 10**7)\n", "memory", "MemoryError"),
    ("forks", "import os\nos.fork()\n", "denied", "SandboxDenied"),
    ("opens a socket", "import socket\nsocket.create_connection(('127.0.0.1', 9))\n", "denied", "SandboxDenied"),
    ("reads a host file", "print(open('/etc/hostname').read())\n", "denied", "SandboxDenied"),
])
def test_sandbox_outcomes(name, source, status, error_type):
    # a short limit where the run must hit it, a long one where it must not (a loaded machine is slow)
    limits = Limits(timeout_s=2, cpu_seconds=2, memory_mb=256) if status == "timeout" else \
        Limits(timeout_s=20, cpu_seconds=20, memory_mb=256)
    r = run_program(source, limits)
    assert (r.status, r.error_type) == (status, error_type), (name, r.detail, r.stderr[-500:])
    assert r.wall_seconds < limits.timeout_s + 2


def test_tests_compare_types_strictly_and_keep_float_tolerance():
    def prog(ret, test):
        return f"def f(x):\n    return {ret}\n\ndef check(c):\n    {test}\n\ncheck(f)\n"

    assert run_program(prog("[1, 2]", "assert c(0) == [1, 2]"), FAST).passed
    assert not run_program(prog("(1, 2)", "assert c(0) == [1, 2]"), FAST).passed
    assert not run_program(prog("[1.0, 2]", "assert c(0) == [1, 2]"), FAST).passed
    assert not run_program(prog("{'a': True}", "assert c(0) == {'a': 1}"), FAST).passed
    assert run_program(prog("2 / 3", "assert abs(c(0) - 0.6666667) < 1e-6"), FAST).passed
    assert not run_program(prog("0", "assert not (c(0) != 0.0)"), FAST).passed


def test_the_sandbox_environment_hides_the_caller(monkeypatch):
    monkeypatch.setenv("SYNTH_TEST_SECRET", "hunter2")
    here = os.getcwd()
    body = ("import os\n"
            "assert 'SYNTH_TEST_SECRET' not in os.environ and 'hunter2' not in str(os.environ)\n"
            f"assert os.getcwd() != {here!r} and os.getuid() != 0\n"
            "open('scratch.txt', 'w').write('its own directory is fine')\n"
            "def f():\n    return 1\n")
    r = run_program(body + "\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n", FAST)
    assert r.passed, r.stderr
    # each run has its own directory: the next run does not see the last one's file
    again = run_program("import os\ndef f():\n    return os.path.exists('scratch.txt') or os.listdir('.') != []\n"
                        "\ndef check(c):\n    assert c() is False\n\ncheck(f)\n", FAST)
    assert again.passed, again.stderr


def test_without_bubblewrap_code_stages_stop_unless_the_recipe_opts_out(seed, monkeypatch):
    """No bwrap on PATH (really absent, not mocked): the stage stops before running anything, saying
    how to get it; with `isolation: process` it runs, and the honest reply still passes."""
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sandbox, "_checked", {})
    gen = Generation(f"{seed.seed_id}-g", seed.seed_id, "m", 0, [], f"```python\n{HEADER}{RIGHT}```", "stop", 1, 1)
    with pytest.raises(SandboxUnavailable, match="apt-get install -y bubblewrap"):
        VerifyAnswers(VerifyStage(timeout_s=5)).run([gen], [seed])
    result = VerifyAnswers(VerifyStage(timeout_s=5, isolation="process")).run([gen], [seed])
    assert result.records[0].is_correct
    before = _sandbox_pids()
    hacks = {"exit": "    return False\nimport os\nos._exit(0)\n",
             "survivor": "    import os, time\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(60)\n"
                         "    return False\n"}
    bad = VerifyAnswers(VerifyStage(timeout_s=5, isolation="process")).run(
        [Generation(f"{seed.seed_id}-{k}", seed.seed_id, "m", 0, [], gen.text.replace(RIGHT, v), "stop", 1, 1)
         for k, v in hacks.items()], [seed])
    assert not any(r.is_correct for r in bad.records)
    survivor = checking_program(seed, extract_code(gen.text.replace(RIGHT, hacks["survivor"])))
    assert not run_program(survivor, FAST, "process", second_layer=False).passed  # the fork itself works here
    if os.geteuid() == 0:  # the pids cgroup kills what a run leaves, also without namespaces
        time.sleep(0.3)
        assert not (_sandbox_pids() - before)


@pytest.mark.parametrize("isolation", ["namespaces", "process"])
def test_masked_modules_cannot_be_made_in_either_isolation(isolation):
    """`_posixsubprocess.fork_exec` runs programs without the audit events the second layer denies. The
    OS layer masks its file; with `isolation: process` nothing does, and Debian's interpreter has it
    built in: made from its file's spec or as a built-in, it must not load in any of these."""
    make = ("import _imp, importlib.machinery as m\n"
            "spec = m.PathFinder.find_spec('_posixsubprocess')\n"
            "mod = _imp.create_dynamic(spec) if spec is not None else "
            "_imp.create_builtin(m.ModuleSpec('_posixsubprocess', m.BuiltinImporter))\n"
            "mod.fork_exec\n")
    honest = "def f():\n    return 1\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n"
    assert run_program(honest, FAST, isolation).passed
    for source in ("import _posixsubprocess\n", "import subprocess\n", make, "import spwd\n"):
        r = run_program(source + honest, FAST, isolation)
        assert not r.passed and r.status != "passed", (isolation, source, r)


@pytest.mark.parametrize("isolation", ["namespaces", "process"])
def test_files_opened_in_c_stay_out_of_reach(isolation, tmp_path):
    """readline and SQLite open files by path in C, past the audit hook's `open` check: with `isolation:
    process` (as root here) readline read /etc/shadow line by line. Neither may read or make a host
    file; SQLite in memory still works."""
    import sysconfig

    secret, made = tmp_path / "secret.txt", tmp_path / "made.db"
    stdlib_db = os.path.join(sysconfig.get_paths()["stdlib"], f"synth-sandbox-probe-{os.getpid()}.db")
    secret.write_text("the host's secret\n")
    honest = "def f():\n    return 1\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n"
    assert run_program("import sqlite3\nsqlite3.connect(':memory:').execute('select 1')\n" + honest,
                       FAST, isolation).passed
    attacks = [f"import readline, sys\nreadline.read_history_file({str(secret)!r})\n"
               "print(readline.get_history_item(1), file=sys.stderr)\n",
               f"import sqlite3\nsqlite3.connect({str(made)!r}).execute('create table t (x)')\n",
               f"import sqlite3\nsqlite3.connect('file:{made}?mode=rwc', uri=True).execute('create table t (x)')\n",
               f"import sqlite3\nsqlite3.connect({stdlib_db!r}).execute('create table t (x)')\n"]
    try:
        for source in attacks:
            r = run_program(source + honest, FAST, isolation)
            assert not r.passed and "the host's secret" not in r.stderr, (isolation, source, r)
            assert not made.exists() and not os.path.exists(stdlib_db), (isolation, source)
    finally:
        if os.path.exists(stdlib_db):
            os.remove(stdlib_db)


@pytest.mark.parametrize("isolation", ["namespaces", "process"])
def test_host_files_cannot_be_changed_in_either_isolation(isolation, tmp_path):
    """With `isolation: process` the audit hook is all that keeps the reply off the host's files (as
    root here, `os.remove` of a host file and writing into the standard library both went through):
    every change by path is held to the working directory, where files can still be made and removed."""
    import sysconfig

    host = tmp_path / "host.txt"
    host.write_text("the host's file\n")
    probe = os.path.join(sysconfig.get_paths()["stdlib"], f"synth-sandbox-probe-{os.getpid()}.py")
    honest = "def f():\n    return 1\n\ndef check(c):\n    assert c() == 1\n\ncheck(f)\n"
    own = ("import os\nopen('a.txt', 'w').write('x')\nos.mkdir('d')\nos.rename('a.txt', 'd/b.txt')\n"
           "os.chmod('d/b.txt', 0o600)\nos.remove('d/b.txt')\nos.rmdir('d')\n")
    assert run_program(own + honest, FAST, isolation).passed
    h = str(host)
    attacks = {"write": f"open({h!r}, 'a').write('x')\n", "stdlib": f"open({probe!r}, 'w').write('x')\n",
               "remove": f"import os\nos.remove({h!r})\n", "truncate": f"import os\nos.truncate({h!r}, 0)\n",
               "rename": f"import os\nos.rename({h!r}, 'stolen.txt')\n", "link": f"import os\nos.link({h!r}, 'l')\n",
               "chmod": f"import os\nos.chmod({h!r}, 0o777)\n", "utime": f"import os\nos.utime({h!r}, (0, 0))\n",
               "mkdir": f"import os\nos.mkdir({str(tmp_path / 'made')!r})\n",
               "dirfd": f"import os\nd = os.open({str(tmp_path)!r}, os.O_RDONLY)\nos.remove('host.txt', dir_fd=d)\n",
               "stdlibfd": f"import os\nd = os.open({os.path.dirname(probe)!r}, os.O_RDONLY)\n"
                           f"os.close(os.open({os.path.basename(probe)!r}, os.O_WRONLY | os.O_CREAT, dir_fd=d))\n"}
    before = host.stat()
    try:
        for name, source in attacks.items():
            r = run_program(source + honest, FAST, isolation)
            assert not r.passed, (isolation, name, r)
        after = host.stat()
        assert host.read_text() == "the host's file\n" and (after.st_mode, after.st_mtime) == (before.st_mode, before.st_mtime)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["host.txt"] and not os.path.exists(probe)
    finally:
        if os.path.exists(probe):
            os.remove(probe)


def test_code_extraction():
    assert extract_code("Here:\n```python\ndef f():\n    return 1\n```\nDone.") == "def f():\n    return 1\n"
    assert extract_code("```\nx = 1\n```\n```py\ndef g(a):\n    return a\n```") == "def g(a):\n    return a\n"
    assert extract_code("def h():\n    return 2\n") == "def h():\n    return 2\n"
    assert extract_code("I cannot help with that.") is None


def test_humaneval_canonical_solutions_pass_and_stubs_fail():
    seeds = load_seeds(FileSeeds(type="file", path=HUMANEVAL, format="humaneval"))
    assert len(seeds) == 164 and all(s.tests and s.entry_point for s in seeds)
    gold = [Generation(f"{s.seed_id}-gold", s.seed_id, "gold", 0, [], f"```python\n{s.gold_steps[0]}```", "stop", 1, 1)
            for s in seeds]
    # The body alone (no signature): the problem's own header is put back in front.
    body_only = [Generation(f"{s.seed_id}-body", s.seed_id, "m", 0, [], s.gold_steps[0][len(s.problem):], "stop", 1, 1)
                 for s in seeds[:5]]
    stubs = [Generation(f"{s.seed_id}-stub", s.seed_id, "m", 0, [], f"```python\n{s.problem}    return None\n```",
                        "stop", 1, 1) for s in seeds]
    no_code = [Generation(f"{seeds[0].seed_id}-words", seeds[0].seed_id, "m", 0, [], "Sure! I would sort it.", "stop", 1, 1)]
    result = VerifyAnswers(VerifyStage(timeout_s=20)).run(gold + body_only + stubs + no_code, seeds)
    by_id = {s.solution_id: s for s in result.records}
    failing = [(s.solution_id, s.error_type, s.error_detail) for s in result.records
               if s.solution_id.endswith(("-gold", "-body")) and not s.is_correct]
    assert failing == []
    for s in (by_id[g.generation_id] for g in stubs):
        assert s.answer_status == "incorrect" and s.error_type in ("AssertionError", "TypeError")
        if s.error_type == "AssertionError":
            assert s.error_detail.startswith("assert")  # the failing test's line
    assert by_id[no_code[0].generation_id].answer_status == "no_answer"
    assert result.report.labels == {"correct": 169, "incorrect": 164, "no_answer": 1}


def test_checking_program_keeps_the_problems_imports():
    seeds = load_seeds(FileSeeds(type="file", path=HUMANEVAL, format="humaneval", limit=1))
    code = "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n    return False\n"
    program = checking_program(seeds[0], code)
    assert program.index("from typing import List") < program.index("def has_close_elements")
    assert program.rstrip().endswith("check(has_close_elements)")
    assert program.tests == seeds[0].tests and "return False" in program.solution
    assert "return False" not in program.prelude


def test_bench_small_mode_prints_its_figures():
    out = subprocess.run([sys.executable, str(REPO / "bench" / "sandbox.py"), "--small"], capture_output=True,
                         text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    for figure in ("isolated", "plain python -I", "programs/s", "median ms", "ratio"):
        assert figure in out.stdout
    assert "canonical solutions passing: isolated 10/10, plain 10/10" in out.stdout
