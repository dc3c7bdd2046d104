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
from importlib.resources import files
from pathlib import Path
from typing import Optional

import yaml

from synth.inject.arith import (SWAP_OP, Calc, StepMath, Token, after_money_sign, apply_edits, format_like,
                                is_terminating, numbers_in, parse_step, step_marker)
from synth.inject.propagate import Edit

_LETTERS = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class ErrorType:
    name: str
    description: str
    example: str


# from the package, not beside this file: compiled (synth/native.py), this module lives elsewhere
TAXONOMY_PATH = Path(str(files("synth.inject").joinpath("taxonomy.yaml")))


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
    if v.denominator == 1:
        return str(v.numerator)
    return f"{float(v):g}" if is_terminating(v, 6) else f"{v.numerator}/{v.denominator}"


def _stated_beside(src: SourceSolution, i: int, calc: Calc, t: Token) -> bool:
    """Whether step i states the operand's value outside the computation (`each kit costs $45.00, so
    that's 3*45`): replacing it in the computation alone leaves the step contradicting itself."""
    return any(u.value == t.value and u not in calc.lhs and u != calc.result for u in src.maths[i].numbers)


def _operand_edit(src: SourceSolution, i: int, calc: Calc, t: Token, new: Fraction, why: str) -> Edit:
    return Edit(src.replace(i, t, format_like(new, t)), step=i, start=calc.start, label=i,
                detail=f"step {i + 1}: {why}: {_show(t.value)} -> {_show(new)} in '{calc.text(src.steps[i])}'")  # type: ignore[arg-type]


# ---- calculation slips ----------------------------------------------------------------------------

SLIP_KINDS = ("transposed_digits", "dropped_digit", "carry_error", "borrow_error", "off_by_one_digit",
              "dropped_term", "misplaced_decimal", "added_denominators", "times_table_error")


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


