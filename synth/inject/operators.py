"""Deterministic error operators: one small class per error type of `taxonomy.yaml`.

Each operator lists every place it could make its error in a correct solution (`candidates`), as a
local edit plus the step it expects to be the first wrong one. The injection stage picks among them
with a seeded generator, carries the new value through the later steps (`propagate`), and checks the
label independently (`checks`). Operators work on any steps whose arithmetic is written out: GSM8K
gold steps, the procedural generator's, and free-text or LaTeX steps written by models, so that a
model's own correct solutions can be corrupted (LEMMA's on-policy mistake augmentation).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import yaml

from synth.inject.arith import SWAP_OP, Calc, StepMath, Token, apply_edits, format_like, numbers_in, parse_step
from synth.inject.propagate import Edit


@dataclass(frozen=True)
class ErrorType:
    name: str
    description: str
    example: str


TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")


@lru_cache(maxsize=1)
def taxonomy() -> dict[str, ErrorType]:
    data = yaml.safe_load(TAXONOMY_PATH.read_text())
    return {k: ErrorType(k, v["description"].strip(), v["example"].strip()) for k, v in data.items()}


@dataclass(frozen=True)
class SourceSolution:
    """A correct solution, parsed once for every operator."""

    problem: str
    steps: list[str]
    maths: list[StepMath]
    question_values: frozenset[Fraction]

    @classmethod
    def parse(cls, problem: str, steps: list[str]) -> "SourceSolution":
        return cls(problem, list(steps), [parse_step(s) for s in steps], frozenset(numbers_in(problem)))

    def calcs(self) -> list[tuple[int, Calc]]:
        return [(i, c) for i, m in enumerate(self.maths) for c in m.calcs]

    def replace(self, step: int, token: Token, new_text: str) -> list[str]:
        out = list(self.steps)
        out[step] = apply_edits(out[step], {(token.start, token.end): new_text})
        return out


def _show(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{float(v):g}"


def _operand_edit(src: SourceSolution, i: int, calc: Calc, t: Token, new: Fraction, why: str) -> Edit:
    return Edit(src.replace(i, t, format_like(new, t)), step=i, start=calc.start, label=i,
                detail=f"step {i + 1}: {why}: {_show(t.value)} -> {_show(new)} in '{calc.text(src.steps[i])}'")


class CalculationError:
    """The result of one computation is wrong; the expression is left as it was."""

    name = "calculation"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            r = c.result.value
            assert r is not None
            if r.denominator != 1 or c.result.percent:
                continue
            wrong = {r + 1, r - 1, r + 2, r - 2, r + 10, r - 10}
            digits = str(r.numerator)
            if len(digits) >= 2 and digits[-1] != digits[-2]:
                wrong.add(Fraction(int(digits[:-2] + digits[-1] + digits[-2])))  # transposed digits
            for w in sorted(v for v in wrong if v != r and v >= 0 and (v > 0 or r == 0)):
                shown = format_like(w, c.result)
                steps = src.replace(i, c.result, shown)
                out.append(Edit(steps, step=i, start=c.result.start + len(shown), label=i, subst={r: w},
                                detail=f"step {i + 1}: '{c.text(src.steps[i])}' computed as {_show(w)}"))
        return out


class OperatorError:
    """One operation is swapped for its counterpart (+ and -, * and /), the arithmetic done right."""

    name = "operator"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            for pos, t in enumerate(c.lhs):
                if t.kind != "op" or not t.editable or pos == 0 or c.lhs[pos - 1].kind in ("op", "lp"):
                    continue  # a unary minus is not an operation between two quantities
                word = " ".join(t.text.split())
                new = SWAP_OP.get(word)
                if new is None:
                    continue
                steps = src.replace(i, t, new)
                out.append(Edit(steps, step=i, start=c.start, label=i,
                                detail=f"step {i + 1}: '{t.text}' replaced by '{new}' in '{c.text(src.steps[i])}'"))
        return out


class QuestionValueError:
    """An operand copied from the question is replaced by another number the question gives."""

    name = "question_value"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            for t in c.operands:
                if t.percent or not t.value or t.value not in src.question_values:
                    continue
                for q in sorted(src.question_values):
                    # Another quantity of the same order: swapping 2 parts for $2500 is not a slip anyone makes.
                    if q != t.value and q > 0 and Fraction(1, 10) <= q / t.value <= 10:
                        out.append(_operand_edit(src, i, c, t, q, "wrong number taken from the question"))
        return out


class EarlierStepValueError:
    """An operand that is an earlier step's result is replaced by another number of an earlier step."""

    name = "earlier_step_value"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            earlier = [t.value for m in src.maths[:i] for t in m.numbers if not t.percent]
            results = {e.result.value for m in src.maths[:i] for e in m.calcs}
            for t in c.operands:
                if t.percent or not t.value or t.value in src.question_values or t.value not in results:
                    continue
                for v in sorted(set(earlier)):
                    if v != t.value and v > 0 and Fraction(1, 10) <= v / t.value <= 10:
                        out.append(_operand_edit(src, i, c, t, v, "wrong value taken from an earlier step"))
        return out


