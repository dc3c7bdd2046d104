"""The sandbox stops or denies what generated code must not do, and the build goes on; code answers
are checked against HumanEval's own tests (every canonical solution passes, a stub fails)."""

from __future__ import annotations

import os

import pytest

from schemas import Generation
from synth.code import checking_program, extract_code
from synth.recipe import FileSeeds, VerifyStage
from synth.sandbox import Limits, run_program
from synth.seeds import load_seeds
from synth.stages.verify import VerifyAnswers
from tests.conftest import SHARED

FAST = Limits(timeout_s=3, cpu_seconds=3, memory_mb=256)
HUMANEVAL = SHARED / "data" / "humaneval" / "HumanEval.jsonl.gz"


@pytest.mark.parametrize("name,source,status,error_type", [
    ("passes", "def f(x):\n    return x + 1\nassert f(1) == 2\n", "passed", None),
    ("fails a test", "def f(x):\n    return x\ndef check(c):\n    assert c(1) == 2\ncheck(f)\n", "failed",
     "AssertionError"),
    ("syntax error", "def f(:\n    pass\n", "failed", "SyntaxError"),
    ("loops forever", "while True:\n    pass\n", "timeout", "Timeout"),
    ("sleeps forever", "import time\ntime.sleep(100)\n", "timeout", "Timeout"),
    ("prints forever", "while True:\n    print('x' * 1000)\n", "timeout", "Timeout"),
    ("allocates without bound", "x = []\nwhile True:\n    x.append(' ' * 10**7)\n", "memory", "MemoryError"),
    ("forks", "import os\nos.fork()\n", "denied", "SandboxDenied"),
    ("multiprocessing", "import multiprocessing as m\np = m.Process(target=print)\np.start()\n", "denied",
     "SandboxDenied"),
    ("runs a command", "import subprocess\nsubprocess.run(['true'])\n", "denied", "SandboxDenied"),
    ("os.system", "import os\nos.system('true')\n", "denied", "SandboxDenied"),
    ("opens a socket", "import socket\nsocket.create_connection(('127.0.0.1', 9))\n", "denied", "SandboxDenied"),
    ("loads C code", "import ctypes\nctypes.CDLL(None)\n", "denied", "SandboxDenied"),
    ("reads a user file", "print(open('/etc/hostname').read())\n", "denied", "SandboxDenied"),
])
def test_sandbox_outcomes(name, source, status, error_type):
    r = run_program(source, FAST)
    assert (r.status, r.error_type) == (status, error_type), (name, r.stderr[-500:])
    assert r.wall_seconds < FAST.timeout_s + 2


def test_sandbox_hides_the_environment_and_the_callers_files(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNTH_TEST_SECRET", "hunter2")
    assert os.environ["SYNTH_TEST_SECRET"] == "hunter2"
    r = run_program("import os\nassert 'SYNTH_TEST_SECRET' not in os.environ and 'hunter2' not in str(os.environ)\n"
                    "assert os.getcwd() != " + repr(os.getcwd()) + "\n"
                    "open('scratch.txt', 'w').write('own directory is fine')\n", FAST)
    assert r.passed, r.stderr
    private = tmp_path / "private.txt"
    private.write_text("secret")
    denied = run_program(f"print(open({str(private)!r}).read())\n", FAST)
    assert denied.status == "denied" and "secret" not in denied.stderr


def test_timeout_kills_what_the_program_left_running():
    """A program that escapes into a child (were process creation allowed) is killed with its group;
    here the fork is denied, and a busy loop after a denied fork still times out."""
    r = run_program("import os\ntry:\n    os.fork()\nexcept PermissionError:\n    pass\nwhile True:\n    pass\n", FAST)
    assert r.status == "timeout"


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
                        "stop", 1, 1) for s in seeds[:20]]
    no_code = [Generation(f"{seeds[0].seed_id}-words", seeds[0].seed_id, "m", 0, [], "Sure! I would sort it.", "stop", 1, 1)]
    result = VerifyAnswers(VerifyStage(timeout_s=10)).run(gold + body_only + stubs + no_code, seeds)
    by_id = {s.solution_id: s for s in result.records}
    failing = [(s.solution_id, s.error_type, s.error_detail) for s in result.records
               if s.solution_id.endswith(("-gold", "-body")) and not s.is_correct]
    assert failing == []
    for s in (by_id[g.generation_id] for g in stubs):
        assert s.answer_status == "incorrect" and s.error_type in ("AssertionError", "TypeError")
        if s.error_type == "AssertionError":
            assert s.error_detail.startswith("assert")  # the failing test's line
    assert by_id[no_code[0].generation_id].answer_status == "no_answer"
    assert result.report.labels == {"correct": 169, "incorrect": 20, "no_answer": 1}


def test_checking_program_keeps_the_problems_imports():
    seeds = load_seeds(FileSeeds(type="file", path=HUMANEVAL, format="humaneval", limit=1))
    code = "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n    return False\n"
    program = checking_program(seeds[0], code)
    assert program.index("from typing import List") < program.index("def has_close_elements")
    assert program.rstrip().endswith("check(has_close_elements)")


def test_hostile_programs_in_a_build_are_labelled_and_the_build_goes_on():
    """The verify stage over generated programs that loop, allocate, fork, open sockets and read the
    environment: each is labelled with what happened, and the passing one is still correct."""
    seeds = load_seeds(FileSeeds(type="file", path=HUMANEVAL, format="humaneval", limit=1))
    s = seeds[0]
    header = s.problem.split("def ")[0]
    bodies = {
        "loop": "    while True:\n        pass\n",
        "alloc": "    x = []\n    while True:\n        x.append(' ' * 10**7)\n",
        "fork": "    import os\n    os.fork()\n    return False\n",
        "socket": "    import socket\n    socket.create_connection(('127.0.0.1', 9))\n    return False\n",
        "secret": "    import os\n    assert 'SYNTH_TEST_SECRET' in os.environ, 'no secret here'\n    return False\n",
    }
    gens = [Generation(f"{s.seed_id}-{k}", s.seed_id, "m", 0, [],
                       f"```python\n{header}def {s.entry_point}(numbers, threshold):\n{b}```", "stop", 1, 1)
            for k, b in bodies.items()]
    gens.append(Generation(f"{s.seed_id}-good", s.seed_id, "m", 0, [], f"```python\n{s.gold_steps[0]}```", "stop", 1, 1))
    os.environ["SYNTH_TEST_SECRET"] = "hunter2"
    try:
        result = VerifyAnswers(VerifyStage(timeout_s=3, memory_mb=256)).run(gens, seeds)
    finally:
        del os.environ["SYNTH_TEST_SECRET"]
    got = {r.solution_id.rsplit("-", 1)[1]: (r.answer_status, r.error_type) for r in result.records}
    assert got == {"loop": ("incorrect", "Timeout"), "alloc": ("incorrect", "MemoryError"),
                   "fork": ("incorrect", "SandboxDenied"), "socket": ("incorrect", "SandboxDenied"),
                   "secret": ("incorrect", "AssertionError"), "good": ("correct", None)}