def _neighbouring_fact(a: int, b: int) -> Optional[int]:
    """A product of two one-digit factors (trailing zeros aside) recalled as the neighbouring entry of
    the times table, the commonest wrong fact (5 x 7 = 30, 3 x 20 = 40): the larger factor taken one
    lower. Not for doubling (2 x 4), which nobody gets wrong that way."""
    za, zb = len(str(a)) - len(str(a).rstrip("0")), len(str(b)) - len(str(b).rstrip("0"))
    ma, mb = a // 10 ** za, b // 10 ** zb
    if not (3 <= ma <= 9 and 3 <= mb <= 9):
        return None
    lo, hi = sorted((ma, mb))
    return lo * (hi - 1) * 10 ** (za + zb)


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
        # transposed in copying a result of three digits or more: 624 -> 642, the last two that differ
        # swapped (in a two-digit result, 4 + 10 = 41 and 30 - 5 = 52 are no slips anyone makes)
        fact = len(core) < 3 and all(t.value is not None and abs(t.value) < 10 for t in c.operands)
        if len(core) >= 3:
            k = next((k for k in range(len(core) - 2, -1, -1) if core[k] != core[k + 1]
                      and not (k == 0 and core[k + 1] == "0")), None)
            if k is not None:
                out.append(("transposed_digits",
                            Fraction(int(core[:k] + core[k + 1] + core[k] + core[k + 2:] + "0" * zeros))))
        if len(d) >= 3:  # dropped: 1050 -> 150, 1225 -> 125
            k = next((k for k in range(1, len(core)) if core[k] == "0" or core[k] == core[k - 1]), None)
            if k is not None:
                out.append(("dropped_digit", Fraction(int(core[:k] + core[k + 1:] + "0" * zeros))))
        # a carry forgotten in column addition of numbers of two digits or more (17 + 4 = 11 is no slip
        # of anyone who can add)
        if (whole and ops == {"+"} and len(ints) >= 2 and sorted(len(str(o)) for o in ints)[-2] >= 2
                and (w := _forgotten_carry(ints)) is not None):
            out.append(("carry_error", Fraction(w)))
        # a borrow forgotten in column subtraction of two numbers of two digits or more (10 - 3 = 17 is
        # not worked in columns by anyone)
        if (whole and ops == {"-"} and len(ints) == 2 and ints[0] > ints[1] >= 10
                and (w := _forgotten_borrow(*ints)) is not None):
            out.append(("borrow_error", Fraction(w)))
        if whole and ops == {"*"} and len(ints) == 2 and (w := _forgotten_product_carry(*ints)) is not None:
            out.append(("carry_error", Fraction(w)))
        if whole and ops == {"*"} and len(ints) == 2 and (w := _neighbouring_fact(*ints)) is not None:
            out.append(("times_table_error", Fraction(w)))
        # Off by one in the last digit that was worked out (7 + 8 = 14, 4 x 400 = 1500); not where the
        # computation is a shift by a power of ten (10 x 1000 = 20000 is not a slip anyone makes).
        tens = ops <= {"*", "/"} and any(t.value and _power_of_ten(t.value) for t in c.operands)
        # nor in halving (50 / 2 = 24): too easy to get a digit wrong
        tens = tens or (ops == {"/"} and len(c.operands) == 2 and c.operands[1].value == 2) or (
            ops == {"*"} and any(t.value == 2 for t in c.operands))  # nor in doubling (11 x 2 = 21)
        # A one-digit result is slipped where a subtraction or sum crosses ten (15 - 9 = 5), not in 2 x 2.
        small = len(core) >= 2 or (not zeros and ops <= {"+", "-"}
                                   and any(t.value is not None and 10 <= t.value < 20 for t in c.operands))
        # nor in a times-table fact (4 x 4 = 15): a wrong fact is another entry of the table, not a digit off
        # nor where the last digit is copied, not worked out (25 + 10, 20 + 35: one operand ends in 0)
        copied = whole and not zeros and ((ops == {"+"} and sum(1 for o in ints if o % 10) <= 1)
                                          or (ops == {"-"} and len(ints) == 2 and ints[1] % 10 == 0))
        if not tens and small and not (fact and ops == {"*"}) and not copied:
            k = len(core) - 1
            digit = int(core[k])
            new = digit - 1 if digit > (1 if k == 0 else 0) else digit + 1
            out.append(("off_by_one_digit", Fraction(int(core[:k] + str(new) + "0" * zeros))))
    elif r.denominator != 1 and c.result.decimals and r >= 1:  # 10.5 -> 11.5: the units digit off by one
        out.append(("off_by_one_digit", r + 1 if r < 1 or int(r) % 10 == 0 else r - 1))
    if ops == {"+"} and len(c.operands) >= 3 and not any(t.kind in ("lp", "rp") for t in c.lhs):
        # a term forgotten (the middle one first); never one whose sum equals another term (6 + 10 + 4
        # = 10 reads as a copied addend, not a forgotten one)
        terms = {t.value for t in c.operands}
        middle = len(c.operands) // 2
        for k in [middle] + [k for k in range(1, len(c.operands)) if k != middle]:
            if r - c.operands[k].value not in terms:  # type: ignore[operator]
                out.append(("dropped_term", r - c.operands[k].value))  # type: ignore[operator]
                break
    # 0.2 x 50, 1.5 x 6, and 12 / 60 = 0.2 (written as 2 or 0.02)
    if r.denominator != 1 or any(t.value is not None and t.value.denominator != 1 for t in c.operands):
        shifted = r / 10 if is_terminating(r / 10, max(2, c.result.decimals)) else r * 10
        out.append(("misplaced_decimal", shifted))
    return [(k, w) for k, w in out if w != r and w > 0]


def fraction_slips(c: Calc) -> list[tuple[str, Fraction]]:
    """`\\frac{3}{6} + \\frac{2}{6} = \\frac{5}{12}`: the sum of two written fractions taken as the sum of
    the numerators over the sum of the denominators, the fraction slip every teacher has seen."""
    signs = [t.op for t in c.lhs if t.kind == "op" and t.editable]
    bars = [t for t in c.lhs if t.kind == "op" and not t.editable and t.op == "/"]
    values = [t.value for t in c.operands]
    if signs != ["+"] or len(bars) != 2 or len(values) != 4 or any(v is None or v.denominator != 1 for v in values):
        return []
    n1, d1, n2, d2 = values
    if not (d1 and d2) or n1 < 0 or n2 < 0:  # type: ignore[operator]
        return []
    wrong = Fraction(n1 + n2, d1 + d2)  # type: ignore[operator]
    return [("added_denominators", wrong)] if wrong != c.result.value and wrong > 0 else []


