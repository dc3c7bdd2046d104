"""Deterministic error operators: one small class per error type of `taxonomy.yaml`.

Each operator lists every place it could make its error in a correct solution (`candidates`), as a
local edit plus the step it expects to be the first wrong one. The injection stage picks among them
with a seeded generator, carries the new value through the later steps (`propagate`), and checks the
label independently (`checks`). Operators work on any steps whose arithmetic is written out: GSM8K
gold steps, the procedural generator's, and free-text or LaTeX steps written by models, so that a
model's own correct solutions can be corrupted (LEMMA's on-policy mistake augmentation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from synth.inject.arith import (SWAP_OP, Calc, StepMath, Token, apply_edits, format_like, is_terminating, numbers_in,
                                parse_step, step_marker)
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


# ---- calculation slips ----------------------------------------------------------------------------

SLIP_KINDS = ("transposed_digits", "dropped_digit", "carry_error", "borrow_error", "off_by_one_digit",
              "dropped_term", "misplaced_decimal")


def _digits(v: int, width: int) -> list[int]:
    return [(v // 10 ** k) % 10 for k in range(width)]


def _forgotten_carry(operands: list[int]) -> Optional[int]:
    """Column addition with the first carry forgotten: what the sum comes out as."""
    width = max(len(str(o)) for o in operands)
    carry = 0
    for k in range(width):
        total = sum(_digits(o, width)[k] for o in operands) + carry
        carry = total // 10
        if carry and k + 1 < width:
            return sum(operands) - carry * 10 ** (k + 1)
    return None


def _forgotten_borrow(a: int, b: int) -> Optional[int]:
    """Column subtraction where a borrow is taken but the next column is not reduced."""
    width = len(str(a))
    da, db = _digits(a, width), _digits(b, width)
    borrow = 0
    for k in range(width - 1):
        if da[k] - borrow < db[k]:
            return a - b + 10 ** (k + 1)
        borrow = 0
    return None


def _forgotten_product_carry(a: int, b: int) -> Optional[int]:
    """Long multiplication by a one-digit factor (trailing zeros aside) with the first carry forgotten."""
    za, zb = len(str(a)) - len(str(a).rstrip("0")), len(str(b)) - len(str(b).rstrip("0"))
    ma, mb = a // 10 ** za, b // 10 ** zb
    if mb >= 10:
        ma, mb = mb, ma
    if not 1 < mb < 10 or ma < 10:
        return None
    width = len(str(ma))
    carry = 0
    for k, d in enumerate(_digits(ma, width)):
        carry = (d * mb + carry) // 10
        if carry and k + 1 < width:
            return (ma * mb - carry * 10 ** (k + 1)) * 10 ** (za + zb)
    return None


def _power_of_ten(v: Fraction) -> bool:
    return v.denominator == 1 and str(v.numerator).lstrip("1") != str(v.numerator) and set(str(v.numerator)[1:]) <= {"0"}


def calculation_slips(c: Calc) -> list[tuple[str, Fraction]]:
    """The wrong results a person computing `c` by hand plausibly writes, one per kind of slip:
    digits transposed or dropped in copying, a carry or borrow forgotten, one digit off by one, a
    term of a sum forgotten, the decimal point in the wrong place. Never a random nearby number."""
    r = c.result.value
    assert r is not None
    ops = {t.op for t in c.lhs if t.kind == "op"}
    ints = [int(t.value) for t in c.operands if t.value is not None and t.value.denominator == 1 and t.value >= 0]
    whole = len(ints) == len(c.operands)
    out: list[tuple[str, Fraction]] = []
    if r.denominator == 1 and r >= 0:
        d = str(r.numerator)
        zeros = len(d) - len(d.rstrip("0")) if r else 0
        core = d[:len(d) - zeros] or d
        for k in range(len(core) - 1):  # transposed: 624 -> 642
            if core[k] != core[k + 1] and not (k == 0 and core[k + 1] == "0"):
                out.append(("transposed_digits", Fraction(int(core[:k] + core[k + 1] + core[k] + core[k + 2:] + "0" * zeros))))
                break
        if len(d) >= 3:  # dropped: 1050 -> 150, 1225 -> 125
            k = next((k for k in range(1, len(core)) if core[k] == "0" or core[k] == core[k - 1]), None)
            if k is not None:
                out.append(("dropped_digit", Fraction(int(core[:k] + core[k + 1:] + "0" * zeros))))
        if whole and ops == {"+"} and len(ints) >= 2 and (w := _forgotten_carry(ints)) is not None:
            out.append(("carry_error", Fraction(w)))
        if whole and ops == {"-"} and len(ints) == 2 and ints[0] > ints[1] and (w := _forgotten_borrow(*ints)) is not None:
            out.append(("borrow_error", Fraction(w)))
        if whole and ops == {"*"} and len(ints) == 2 and (w := _forgotten_product_carry(*ints)) is not None:
            out.append(("carry_error", Fraction(w)))
        # Off by one in the last digit that was worked out (7 + 8 = 14, 4 x 400 = 1500); not where the
        # computation is a shift by a power of ten (10 x 1000 = 20000 is not a slip anyone makes).
        tens = ops <= {"*", "/"} and any(t.value and _power_of_ten(t.value) for t in c.operands)
        # nor in halving (50 / 2 = 24): too easy to get a digit wrong
        tens = tens or (ops == {"/"} and len(c.operands) == 2 and c.operands[1].value == 2) or (
            ops == {"*"} and any(t.value == 2 for t in c.operands))  # nor in doubling (11 x 2 = 21)
        # A one-digit result is slipped where a subtraction or sum crosses ten (15 - 9 = 5), not in 2 x 2.
        small = len(core) >= 2 or (not zeros and ops <= {"+", "-"}
                                   and any(t.value is not None and 10 <= t.value < 20 for t in c.operands))
        if not tens and small:
            k = len(core) - 1
            digit = int(core[k])
            new = digit - 1 if digit > (1 if k == 0 else 0) else digit + 1
            out.append(("off_by_one_digit", Fraction(int(core[:k] + str(new) + "0" * zeros))))
    elif r.denominator != 1 and c.result.decimals:  # 10.5 -> 11.5: the units digit off by one
        out.append(("off_by_one_digit", r + 1 if r < 1 or int(r) % 10 == 0 else r - 1))
    if ops == {"+"} and len(c.operands) >= 3 and not any(t.kind in ("lp", "rp") for t in c.lhs):
        middle = c.operands[len(c.operands) // 2]
        out.append(("dropped_term", r - middle.value))
    if any(t.value is not None and t.value.denominator != 1 for t in c.operands):  # 0.2 x 50, 1.5 x 6
        shifted = r / 10 if is_terminating(r / 10, max(2, c.result.decimals)) else r * 10
        out.append(("misplaced_decimal", shifted))
    return [(k, w) for k, w in out if w != r and w > 0]


class CalculationError:
    """The result of one computation is wrong by a slip a person makes (the kind is recorded); the
    expression is left as it was."""

    name = "calculation"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            r = c.result.value
            assert r is not None
            if c.result.percent or c.result.fraction:
                continue  # a slip in a written fraction is not one of the digit slips made here
            for slip, w in calculation_slips(c):
                shown = format_like(w, c.result)
                if Fraction(shown.replace(",", "")) != w:
                    continue  # not writable in the result's style
                steps = src.replace(i, c.result, shown)
                out.append(Edit(steps, step=i, start=c.result.start + len(shown), label=i, subst={r: w}, slip=slip,
                                origins={r: frozenset(t.value for t in c.operands)},
                                detail=f"step {i + 1}: '{c.text(src.steps[i])}' computed as {_show(w)} "
                                       f"({slip.replace('_', ' ')})"))
        return out


# ---- operator errors ------------------------------------------------------------------------------

# Words that name an operation, and what they become when the operation is swapped; a step whose
# words name the old operation with no counterpart here is not given an operator error (a sign
# that contradicts its own sentence is a seam, not a mistake).
_OP_WORDS: dict[str, dict[str, str]] = {
    "+": {"add": "subtract", "adds": "subtracts", "adding": "subtracting", "added": "subtracted", "sum": "difference",
          "increase": "decrease", "increased": "decreased", "more": "less", "plus": "minus"},
    "-": {"subtract": "add", "subtracts": "adds", "subtracting": "adding", "subtracted": "added",
          "difference": "sum", "decrease": "increase", "decreased": "increased", "less": "more", "fewer": "more",
          "minus": "plus", "reduce": "increase", "reduces": "increases", "reduced": "increased"},
    "*": {"multiply": "divide", "multiplies": "divides", "multiplying": "dividing", "multiplied": "divided",
          "product": "quotient"},
    "/": {"divide": "multiply", "divides": "multiplies", "dividing": "multiplying", "divided": "multiplied",
          "quotient": "product"},
}
_OP_CONTRADICTED = {
    "+": r"total|altogether|in all|combined|together",
    "-": r"left|leav\w*|remain\w*|rest|take away|took away|gave away|giv\w*|gave|spen\w*|lost|los\w+|change|"
         r"profit|still needs?|eat\w*|ate|us\w+|sold|sell\w*|paid|pay\w*|minus",
    # a quantity repeated (3 flights 3 times a day, 10 miles a day for 5 days) is not divided by mistake
    "*": r"times as|twice|double[sd]?|triple[sd]?|squared?|cubed?|times (?:a|per|each|every)|each|every|total|"
         r"per (?:day|week|month|year)|a (?:day|week|month|year)|"
         r"for (?:\d+|two|three|four|five|six|seven|eight|nine|ten) (?:days|weeks|months|years)",
    "/": r"half|halve[sd]?|third|quarter|split|shar\w+|average|ratio|each|among|between|per",
}
# Where multiplying and dividing are confused: a ratio in the question read the wrong way round
# (`half as many` taken as twice, `three times as long` as a third). Without one, a swapped * or /
# (10 cars a day for 2 days, divided) is not a mistake anyone makes.
_RATIO_WORDS = (r"twice|half|double[sd]?|triple[sd]?|third|quarter|fifth|times (?:as|more|less|fewer)|"
                r"as (?:many|much|long|far|old|big)|ratio|\d+/\d+|percent|%")
# Where adding and subtracting are confused: a comparison or a change read the wrong way round
# (`5 less than half` taken as 5 more). A sum or difference with no such words is left alone.
_DIRECTION_WORDS = (r"more|less|fewer|than|older|younger|longer|shorter|taller|heavier|lighter|cheaper|"
                    r"difference|increas\w*|decreas\w*|discount\w*|add\w*|subtract\w*|ago|later|"
                    r"earlier|rais\w+|reduc\w+|plus|minus|gain\w*|extra")
_FROM_TO = {"+": (r"\bto\b", "from"), "-": (r"\bfrom\b", "to")}


def reword_operation(text: str, op: str, span: tuple[int, int]) -> Optional[str]:
    """The step's words outside the computation `span`, changed to name the swapped operation
    (`Subtract 7 from` -> `Add 7 to`); None where the words would contradict the new sign."""
    outside = text[:span[0]] + " " * (span[1] - span[0]) + text[span[1]:]
    if re.search(rf"\b(?:{_OP_CONTRADICTED[op]})\b", outside, re.IGNORECASE):
        return None
    if op in "+-" and not re.search(rf"\b(?:{_DIRECTION_WORDS})\b", outside, re.IGNORECASE):
        return None
    words = _OP_WORDS[op]
    edits: dict[tuple[int, int], str] = {}
    for m in re.finditer(r"\b(" + "|".join(words) + r")\b", outside, re.IGNORECASE):
        new = words[m.group(1).lower()]
        edits[m.span()] = new.capitalize() if m.group(1)[0].isupper() else new
        if op in _FROM_TO and m.group(1).lower() in ("add", "adds", "adding", "added", "subtract", "subtracts",
                                                     "subtracting", "subtracted"):
            pattern, replacement = _FROM_TO[op]
            follow = re.compile(pattern).search(outside, m.end(), m.end() + 40)
            if follow:
                edits[follow.span()] = replacement
    return apply_edits(text, edits)


def _fraction_bar(text: str, lhs: tuple[Token, ...], pos: int) -> bool:
    """`2/3` in `9 x 2/3`: a fraction written with a slash is a number, not a division to swap."""
    t = lhs[pos]
    if t.op != "/" or pos + 1 >= len(lhs):
        return False
    a, b = lhs[pos - 1], lhs[pos + 1]
    return (a.kind == b.kind == "num" and a.end == t.start and t.end == b.start and a.value is not None
            and b.value is not None and a.value < b.value)


class OperatorError:
    """One operation is swapped for its counterpart (+ and -, * and /), the arithmetic done right and
    the words that name the operation changed with it."""

    name = "operator"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            binary = [t for k, t in enumerate(c.lhs) if t.kind == "op" and t.editable and k
                      and c.lhs[k - 1].kind not in ("op", "lp")]
            for pos, t in enumerate(c.lhs):
                if t.kind != "op" or not t.editable or pos == 0 or c.lhs[pos - 1].kind in ("op", "lp"):
                    continue  # a unary minus is not an operation between two quantities
                if len(binary) != 1:
                    continue  # one sign flipped inside 5 x 4 x 3 x 2 x 1 is not a mistake anyone makes
                word = " ".join(t.text.split())
                new = SWAP_OP.get(word)
                if new is None or t.op not in _OP_WORDS or _fraction_bar(src.steps[i], c.lhs, pos):
                    continue
                if t.op in "*/" and not re.search(rf"\b(?:{_RATIO_WORDS})", src.problem, re.IGNORECASE):
                    continue
                text = src.steps[i]
                if t.op == "*" and any(text[max(0, u.start - 2):u.start].rstrip().endswith(("$", "€", "£"))
                                       for u in c.operands):
                    continue  # $8 x 2 shirts divided is no mistake a solver makes: price times quantity
                swapped = text[:t.start] + new + text[t.end:]
                shift = len(new) - (t.end - t.start)
                reworded = reword_operation(swapped, t.op, (c.start, c.result.end + shift))
                if reworded is None:
                    continue
                steps = list(src.steps)
                steps[i] = reworded
                # Carrying starts at this computation, wherever the reworded words moved it.
                start = reworded.find(swapped[c.start:c.result.end + shift])
                out.append(Edit(steps, step=i, start=max(start, 0), label=i,
                                detail=f"step {i + 1}: '{t.text}' replaced by '{new}' in '{c.text(src.steps[i])}'"))
        return out


def _not_identity(c: Calc, t: Token, new: Fraction) -> bool:
    """Whether putting `new` for `t` leaves a real computation: 60/1, 1 x 60, 75/75 or 75 - 75 is not
    one anybody writes."""
    ops = {u.op for u in c.lhs if u.kind == "op"}
    if new == 1 and ops & {"*", "/"}:
        return False
    return not (ops & {"-", "/"} and any(u is not t and u.value == new for u in c.operands))


class QuestionValueError:
    """An operand copied from the question is replaced by another number the question gives."""

    name = "question_value"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            # A number the solution already wrote before this computation is copied from there, not
            # from the question: that is an earlier_step_value error, typed as such.
            written = {u.value for m in src.maths[:i] for u in m.numbers} | {
                u.value for u in src.maths[i].numbers if u.start < c.start or u in c.lhs}
            results = {e.result.value for m in src.maths[:i] for e in m.calcs}
            for t in c.operands:
                if t.percent or not t.value or t.value not in src.question_values or t.value in results:
                    continue
                for q in sorted(src.question_values):
                    # Another quantity of the same order: swapping 2 parts for $2500 is not a slip anyone makes.
                    # (and a count stays whole: 0.5 trees is no copying slip)
                    if (q != t.value and q > 0 and q not in written and Fraction(1, 10) <= q / t.value <= 10
                            and _not_identity(c, t, q) and (q.denominator == 1 or t.value.denominator != 1)):
                        out.append(_operand_edit(src, i, c, t, q, "wrong number taken from the question"))
        return out


class EarlierStepValueError:
    """An operand that is an earlier step's result is replaced by another number of an earlier step."""

    name = "earlier_step_value"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            # Another quantity an earlier step worked out (not the 100 of a percent, not a number the
            # question gives, which a reader would take as copied from the question).
            results = {e.result.value for m in src.maths[:i] for e in m.calcs if not e.result.percent}
            for t in c.operands:
                if t.percent or not t.value or t.value in src.question_values or t.value not in results:
                    continue
                for v in sorted(results - src.question_values):
                    # a quantity of the same order: $33,000 of salary does not stand in for a $4,500 raise
                    if v != t.value and v > 0 and Fraction(1, 5) <= v / t.value <= 5 and _not_identity(c, t, v):
                        out.append(_operand_edit(src, i, c, t, v, "wrong value taken from an earlier step"))
        return out


