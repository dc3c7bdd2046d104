"""Comparing an original solution with a corrupted one, step by step.

The first wrong step of a corrupted solution is found here by comparison, never taken from
whoever made the corruption (an operator or a teacher model): ProcessBench labels the earliest
erroneous step, and a label that is off by one teaches a critic the wrong thing.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Optional, Sequence

from synth.inject.arith import StepMath, number_value, parse_step, step_marker

_SPACE = re.compile(r"\s+")
_NUMBER_COMMAS = re.compile(r"(?<=\d),(?=\d{3})")


def _unmarked(step: str) -> str:
    """The step without its number in the list (`Step 3:`, `3.`, `Third,`): renumbering a list after a
    removed step does not change what a step says."""
    mark = step_marker(step)
    return step if mark is None else step[:mark.start] + "#" + step[mark.end:]


@lru_cache(maxsize=1 << 14)
def normalize_step(step: str) -> str:
    """What counts as the same step: case, spacing, trailing punctuation, `$`, thousands separators and
    the step's number in the list aside."""
    s = _NUMBER_COMMAS.sub("", _unmarked(step).replace("$", ""))
    return _SPACE.sub(" ", s).strip().rstrip(".,;:!").lower()


@dataclass(frozen=True)
class FirstChange:
    corrupted: int  # index of the first changed step in the corrupted solution
    original: Optional[int]  # the original step it stands in place of; None for an inserted step


@lru_cache(maxsize=1 << 12)
def _opcodes(original: tuple[str, ...], corrupted: tuple[str, ...]) -> tuple[tuple[str, int, int, int, int], ...]:
    """The alignment of two solutions' normalized steps. Cached: the label checks and the seam checks
    align the same pair of solutions several times."""
    a = [normalize_step(s) for s in original]
    b = [normalize_step(s) for s in corrupted]
    return _head_and_tail_opcodes(a, b) or tuple(difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes())


def _head_and_tail(a: Sequence, b: Sequence) -> tuple[int, int]:
    """The lengths of the common head and of the common tail after it (they never overlap)."""
    n = min(len(a), len(b))
    head = 0
    while head < n and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < n - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return head, tail


def _head_and_tail_opcodes(a: list[str], b: list[str]) -> Optional[tuple[tuple[str, int, int, int, int], ...]]:
    """difflib's opcodes (autojunk off) for the usual pair, without difflib: two different solutions,
    neither repeating a step, with a common head and tail around middles that share no step (an error
    carried through makes new lines). None for any other pair, which difflib aligns.

    Why they are difflib's: with no step repeated within a solution, a step of `a` equals at most one
    of `b`, so the equal pairs are exactly the head's and the tail's, two runs. difflib takes the
    longer (the head on a tie: earliest in `a`), finds the other in what is left beside it, and
    nothing between. A repeated step breaks this (`aaaa` against `aaYaa` pairs one's head with the
    other's tail), so such pairs go to difflib. Tested against difflib (tests/test_inject.py)."""
    if a == b or len(set(a)) != len(a) or len(set(b)) != len(b):
        return None
    head, tail = _head_and_tail(a, b)
    a_mid, b_mid = a[head:len(a) - tail], b[head:len(b) - tail]
    if not set(a_mid).isdisjoint(b_mid):  # a step of `a`'s middle in `b`'s (elsewhere it would repeat)
        return None
    tag = "replace" if a_mid and b_mid else "delete" if a_mid else "insert"
    out = [("equal", 0, head, 0, head)] if head else []
    out.append((tag, head, len(a) - tail, head, len(b) - tail))
    if tail:
        out.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    return tuple(out)


def first_change(original: list[str], corrupted: list[str]) -> Optional[FirstChange]:
    """The first step of `corrupted` that is not an unchanged step of `original`.

    Steps are aligned (difflib), so a removed step does not make every later step look changed: with
    a missing step, the first wrong step is the first later step that differs. Where a block of steps
    shrank, the removed steps are taken to be its first ones, so the changed step is compared with the
    step it rewrote. A pure deletion has no changed step and returns None.
    """
    for tag, i1, i2, j1, j2 in _opcodes(tuple(original), tuple(corrupted)):
        if tag == "replace":
            return FirstChange(j1, i1 + max(0, (i2 - i1) - (j2 - j1)))
        if tag == "insert":
            return FirstChange(j1, None)
    return None


def wrong_calc_steps(steps: list[str]) -> list[int]:
    """Indices of steps with a computation whose stated result is not its value."""
    return [i for i, s in enumerate(steps) if any(not c.holds for c in parse_step(s).calcs)]


@lru_cache(maxsize=1 << 14)
def _quantities(step: str) -> tuple[Fraction, ...]:
    """The values of the numbers a step states, its own number in a list aside."""
    mark = step_marker(step)
    return tuple(t.value for t in parse_step(step).numbers if mark is None or t.start >= mark.end)  # type: ignore[misc]


def aligned_changes(original: list[str], corrupted: list[str]) -> list[tuple[int, str, str]]:
    """(index in `corrupted`, original step, corrupted step) for every step edited in place, steps
    aligned as in first_change (a removed step is taken from the start of its block)."""
    out = []
    for tag, i1, i2, j1, j2 in _opcodes(tuple(original), tuple(corrupted)):
        if tag == "replace":
            n = min(i2 - i1, j2 - j1)
            out += [(j2 - n + k, original[i2 - n + k], corrupted[j2 - n + k]) for k in range(n)]
    return out


_LATEX_FRACTION = re.compile(r"\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")
_DIGITS = re.compile(r"(?=\d)(?:(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\d.,])\d+(?:\.\d+)?)")


