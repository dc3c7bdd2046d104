"""Code answers: the program in a model's reply, and the test program that checks it (HumanEval's
harness: the solution, then the problem's `check(candidate)`, called on the entry point)."""

from __future__ import annotations

import ast
import re
from typing import Optional

from schemas import SeedProblem

_FENCE = re.compile(r"```(?:python|py|Python)?[ \t]*\n(.*?)(?:```|\Z)", re.S)


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


def extract_code(text: str, header: str = "") -> Optional[str]:
    """The reply's fenced code block that defines a function (the longest one); else the whole reply
    when it is a function, or the body of the function `header` starts (a completion-style reply);
    None when there is no code."""
    blocks = [b for b in _FENCE.findall(text) if b.strip()]
    with_def = [b for b in blocks if re.search(r"^\s*def\s", b, re.M)]
    if with_def or blocks:
        return max(with_def or blocks, key=len).rstrip() + "\n"
    if re.search(r"^\s*def\s", text, re.M) and _parses(text):
        return text.rstrip() + "\n"
    if header and text.strip() and text[:1] in " \t" and _parses(header + text):
        return text.rstrip() + "\n"
    return None


class CheckingProgram(str):
    """The whole program as text (what HumanEval's harness runs), which also knows its parts: the
    reply's code (untrusted) apart from the problem's prompt and tests (trusted), so the sandbox runs
    the tests in a process the reply cannot reach (synth/sandbox.py)."""

    solution: str
    prelude: str
    tests: str
    entry_point: str

    def __new__(cls, solution: str, prelude: str, tests: str, entry_point: str) -> "CheckingProgram":
        self = super().__new__(cls, f"{solution}\n\n{tests}\n\ncheck({entry_point})\n")
        self.solution, self.prelude, self.tests, self.entry_point = solution, prelude, tests, entry_point
        return self


def checking_program(seed: SeedProblem, code: str) -> CheckingProgram:
    """The solution, with the problem's own header (imports, helper functions) first when the reply
    left it out, then the tests, then the call that runs them."""
    if seed.tests is None or seed.entry_point is None:
        raise ValueError(f"seed {seed.seed_id} has no tests or entry point: it is not a code problem")
    defines = re.search(rf"^\s*def\s+{re.escape(seed.entry_point)}\s*\(", code, re.M)
    body = code if defines else seed.problem + code  # a reply with only the function's body
    header = seed.problem.split(f"def {seed.entry_point}", 1)[0] if defines else ""
    return CheckingProgram(f"{header}\n{body}", seed.problem, seed.tests, seed.entry_point)


_CONCLUSION = re.compile(r"\\conclusion\{\s*([TF])\s*\}")


def verdict_of(text: str) -> Optional[bool]:
    """The last `\\conclusion{T|F}` of a critique; None when there is none."""
    found = _CONCLUSION.findall(text)
    return found[-1] == "T" if found else None
