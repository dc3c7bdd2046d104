"""Comparing an original solution with a corrupted one, step by step.

The first wrong step of a corrupted solution is found here by comparison, never taken from
whoever made the corruption (an operator or a teacher model): ProcessBench labels the earliest
erroneous step, and a label that is off by one teaches a critic the wrong thing.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from synth.inject.arith import StepMath, parse_step

_SPACE = re.compile(r"\s+")
_NUMBER_COMMAS = re.compile(r"(?<=\d),(?=\d{3})")


def normalize_step(step: str) -> str:
    """What counts as the same step: case, spacing, trailing punctuation, `$` and thousands separators aside."""
    s = _NUMBER_COMMAS.sub("", step.replace("$", ""))
    return _SPACE.sub(" ", s).strip().rstrip(".,;:!").lower()


@dataclass(frozen=True)
class FirstChange:
    corrupted: int  # index of the first changed step in the corrupted solution
    original: Optional[int]  # the original step it stands in place of; None for an inserted step


def first_change(original: list[str], corrupted: list[str]) -> Optional[FirstChange]:
    """The first step of `corrupted` that is not an unchanged step of `original`.

    Steps are aligned (difflib), so a removed step does not make every later step look changed: with
    a missing step, the first wrong step is the first later step that differs. Where a block of steps
    shrank, the removed steps are taken to be its first ones, so the changed step is compared with the
    step it rewrote. A pure deletion has no changed step and returns None.
    """
    a = [normalize_step(s) for s in original]
    b = [normalize_step(s) for s in corrupted]
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "replace":
            return FirstChange(j1, i1 + max(0, (i2 - i1) - (j2 - j1)))
        if tag == "insert":
            return FirstChange(j1, None)
    return None


def wrong_calc_steps(steps: list[str]) -> list[int]:
    """Indices of steps with a computation whose stated result is not its value."""
    return [i for i, s in enumerate(steps) if any(not c.holds for c in parse_step(s).calcs)]


def _signatures(math: StepMath) -> set[tuple]:
    return {(tuple(sorted(t.value for t in c.operands)), tuple(sorted(t.op for t in c.operators)), c.result.value)
            for c in math.calcs}


def step_is_wrong(changed: str, before: Optional[str], known_values: set[Fraction]) -> bool:
    """Whether a changed step has an error a reader could point at, judged against the step it
    replaces (`before`; None for an inserted step, judged against `known_values`, the values of the
    question and the original solution):
    - a computation whose stated result is not its value;
    - a value the replaced step did not have;
    - a computation the replaced step did not make, from the same values (48+24 = 72 become 48-24 = 24).
    A rewording with the same values and computations is not an error, and neither is a computation
    written out where the original only stated its result: a label there could be wrong, so the
    record is dropped instead."""
    math = parse_step(changed)
    if any(not c.holds for c in math.calcs):
        return True
    if before is None:
        return any(t.value not in known_values for t in math.numbers)
    old = parse_step(before)
    if any(t.value not in {o.value for o in old.numbers} for t in math.numbers):
        return True
    return bool(old.calcs) and not _signatures(math) <= _signatures(old)




_WORD = re.compile(r"\d+(?:\.\d+)?|\w+|[^\w\s]")



def _numbers(words: tuple) -> int:
    return sum(w[0].isdigit() for w in words)


def _resembles(a: tuple, b: tuple, threshold: float) -> bool:
    """An edit in place: mostly the same words, and at most one number fewer (a term left out)."""
    if a == b:
        return True
    if _numbers(b) < _numbers(a) - 1:
        return False
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return m.real_quick_ratio() >= threshold and m.quick_ratio() >= threshold and m.ratio() >= threshold


def is_one_edit_of(original: list[str], corrupted: list[str], threshold: float) -> bool:
    """Whether `corrupted` is `original` with steps edited in place, at most one step removed or added,
    and no computation or number lost but the removed step's: what one error carried to the end looks
    like.
    Steps are compared by their words, numbers and symbols (difflib ratio >= `threshold`, pair by pair
    in order). A rewrite, a summary without its arithmetic, or text that is not a solution fails."""
    a = [tuple(_WORD.findall(normalize_step(s))) for s in original]
    b = [tuple(_WORD.findall(normalize_step(s))) for s in corrupted]
    if len(b) == len(a):
        pairings = [(a, b)]
    elif len(b) == len(a) - 1:
        pairings = [(a[:k] + a[k + 1:], b) for k in range(len(a))]
    elif len(b) == len(a) + 1:
        pairings = [(a, b[:k] + b[k + 1:]) for k in range(len(b))]
    else:
        return False
    if not any(all(_resembles(x, y, threshold) for x, y in zip(p, q)) for p, q in pairings):
        return False
    calcs = [len(parse_step(s).calcs) for s in original]
    return sum(len(parse_step(s).calcs) for s in corrupted) >= sum(calcs) - max(calcs, default=0)