_NUMBER_WORDS = {w: Fraction(n) for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {
    "thirty": Fraction(30), "forty": Fraction(40), "fifty": Fraction(50), "sixty": Fraction(60), "hundred": Fraction(100),
    "half": Fraction(1, 2), "twice": Fraction(2), "double": Fraction(2), "triple": Fraction(3), "dozen": Fraction(12)}
_WORD_NUMBER = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)


def _written_numbers(step: str) -> list:
    """Every number written in a step, including those a variable or unit is glued to (`4k`, `2x`)
    and those written as words (`ten times`, `twice`), its own number in a list aside."""
    mark = step_marker(step)
    skip = mark.end if mark is not None else 0
    step = step[:skip] + step[skip:].replace("{,}", ",")  # LaTeX's 3{,}000
    # a LaTeX fraction is one number as written: \\frac{5}{6} becoming \\frac{5}{12} is not the 6
    # restated beside a 12 (and \\frac{336}{6} is not a restatement of the 56 it equals)
    fractions = [("frac", int(m.group(1)), int(m.group(2))) for m in _LATEX_FRACTION.finditer(step)
                 if m.start() >= skip]
    step = _LATEX_FRACTION.sub(lambda m: " " * len(m.group()), step)
    return (fractions + [number_value(m.group(), False) for m in _DIGITS.finditer(step) if m.start() >= skip]
            + [_NUMBER_WORDS[m.group().lower()] for m in _WORD_NUMBER.finditer(step) if m.start() >= skip])


@lru_cache(maxsize=1 << 14)
def _written_counts(step: str) -> Counter:
    """Cached (the original steps are read once per candidate and per check); read, never changed."""
    return Counter(_written_numbers(step))


def restated_old_value(original: list[str], corrupted: list[str]) -> Optional[tuple[int, Fraction]]:
    """The first changed step that still states a value its corruption replaced, beside the new one
    (`India: 29. Total: 50 + 25`, where 25 replaced 29; `4k = 2 \\cdot 20`): (its index, the value),
    or None. A reader sees the seam, not a mistake."""
    for j, before, after in aligned_changes(original, corrupted):
        old, new = _written_counts(before), _written_counts(after)
        for value, n in old.items():  # `old - new` in old's order, without building it
            if n > new.get(value, 0) > 0:
                return j, value
    return None


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
    numbers = _quantities(changed)
    if before is None:
        return any(v not in known_values for v in numbers)
    old = parse_step(before)
    if any(v not in set(_quantities(before)) for v in numbers):
        return True
    return bool(old.calcs) and not _signatures(math) <= _signatures(old)




_WORD = re.compile(r"\d+(?:\.\d+)?|\w+|[^\w\s]")



@lru_cache(maxsize=1 << 14)
def _words(step: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalize_step(step)))


def _numbers(words: tuple) -> int:
    return sum(w[0].isdigit() for w in words)


def _resembles(a: tuple, b: tuple, threshold: float) -> bool:
    """An edit in place: mostly the same words, and at most one number fewer (a term left out)."""
    if a == b:
        return True
    if _numbers(b) < _numbers(a) - 1:
        return False
    # difflib's matches include the longest common block of words, at least as long as the common head
    # or tail: 2 * that / (len a + len b) is a lower bound of its ratio, and an edit of one number in a
    # step usually leaves enough of either to decide without difflib
    if 2.0 * max(_head_and_tail(a, b)) / (len(a) + len(b)) >= threshold:
        return True
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return m.real_quick_ratio() >= threshold and m.quick_ratio() >= threshold and m.ratio() >= threshold


def is_one_edit_of(original: list[str], corrupted: list[str], threshold: float) -> bool:
    """Whether `corrupted` is `original` with steps edited in place, at most one step removed or added,
    and no computation or number lost but the removed step's: what one error carried to the end looks
    like.
    Steps are compared by their words, numbers and symbols (difflib ratio >= `threshold`, pair by pair
    in order). A rewrite, a summary without its arithmetic, or text that is not a solution fails."""
    a = [_words(s) for s in original]
    b = [_words(s) for s in corrupted]
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


@lru_cache(maxsize=1 << 14)
def _line_key(step: str) -> object:
    """What makes two lines read as the same: their computations, or the words where they have none."""
    return frozenset(_signatures(parse_step(step))) or normalize_step(step)


def repeated_line(original: list[str], corrupted: list[str]) -> Optional[int]:
    """The first step of `corrupted` that repeats the step before it (the same computations, or the
    same words), where the original did not: a swapped value that makes Monday's `30 - 19 = 11`
    Tuesday's too is a seam, not a slip."""
    before = {(_line_key(a), _line_key(b)) for a, b in zip(original, original[1:])}
    for k in range(1, len(corrupted)):
        pair = (_line_key(corrupted[k - 1]), _line_key(corrupted[k]))
        if pair[0] == pair[1] and pair not in before:
            return k
    return None


@lru_cache(maxsize=1 << 14)
def _self_combined(step: str) -> int:
    """How many computations of a step combine a value with itself (`13248 + 13248`, `30 + 18 + 30`)."""
    out = 0
    for c in parse_step(step).calcs:
        values = [t.value for t in c.operands if t.value is not None]
        out += len(values) != len(set(values))
    return out


def value_combined_with_itself(original: list[str], corrupted: list[str]) -> Optional[int]:
    """The first changed step that now adds (or multiplies, subtracts) a value to itself where the
    original step did not: carried values that collide read as a doubled copy, not a mistake."""
    for k, old, new in aligned_changes(original, corrupted):
        if _self_combined(new) > _self_combined(old):
            return k
    return None
