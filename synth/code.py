"""Code answers: the program in a model's reply, and the test program that checks it (HumanEval's
harness: the solution, then the problem's `check(candidate)`, called on the entry point)."""

from __future__ import annotations

import ast
import re
from typing import Optional

from schemas import Seed

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


def checking_program(seed: Seed, code: str) -> str:
    """The solution, with the problem's own header (imports, helper functions) first when the reply
    left it out, then the tests, then the call that runs them."""
    assert seed.tests is not None and seed.entry_point is not None
    defines = re.search(rf"^\s*def\s+{re.escape(seed.entry_point)}\s*\(", code, re.M)
    body = code if defines else seed.problem + code  # a reply with only the function's body
    header = seed.problem.split(f"def {seed.entry_point}", 1)[0] if defines else ""
    return f"{header}\n{body}\n\n{seed.tests}\n\ncheck({seed.entry_point})\n"