# A conversion factor and the wrong factors a solver plausibly uses instead.
CONVERSIONS: dict[Fraction, tuple[int, ...]] = {Fraction(k): v for k, v in {
    60: (100, 30), 24: (12, 60), 7: (5, 10), 12: (10, 6), 52: (48, 12), 365: (360, 52), 100: (10, 1000),
    1000: (100, 10), 16: (10, 12), 3600: (60, 100), 2000: (1000,), 5280: (1000,), 36: (12,), 144: (100,),
}.items()}
# The units a factor converts between: a 12 is a conversion factor only where months, inches or
# dozens are spoken of (in `12 - 4 + 1` it is just a number).
CONVERSION_UNITS: dict[Fraction, str] = {Fraction(k): v for k, v in {
    60: r"minutes?|hours?|seconds?|mins?|hrs?", 24: r"hours?|days?", 7: r"days?|weeks?|weekly",
    12: r"months?|years?|inch(?:es)?|f(?:oo|ee)t|dozens?|monthly", 52: r"weeks?|years?",
    365: r"days?|years?", 100: r"cents?|centimet\w+|cm|met\w+|dollars?|percent|%",
    1000: r"grams?|kilo\w*|kg|met\w+|millilit\w+|lit\w+|ml", 16: r"ounces?|oz|pounds?|lbs?",
    3600: r"seconds?|hours?", 2000: r"pounds?|tons?", 5280: r"feet|miles?", 36: r"inch(?:es)?|yards?",
    144: r"inch(?:es)?|square|gross",
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
                if not re.search(rf"\b(?:{CONVERSION_UNITS[t.value]})(?!\w)", src.steps[i], re.IGNORECASE):
                    continue
                for w in CONVERSIONS[t.value]:
                    out.append(_operand_edit(src, i, c, t, Fraction(w), "wrong conversion factor"))
        return out


class CountingError:
    """Miscounting: one item of a sum of several is left out, or a count of the numbers from a to b
    is taken as b - a, without the + 1 for counting both ends."""

    name = "counting"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            ops = [t for t in c.lhs if t.kind == "op"]
            terms = c.operands
            if len(terms) < 2 or any(t.kind in ("lp", "rp") for t in c.lhs) or c.lhs[0].kind != "num":
                continue
            if len(ops) != len(terms) - 1:
                continue
            text = src.steps[i]
            where = c.text(text)
            if all(o.op == "+" for o in ops) and len(terms) >= 3:  # an item left out
                for k in range(len(terms)):
                    s, e = (terms[k - 1].end, terms[k].end) if k else (terms[0].start, terms[1].start)
                    steps = list(src.steps)
                    steps[i] = text[:s] + text[e:]
                    out.append(Edit(steps, step=i, start=c.start, label=i,
                                    detail=f"step {i + 1}: {terms[k].text} left out of '{where}'"))
            if (len(terms) == 3 and [o.op for o in ops] == ["-", "+"] and terms[2].value == 1  # 142 - 15 + 1
                    and re.search(r"\b(?:number of|how many|inclusive|multiples|integers|terms|count\w*|pages|days)\b",
                                  text, re.IGNORECASE)):
                steps = list(src.steps)
                steps[i] = text[:terms[1].end] + text[terms[2].end:]
                out.append(Edit(steps, step=i, start=c.start, label=i,
                                detail=f"step {i + 1}: the + 1 for counting both ends left out of '{where}'"))
        return out


class MissingStepError:
    """A step that computes a quantity is dropped; the first later step that needed that quantity
    uses the value from before the step instead."""

    name = "missing_step"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for k, m in enumerate(src.maths[:-1]):
            if len(m.calcs) != 1 or len(m.calcs[0].operands) != 2:
                continue
            c = m.calcs[0]
            # What the step started from: the quantity it changes (48 in 48/2), one the question or an
            # earlier step gave; the larger where both are. Skipping the step leaves that quantity as it was.
            known = src.question_values | {e.result.value for mm in src.maths[:k] for e in mm.calcs}
            ops = {t.op for t in c.lhs if t.kind == "op"}
            if "*" in ops and any(t.value is None or t.value.denominator != 1 or t.percent for t in c.operands):
                continue  # 10% of 600 is a part: skipping it leaves nothing a solver would use in its place
            if ops & {"-", "/"}:  # 68 - 30, 48 / 2: what is left when the step is skipped is 68, 48
                starts = [c.operands[0]] if c.lhs[0].kind == "num" and not c.operands[0].percent else []
            else:
                starts = [t for t in c.operands if t.value in known and not t.percent]
            if not starts:
                continue
            money = lambda t, k=k: src.steps[k][max(0, t.start - 2):t.start].rstrip().endswith(("$", "€", "£"))  # noqa: E731
            # $20 a pair x 3 pairs = $60: left out, the $20 stands for the $60, not the 3
            start = max(starts, key=lambda t: (money(t) == money(c.result), t.value))
            r, before = c.result.value, start.value
            if r in src.question_values or before == r:
                continue
            consumer = next((j for j in range(k + 1, len(src.steps))
                             if any(t.value == r for t in src.maths[j].numbers)), None)
            if consumer is None or not any(t.value == r for calc in src.maths[consumer].calcs for t in calc.operands):
                continue
            steps = src.steps[:k] + renumbered(src.steps[k + 1:], step_marker(src.steps[k]))
            out.append(Edit(steps, step=k, start=0, label=consumer - 1, subst={r: before},
                            origins={r: frozenset(t.value for t in c.operands)},
                            detail=f"step {k + 1} ('{src.steps[k]}') left out; later steps use "
                                   f"{_show(before)} instead of {_show(r)}"))
        return out


def renumbered(later: list[str], removed) -> list[str]:
    """The steps after a removed one, their numbers (`Step 4:`, `4.`, `Fourth,`) moved down by one so
    the list reads without a gap, as it would had the solver never written the step."""
    if removed is None:
        return list(later)
    out = []
    for text in later:
        mark = step_marker(text)
        if mark is not None and mark.kind == removed.kind and mark.number > removed.number:
            text = mark.renumbered(text, mark.number - 1)
        out.append(text)
    return out


OPERATORS = {op.name: op for op in (CalculationError(), OperatorError(), QuestionValueError(),
                                    EarlierStepValueError(), UnitConversionError(), CountingError(),
                                    MissingStepError())}