# A conversion factor and the wrong factors a solver plausibly uses instead.
CONVERSIONS: dict[Fraction, tuple[int, ...]] = {Fraction(k): v for k, v in {
    60: (100, 30), 24: (12, 60), 7: (5, 10), 12: (10, 6), 52: (48, 12), 365: (360, 52), 100: (10, 1000),
    1000: (100, 10), 16: (10, 12), 3600: (60, 100), 2000: (1000,), 5280: (1000,), 36: (12,), 144: (100,),
}.items()}


class UnitConversionError:
    """A conversion factor the solver supplied (not one the question gives) is replaced by a wrong one."""

    name = "unit_conversion"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            # A factor the solver brought in: not from the question and not written earlier ($60 of
            # shirts from 3*$20 is a quantity, not minutes in an hour).
            earlier = {t.value for m in src.maths[:i] for t in m.numbers}
            for t in c.operands:
                seen = earlier | {u.value for u in src.maths[i].numbers if u.start < t.start}
                if t.percent or t.value in src.question_values or t.value in seen or t.value not in CONVERSIONS:
                    continue
                for w in CONVERSIONS[t.value]:
                    out.append(_operand_edit(src, i, c, t, Fraction(w), "wrong conversion factor"))
        return out


class CountingError:
    """In a sum of several quantities, one is left out or counted twice."""

    name = "counting"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            ops = [t for t in c.lhs if t.kind == "op"]
            terms = c.operands
            if len(terms) < 2 or any(t.kind in ("lp", "rp") for t in c.lhs) or any(o.op != "+" for o in ops):
                continue
            if len(ops) != len(terms) - 1 or c.lhs[0].kind != "num":
                continue
            text = src.steps[i]
            where = c.text(text)
            for k in range(1, len(terms)):  # counted twice: repeat " + term" after the term
                piece = text[terms[k - 1].end:terms[k].end]
                steps = list(src.steps)
                steps[i] = text[:terms[k].end] + piece + text[terms[k].end:]
                out.append(Edit(steps, step=i, start=c.start, label=i,
                                detail=f"step {i + 1}: {terms[k].text} counted twice in '{where}'"))
            if len(terms) >= 3:  # left out
                for k in range(len(terms)):
                    s, e = (terms[k - 1].end, terms[k].end) if k else (terms[0].start, terms[1].start)
                    steps = list(src.steps)
                    steps[i] = text[:s] + text[e:]
                    out.append(Edit(steps, step=i, start=c.start, label=i,
                                    detail=f"step {i + 1}: {terms[k].text} left out of '{where}'"))
        return out


class MissingStepError:
    """A step that computes a quantity is dropped; the first later step that needed that quantity
    uses the value from before the step instead."""

    name = "missing_step"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for k, m in enumerate(src.maths[:-1]):
            if len(m.calcs) != 1:
                continue
            c = m.calcs[0]
            # What the step started from: its largest operand (48 in 48/2, 75 in 2/3 x 75).
            start = max(c.operands, key=lambda t: t.value)
            r, before = c.result.value, start.value
            if r in src.question_values or before == r or start.percent:
                continue
            consumer = next((j for j in range(k + 1, len(src.steps))
                             if any(t.value == r for t in src.maths[j].numbers)), None)
            if consumer is None or not any(t.value == r for calc in src.maths[consumer].calcs for t in calc.operands):
                continue
            steps = src.steps[:k] + src.steps[k + 1:]
            out.append(Edit(steps, step=k, start=0, label=consumer - 1, subst={r: before},
                            detail=f"step {k + 1} ('{src.steps[k]}') left out; later steps use "
                                   f"{_show(before)} instead of {_show(r)}"))
        return out


OPERATORS = {op.name: op for op in (CalculationError(), OperatorError(), QuestionValueError(),
                                    EarlierStepValueError(), UnitConversionError(), CountingError(),
                                    MissingStepError())}
