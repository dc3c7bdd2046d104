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


def every_step_resembles(original: list[str], corrupted: list[str], threshold: float) -> bool:
    """Whether each corrupted step is unchanged or an edit of some original step: their words,
    numbers and symbols match with a difflib ratio of at least `threshold`. False when a step is not
    an edit of any original step (a rewrite, or text that is not a solution step at all)."""
    a = [tuple(_WORD.findall(normalize_step(s))) for s in original]
    same = set(a)
    for step in corrupted:
        b = tuple(_WORD.findall(normalize_step(step)))
        if b in same:
            continue
        matcher = difflib.SequenceMatcher(None, b=b, autojunk=False)  # seq2 is the one difflib indexes
        for o in a:
            matcher.set_seq1(o)
            if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold \
                    and matcher.ratio() >= threshold:
                break
        else:
            return False
    return True