class CalculationError:
    """The result of one computation is wrong by a slip a person makes (the kind is recorded); the
    expression is left as it was."""

    name = "calculation"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            r = c.result.value
            assert r is not None
            if c.result.percent:
                continue  # a slip in a percent is not one of the digit slips made here
            # a written fraction's slip is a fraction slip; the digit slips are for decimal numbers
            slips = fraction_slips(c) if c.result.fraction else calculation_slips(c)
            for slip, w in slips:
                shown = format_like(w, c.result)
                if not c.result.fraction and Fraction(shown.replace("{,}", "").replace(",", "")) != w:
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
          "plus": "minus"},
    "-": {"subtract": "add", "subtracts": "adds", "subtracting": "adding", "subtracted": "added",
          "difference": "sum", "minus": "plus"},
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
    "/": r"half|halve[sd]?|third|quarter|split|shar\w+|average|ratio|each|among|between|per|"
         r"left|leav\w*|remain\w*|rest|giv\w*|gave|away|lost",  # 24 x 2 left after giving some away: more than he had
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
# Words that compare two quantities or name a change (`3 letters shorter`, `five less than`, `increased
# by 30%`), and the word that says the opposite. Swapping + and - is a misreading of the question only
# where such a word says how the quantity after the sign relates to the other, and it is flipped with
# the sign: `3 letters shorter than Bobbie's, so 10 - 3` becomes `3 letters longer than Bobbie's, so
# 10 + 3`. Where the word describes the result (`24 more children than adults because 72 - 48`, `it
# gained 600 - 400`) or has no opposite here (`extra`, `ago`, `discount`), the swap is not made: the
# step would contradict its own words.
_COMPARATIVES: dict[str, Optional[str]] = {
    "more": "fewer", "less": "more", "fewer": "more", "longer": "shorter", "shorter": "longer", "taller": "shorter",
    "older": "younger", "younger": "older", "heavier": "lighter", "lighter": "heavier", "bigger": "smaller",
    "larger": "smaller", "smaller": "larger", "higher": "lower", "lower": "higher", "faster": "slower",
    "slower": "faster", "later": "earlier", "earlier": "later", "increase": "decrease", "increases": "decreases",
    "increased": "decreased", "increasing": "decreasing", "decrease": "increase", "decreases": "increases",
    "decreased": "increased", "decreasing": "increasing", "gain": "loss", "gains": "loses", "gained": "lost",
    "raise": "cut", "raised": "cut", "cheaper": None, "extra": None, "ago": None, "discount": None,
    "discounted": None, "reduce": "increase", "reduced": "increased", "reduces": "increases", "reduction": None,
    "earns": None, "lose": "gain", "loses": "gains", "lost": "gained", "loss": "gain",
}
_CHANGE_WORDS = re.compile(r"increas\w*|decreas\w*|gain\w*|rais\w+|reduc\w+|los[est]\w*|earns")
_NUMBER_WORDS = {w: k for k, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                             "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}
_WORDS = re.compile(r"\x00+|[$€£]?\d[\d,]*(?:\.\d+)?%?|[A-Za-z]+")


def _word_value(word: str) -> Optional[Fraction]:
    w = word.lower().lstrip("$€£").rstrip("%").replace(",", "")
    if w in _NUMBER_WORDS:
        return Fraction(_NUMBER_WORDS[w])
    try:
        return Fraction(w)
    except ValueError:
        return None


def _attached_number(words: list, k: int) -> Optional[Fraction]:
    """The quantity a comparative at word `k` is said of: the nearest number in the four words before
    it (`3 letters shorter`, `Five less`), or for a change word the number just after it
    (`increased by 30`, `gained 5 pounds`); never across the computation itself (`\x00`)."""
    for j in range(k - 1, max(-1, k - 5), -1):
        if words[j].group().startswith("\x00"):
            break
        if (v := _word_value(words[j].group())) is not None:
            return v
    if _CHANGE_WORDS.fullmatch(words[k].group().lower()):
        for j in range(k + 1, min(len(words), k + 3)):
            if words[j].group().startswith("\x00"):
                break
            if (v := _word_value(words[j].group())) is not None:
                return v
    return None


def _compares(words: list, k: int) -> bool:
    """`3 letters shorter than`, `increased by 30`: the word relates two quantities (or names a change
    by an amount), rather than saying `9 more` apples were bought."""
    if _CHANGE_WORDS.fullmatch(words[k].group().lower()):
        return True
    return any(w.group().lower() == "than" for w in words[k + 1:k + 7])


# `to`/`from` after an operation word, where it names the quantity operated on (`add 7 to both
# sides`, `subtract that from the total`), not an infinitive (`adding 30 lbs to reach`).
_OPERAND_AFTER = r"(?=\s+(?:\d|[$€£]|the\b|his\b|her\b|their\b|its\b|a\b|an\b|that\b|this\b|each\b|both\b|what\b))"
_RENAMED = {"difference": ("between", "sum", "of"), "sum": ("of", "difference", "between")}


def reword_operation(text: str, op: str, span: tuple[int, int], moved: Optional[Fraction] = None) -> Optional[str]:
    """The step's words outside the computation `span`, changed to name the swapped operation
    (`Subtract 7 from` -> `Add 7 to`, `5 less than` -> `5 more than`, `the difference between` ->
    `the sum of`); None where the words would contradict the new sign. `moved`: the value after the
    swapped sign, the quantity a comparative must be said of for the swap to be a misreading of the
    question rather than a seam."""
    outside = text[:span[0]] + "\x00" * (span[1] - span[0]) + text[span[1]:]
    if re.search(rf"\b(?:{_OP_CONTRADICTED[op]})\b", outside, re.IGNORECASE):
        return None
    if op in "+-" and not re.search(rf"\b(?:{_DIRECTION_WORDS})\b", outside, re.IGNORECASE):
        return None
    words = _OP_WORDS[op]
    edits: dict[tuple[int, int], str] = {}
    if op in "+-":
        tokens = list(_WORDS.finditer(outside))
        for k, m in enumerate(tokens):
            low = m.group().lower()
            if low not in _COMPARATIVES:
                continue
            flipped = _COMPARATIVES[low]
            if flipped is None or moved is None or not _compares(tokens, k) or _attached_number(tokens, k) != moved:
                return None  # says the old operation of the result, or of no quantity here
            if low == "more" and op == "+" and not any(w.group().endswith("s") for w in tokens[k + 1:k + 3]):
                flipped = "less"  # 5 more minutes -> 5 fewer minutes; 5 more money -> 5 less money
            edits[m.span()] = flipped.capitalize() if m.group()[0].isupper() else flipped
    for m in re.finditer(r"\b(" + "|".join(words) + r")\b", outside, re.IGNORECASE):
        low = m.group(1).lower()
        new = words[low]
        if low.startswith("add"):
            # `he added another 2 pounds`, `adding the photos to the gallery`: the step tells what happens
            # in the story; `subtracted` there contradicts the question. (Subtracting where one should
            # add, `adding the cost` to a profit, is the mistake solvers make, and is kept.)
            return None
        if low in _RENAMED:  # `the difference between a and b` -> `the sum of a and b`
            joint, new, new_joint = _RENAMED[low]
            follow = re.compile(rf"\s+{joint}\b").match(outside, m.end())
            if follow is None:
                if not re.compile(r"\s+(?:is|was|=)").match(outside, m.end()):
                    return None  # `their 6 month difference`: not the name of this operation
            else:
                edits[(follow.start() + len(follow.group()) - len(joint), follow.end())] = new_joint
        edits[m.span()] = new.capitalize() if m.group(1)[0].isupper() else new
        if op in _FROM_TO and low in ("add", "adds", "adding", "added", "subtract", "subtracts", "subtracting",
                                      "subtracted"):
            pattern, replacement = _FROM_TO[op]
            follow = re.compile(pattern + _OPERAND_AFTER).search(outside, m.end(), m.end() + 60)
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
                if t.op == "*" and any(after_money_sign(text, u) for u in c.operands):
                    continue  # $8 x 2 shirts divided is no mistake a solver makes: price times quantity
                swapped = text[:t.start] + new + text[t.end:]
                shift = len(new) - (t.end - t.start)
                after = c.lhs[pos + 1] if pos + 1 < len(c.lhs) else None
                moved = after.value if after is not None and after.kind == "num" else None
                reworded = reword_operation(swapped, t.op, (c.start, c.result.end + shift), moved)
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


_NOT_UNITS = frozenset("of her his their its the a an and or to for each per in on at with than as more less fewer "
                       "is are was were it that this from by every then so if he she they them we you".split())
_QUESTION_NUMBER = re.compile(r"([$€£]\s?)?(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\s?%|\s+percent)?")


def _kinds(text: str) -> dict[Fraction, list[frozenset[str]]]:
    """What each number of a question counts: `$` (money), `%`, or the words that follow it (`60
    students`, `12 years old`): a value copied from the wrong place in the question is another
    quantity of the same kind ($8 for $10, 11 stamps for 13 stamps), not an age for a price."""
    out: dict[Fraction, list[frozenset[str]]] = {}
    for m in _QUESTION_NUMBER.finditer(text):
        value = Fraction((m.group(2) + (m.group(3) or "")).replace(",", ""))
        if m.group(4):
            kinds = {"%"}
            value /= 100
        elif m.group(1):
            kinds = {"$"}
        else:
            after = _LETTERS.findall(text[m.end():m.end() + 40])[:3]
            kinds = {w.lower().rstrip("s") for w in after if w.lower() not in _NOT_UNITS and len(w) > 2}
        out.setdefault(value, []).append(frozenset(kinds or {"?"}))
    return out


def _same_kind(a: list[frozenset[str]], b: list[frozenset[str]]) -> bool:
    """Whether some mention of one value counts the same kind of thing as some mention of the other."""
    for x in a:
        for y in b:
            if {"$", "%"} & (x | y):
                if {"$", "%"} & x & y:
                    return True
            elif "?" in x or "?" in y or x & y:
                return True
    return False


class QuestionValueError:
    """An operand copied from the question is replaced by another number the question gives."""

    name = "question_value"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        kinds = _kinds(src.problem)
        for i, c in src.calcs():
            # A number the solution already wrote before this computation is copied from there, not
            # from the question: that is an earlier_step_value error, typed as such.
            written = {u.value for m in src.maths[:i] for u in m.numbers} | {
                u.value for u in src.maths[i].numbers if u.start < c.start or u in c.lhs}
            results = {e.result.value for m in src.maths[:i] for e in m.calcs}
            for t in c.operands:
                if t.percent or not t.value or t.value not in src.question_values or t.value in results:
                    continue
                k = c.lhs.index(t)
                if any(0 < j < len(c.lhs) and _fraction_bar(src.steps[i], c.lhs, j) for j in (k - 1, k + 1)):
                    continue  # the 8 of 5/8 is part of one number: 24 x 5/2 is no copying slip
                if _stated_beside(src, i, c, t):
                    continue
                for q in sorted(src.question_values):
                    # Another quantity of the same order: swapping 2 parts for $2500 is not a slip anyone makes.
                    # (and a count stays whole: 0.5 trees is no copying slip)
                    if (q != t.value and q > 0 and q not in written and Fraction(1, 10) <= q / t.value <= 10
                            and not any(u is not t and u.value == q for u in c.operands)
                            and _not_identity(c, t, q) and (q.denominator == 1 or t.value.denominator != 1)
                            and _same_kind(kinds.get(t.value, [frozenset("?")]), kinds.get(q, [frozenset("?")]))):
                        out.append(_operand_edit(src, i, c, t, q, "wrong number taken from the question"))
        return out


_NOT_RESULT_UNITS = _NOT_UNITS | frozenset("away left more total remaining altogether now which so then".split())


def _result_kind(text: str, t: Token) -> frozenset[str]:
    """What a step's result counts: `$` for money, else the one word that follows it (`6 miles`,
    `1 hour`), or `?` where no word names it. One word only: `2 hours, leaving` and `6 miles, leaving`
    share `leaving` but not what they count."""
    if after_money_sign(text, t) or re.match(r"\s*(?:dollars?|cents?)\b", text[t.end:], re.IGNORECASE):
        return frozenset({"$"})
    for w in _LETTERS.findall(text[t.end:t.end + 30])[:2]:
        w = w.lower()
        if w not in _NOT_RESULT_UNITS and len(w) > 2:
            return frozenset({w.rstrip("s")})
    return frozenset({"?"})


def _step_results(src: SourceSolution, i: int) -> list[tuple[int, Fraction, frozenset[str]]]:
    """(step, value, kind) of each result worked out before step i (not a percent's 100)."""
    return [(j, e.result.value, _result_kind(src.steps[j], e.result))
            for j, m in enumerate(src.maths[:i]) for e in m.calcs if not e.result.percent and e.result.value]


class EarlierStepValueError:
    """An operand that is an earlier step's result is replaced by another result a solver would
    plausibly confuse with it: one that counts the same kind of thing (hours for hours, money for
    money), worked out near the step that gave the right one (the step before it or any later one),
    never a value far back that skips over the one just computed for that place."""

    name = "earlier_step_value"

    def candidates(self, src: SourceSolution) -> list[Edit]:
        out = []
        for i, c in src.calcs():
            # Another quantity an earlier step worked out (not the 100 of a percent, not a number the
            # question gives, which a reader would take as copied from the question).
            results = [r for r in _step_results(src, i) if r[1] not in src.question_values]
            for t in c.operands:
                if t.percent or not t.value or t.value in src.question_values:
                    continue
                made = [r for r in results if r[1] == t.value]
                if not made or _stated_beside(src, i, c, t):
                    continue
                j, _, kind = made[-1]  # the step that gave the operand (the latest that did)
                others = {u.value for u in c.operands if u is not t}
                seen: set[Fraction] = set()
                for k, v, vkind in results:
                    # a quantity of the same order: $33,000 of salary does not stand in for a $4,500 raise;
                    # never the other operand (`13,248 + 13,248`: a value added to itself is no slip)
                    if (k < j - 1 or v == t.value or v in others or v in seen or not Fraction(1, 5) <= v / t.value <= 5
                            or not _not_identity(c, t, v) or not _same_kind([kind], [vkind])):
                        continue
                    seen.add(v)
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
                if _stated_beside(src, i, c, t):
                    continue
                if not re.search(rf"\b(?:{CONVERSION_UNITS[t.value]})(?!\w)", src.steps[i], re.IGNORECASE):
                    continue
                for w in CONVERSIONS[t.value]:
                    out.append(_operand_edit(src, i, c, t, Fraction(w), "wrong conversion factor"))
        return out


ORDINAL_COUNTS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


def _term_span(text: str, c: Calc, k: int) -> tuple[int, int]:
    """The span of the k-th term of a sum with the words that label it (`+ 64 suckers` in `256 goldfish
    + 64 suckers + 32 guppies`), so leaving it out never moves one term's label onto another."""
    terms, ops = c.operands, [t for t in c.lhs if t.kind == "op"]
    if k == 0:
        return terms[0].start, terms[1].start
    s = ops[k - 1].start
    if k + 1 < len(terms):
        e = ops[k].start
    else:
        eq = text.rfind("=", terms[k].end, c.result.start)
        e = eq if eq >= 0 else terms[k].end
    while s > terms[k - 1].end and text[s - 1] == " ":
        s -= 1
    while e > terms[k].end and text[e - 1] == " ":
        e -= 1
    return s, e


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
            outside = text[:c.start] + text[c.result.end:]
            # `3 + 6 + 5 = 14 mm in 3 days`: the words count the items, so one left out is a seam
            counted = re.search(rf"\b(?:{len(terms)}|{ORDINAL_COUNTS.get(len(terms), '-')})\b", outside, re.IGNORECASE)
            if all(o.op == "+" for o in ops) and len(terms) >= 3 and not counted:  # an item left out
                for k in range(len(terms)):
                    s, e = _term_span(text, c, k)
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
            # $20 a pair x 3 pairs = $60: left out, the $20 stands for the $60, not the 3
            # (a module function, not a closure over this loop: compiled, a closure called by another
            # closure made a reference cycle per source, holding its parsed steps until a collection)
            step, result_money = src.steps[k], after_money_sign(src.steps[k], c.result)
            start = max(starts, key=lambda t: (after_money_sign(step, t) == result_money, t.value))
            r, before = c.result.value, start.value
            if r in src.question_values or before == r:
                continue
            consumer = next((j for j in range(k + 1, len(src.steps))
                             if any(t.value == r for t in src.maths[j].numbers)), None)
            if consumer is None or not any(t.value == r for calc in src.maths[consumer].calcs for t in calc.operands):
                continue
            later = renumbered(src.steps[k + 1:], step_marker(src.steps[k]))
            if k == 0:
                later[0] = without_leading_connective(later[0])
            steps = src.steps[:k] + later
            out.append(Edit(steps, step=k, start=0, label=consumer - 1, subst={r: before},  # type: ignore[dict-item]
                            origins={r: frozenset(t.value for t in c.operands)},  # type: ignore[dict-item]
                            detail=f"step {k + 1} ('{src.steps[k]}') left out; later steps use "
                                   f"{_show(before)} instead of {_show(r)}"))  # type: ignore[arg-type]
        return out


_CONNECTIVE = re.compile(r"(?:So|Then|Therefore|Thus|Hence|Next|Now|After that|This means|That means),?\s+(?=\w)")


def without_leading_connective(text: str) -> str:
    """`So, she has ...` opening a solution whose first step was left out reads as the seam it is: a
    solver who never wrote that step starts with the next one's claim, not with its `So`."""
    mark = step_marker(text)
    if mark is not None and mark.kind == "ordinal":
        return text
    head = 0 if mark is None else mark.end
    while head < len(text) and text[head] in " \t:.)-–*_#>":
        head += 1
    m = _CONNECTIVE.match(text, head)
    if m is None:
        return text
    rest = text[m.end():]
    return text[:head] + rest[:1].upper() + rest[1:]


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
