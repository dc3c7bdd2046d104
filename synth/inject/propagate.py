"""Carrying a corrupted value through the rest of a solution.

An injected error is only useful training data if the solution still reads naturally from the
wrong value on (LEMMA's mistake augmentation; ProcessBench's erroneous solutions): every later
computation that used the changed value is recomputed from the new one, its result rewritten, and
later mentions of an old value are replaced. Dependencies are traced by value, as a reader would:
an operand equal to a changed result is that result. Numbers that also appear in the question are
left alone outside computations, since there they are more likely the question's own quantities.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

from synth.inject.arith import apply_edits, evaluate, format_like, is_terminating, parse_step, value_matches

_STEP_NUMBER = re.compile(r"(?:step|Step|STEP)\s*$")


class Implausible(Exception):
    """The corruption would produce values a solver would not write (negative counts, 42.5 clips,
    repeating decimals): the operator tries its next candidate."""


@dataclass(frozen=True)
class Edit:
    """An operator's local change, before it is carried through the later steps."""

    steps: list[str]  # the steps after the local change (a missing step has one step fewer)
    step: int  # where carrying starts, as an index into `steps`
    start: int  # character offset in that step: computations before it are left alone
    label: int  # the first wrong step, as the operator built it (checked independently later)
    detail: str  # what was changed, for the record
    subst: dict[Fraction, Fraction] = field(default_factory=dict)  # values already changed


def check_plausible(old: Fraction, new: Fraction, decimals: int) -> None:
    if old >= 0 and new < 0:
        raise Implausible("negative_value")
    if old.denominator == 1 and new.denominator != 1:
        raise Implausible("fractional_value")
    if not is_terminating(new, max(2, decimals)):
        raise Implausible("repeating_decimal")
    if old and (abs(new / old) > 100 or abs(new / old) < Fraction(1, 100)):
        raise Implausible("magnitude")  # 30/2000 min become 30*2000: an error, but not one a solver makes


def propagate(edit: Edit, question_values: set[Fraction], final_answer: Optional[Fraction]) -> list[str]:
    """The corrupted steps. `final_answer` is the original final answer's value: in the last step it
    is replaced even when the question mentions the same number, since it is the answer."""
    steps = list(edit.steps)
    subst = dict(edit.subst)
    last = len(steps) - 1
    for i in range(edit.step, len(steps)):
        text = steps[i]
        math = parse_step(text)
        edits: dict[tuple[int, int], str] = {}
        for calc in math.calcs:
            if i == edit.step and calc.start < edit.start:
                continue
            new_values: dict[int, Fraction] = {}
            for t in calc.operands:
                if t.value in subst:
                    new_values[t.start] = subst[t.value]
                    edits[(t.start, t.end)] = format_like(subst[t.value], t)
            new = evaluate(calc.lhs, new_values)
            if new is None:
                raise Implausible("division_by_zero")
            # Compared with the expression's exact old value, not the written result: a result written
            # rounded (`37/7 = 5`) must still change when its inputs do.
            if new == calc.value and value_matches(new, calc.result):
                continue
            old = calc.result.value
            assert old is not None
            check_plausible(old, new, calc.result.decimals)
            edits[(calc.result.start, calc.result.end)] = format_like(new, calc.result)
            subst[old] = new
        for t in math.numbers:
            if math.in_calc(t) or t.value not in subst or _STEP_NUMBER.search(text[:t.start]):
                continue
            is_answer = i == last and t.value == final_answer
            if t.value in question_values and not is_answer:
                continue
            edits[(t.start, t.end)] = format_like(subst[t.value], t)
        steps[i] = apply_edits(text, edits)
    if steps == edit.steps and not edit.subst:
        raise Implausible("no_change")
    return steps
