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

from synth.inject.arith import (after_money_sign, apply_edits, evaluate, format_like, is_terminating, parse_step, step_marker,
                                value_matches)

_STEP_NUMBER = re.compile(r"(?:step|Step|STEP)\s*$")
_STATED_AS = re.compile(r"[\s$]*(?:=|\\equiv)[^=.,;:]*?\d[\s$]*(?:[-+*/×÷·^]|[xX](?=\s*\d)|\\cdot|\\times|\\div)")


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
    slip: Optional[str] = None  # calculation errors: the kind of slip (synth.inject.operators.SLIP_KINDS)
    # for each changed value, the operands of the computation that made it: a later computation of the
    # same value from other operands is another quantity, not a restatement
    origins: dict[Fraction, frozenset] = field(default_factory=dict)


def check_plausible(old: Fraction, new: Fraction, decimals: int, fraction: bool = False) -> None:
    """`fraction`: the value is written as a LaTeX fraction, where 2/15 needs no decimals."""
    if old >= 0 and new < 0:
        raise Implausible("negative_value")
    if old.denominator == 1 and new.denominator != 1 and not fraction:
        raise Implausible("fractional_value")
    if not fraction and not is_terminating(new, max(2, decimals)):
        raise Implausible("repeating_decimal")
    # |new / old| above 100 or below 1/100, in integers
    far, near = abs(new.numerator * old.denominator), abs(new.denominator * old.numerator)
    if old and (far > 100 * near or 100 * far < near):
        raise Implausible("magnitude")  # 30/2000 min become 30*2000: an error, but not one a solver makes


def _operand_values(calc) -> frozenset:
    return frozenset(t.value for t in calc.operands)


def propagate(edit: Edit, question_values: set[Fraction], final_answer: Optional[Fraction]) -> list[str]:
    """The corrupted steps. `final_answer` is the original final answer's value: in the last step it
    is replaced even when the question mentions the same number, since it is the answer."""
    steps = list(edit.steps)
    earlier = {c.result.value for text in steps[:edit.step] for c in parse_step(text).calcs}
    if any(v in earlier for v in edit.subst):
        # the $20 of a left-out step and the $20 an earlier step worked out: later uses of 20 could be
        # either, so the change cannot be traced as a reader would
        raise Implausible("ambiguous_value")
    subst = dict(edit.subst)
    origins = dict(edit.origins)
    money: dict[Fraction, bool] = {}
    recreated: set[Fraction] = set()  # changed values that a later, other quantity happens to equal
    last = len(steps) - 1
    for i in range(edit.step, len(steps)):
        text = steps[i]
        math = parse_step(text)
        edits: dict[tuple[int, int], str] = {}
        for calc in math.calcs:
            if i == edit.step and calc.start < edit.start:
                continue
            new_values: dict[int, Fraction] = {}
            seen = [t.value for t in calc.operands if t.value in recreated]
            if len(seen) != len(set(seen)):
                # `20 + 25 + 22 + 20`: Monday's 20 (changed) and Thursday's 20 (a new quantity) in one
                # sum; which is which, a reader cannot tell
                raise Implausible("ambiguous_value")
            for t in calc.operands:
                if t.value not in subst:
                    continue
                if money.get(t.value) is False and after_money_sign(text, t) and t.value not in edit.subst:
                    # 18 sets of rings just worked out, and a $18 cost: which one a reader cannot tell (the
                    # other way round, `$0.2` then `0.2 x 50`, is how solutions write money)
                    raise Implausible("ambiguous_value")
                if t.value in question_values and t.value not in edit.subst:
                    # 6 blue yarns or the 6 red scarves just worked out? A reader cannot tell which
                    # quantity this is, so neither can the corruption: the next candidate is tried.
                    if t.value in money and money[t.value] != after_money_sign(text, t):
                        continue  # Dale's 2 eggs are not the $2 of his toast: the question's number
                    if not (money.get(t.value) and after_money_sign(text, t)):  # $2 and $2 are the same amount
                        raise Implausible("ambiguous_value")
                new_values[t.start] = subst[t.value]
                edits[(t.start, t.end)] = format_like(subst[t.value], t)
            new = evaluate(calc.lhs, new_values)
            if new is None:
                raise Implausible("division_by_zero")
            ops = {t.op for t in calc.lhs if t.kind == "op"}
            values = [new_values.get(t.start, t.value) for t in calc.operands]
            if new_values and len(values) == 2 and ops in ({"/"}, {"-"}) and values[0] == values[1]:
                raise Implausible("identity")  # 45/45 x 440 or 40 - 40: no solver writes that
            # Compared with the expression's exact old value, not the written result: a result written
            # rounded (`37/7 = 5`) must still change when its inputs do.
            if new == calc.value and value_matches(new, calc.result):
                made_from = origins.get(calc.result.value) if calc.result.value in subst else None
                if not new_values and made_from is not None and made_from != _operand_values(calc):
                    # a new quantity that happens to equal a changed one (12 - 2 = 10 gallons, after
                    # 5 + 5 = 10 miles became 5): from here on the value means this quantity, left as it is
                    del subst[calc.result.value]  # type: ignore[arg-type]
                    recreated.add(calc.result.value)  # type: ignore[arg-type]
                elif not new_values and made_from is not None and edit.slip and calc.result.value in edit.subst:
                    # the slipped computation worked again, right this time (`let me recheck: ... =
                    # 129,350`): a solver who recomputes it finds the slip; the step would contradict it
                    raise Implausible("recomputed")
                continue
            old = calc.result.value
            assert old is not None
            check_plausible(old, new, calc.result.decimals, calc.result.fraction)
            edits[(calc.result.start, calc.result.end)] = format_like(new, calc.result)
            subst[old] = new
            origins[old] = _operand_values(calc)
            money[old] = after_money_sign(text, calc.result)
        mark = step_marker(text)
        for t in math.numbers:
            if (t.percent and t.value not in subst and t.value * 100 in subst and not math.in_calc(t)  # type: ignore[operator]
                    and t.value not in question_values):  # `20% fewer` is the question's 20%, not 20 cars
                # `= 60%` was computed as 60 (12/20 x 100): its restatement `60%` changes with it
                edits[(t.start, t.end)] = format_like(subst[t.value * 100] / 100, t)  # type: ignore[index,operator]
                continue
            if math.in_calc(t) or t.value not in subst or _STEP_NUMBER.search(text[:t.start]):
                continue
            if mark is not None and t.start < mark.end:
                continue  # `3.` numbering the step, not the quantity 3
            is_answer = i == last and t.value == final_answer
            if t.value in question_values and not is_answer:
                continue
            if _STATED_AS.match(text, t.end):
                # `1024 = 7 \cdot 146 + 2`: the value stated as another computation, which this parser
                # does not read; changing the value alone would leave that computation false
                raise Implausible("uncarried_equation")
            edits[(t.start, t.end)] = format_like(subst[t.value], t)
        steps[i] = apply_edits(text, edits)
    if steps == edit.steps and not edit.subst:
        raise Implausible("no_change")
    return steps
