"""The code sandbox's cost: HumanEval's 164 canonical solutions through synth.sandbox.run_program
(bubblewrap namespaces, seccomp, pids cgroup, judge and solution processes) and through a plain
`python -I` of the same checking program (HumanEval's own harness: no isolation, exit code 0 is a
pass), interleaved program by program in this one process, one program at a time.

Prints programs/s and the median per-program wall time of each, and their ratio (goal: isolated
costs at most 1.5x the plain run per program). `--small`: the first 10 problems, for the test suite.

    .venv/bin/python bench/sandbox.py [--small] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth.code import checking_program  # noqa: E402
from synth.recipe import FileSeeds  # noqa: E402
from synth.sandbox import Limits, isolation_problem, run_program  # noqa: E402
from synth.seeds import load_seeds  # noqa: E402

HUMANEVAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
LIMITS = Limits(timeout_s=30, cpu_seconds=30)


def plain(program: str, exe: str) -> tuple[bool, float]:
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as d:
        path = Path(d) / "program.py"
        path.write_text(program)
        t0 = time.perf_counter()
        rc = subprocess.run([exe, "-I", str(path)], cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=LIMITS.timeout_s).returncode
        return rc == 0, time.perf_counter() - t0


def isolated(program: str) -> tuple[bool, float]:
    t0 = time.perf_counter()
    r = run_program(program, LIMITS)
    return r.passed, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="the first 10 problems, one round")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    problem = isolation_problem()
    if problem:
        print(f"the sandbox cannot run here: {problem}", file=sys.stderr)
        return 2
    seeds = load_seeds(FileSeeds(type="file", path=HUMANEVAL, format="humaneval", limit=10 if args.small else None))
    programs = [checking_program(s, s.gold_steps[0]) for s in seeds]
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    times: dict[str, list[float]] = {"isolated": [], "plain python -I": []}
    passed = {"isolated": 0, "plain python -I": 0}
    for rnd in range(args.rounds):
        for i, prog in enumerate(programs):
            order = [("isolated", lambda p=prog: isolated(p)), ("plain python -I", lambda p=prog: plain(p, exe))]
            if (i + rnd) % 2:
                order.reverse()  # alternate which goes first, so drift in machine load hits both
            for name, fn in order:
                ok, wall = fn()
                times[name].append(wall)
                passed[name] += ok if rnd == 0 else 0
    n = len(programs)
    print(f"{n} HumanEval canonical solutions x {args.rounds} round(s), one at a time, interleaved ({exe})")
    print(f"{'':18} {'programs/s':>11} {'median ms':>10} {'p90 ms':>8}")
    for name, ts in times.items():
        p90 = sorted(ts)[int(0.9 * (len(ts) - 1))]
        print(f"{name:18} {len(ts) / sum(ts):11.1f} {1000 * statistics.median(ts):10.1f} {1000 * p90:8.1f}")
    ratio = statistics.median(times["isolated"]) / statistics.median(times["plain python -I"])
    print(f"ratio isolated / plain (median per program): {ratio:.2f}x (goal <= 1.5x)")
    print(f"canonical solutions passing: isolated {passed['isolated']}/{n}, plain {passed['plain python -I']}/{n}")
    return 0 if passed["isolated"] == n else 1


if __name__ == "__main__":
    sys.exit(main())
