"""The arithmetic written in a solution step, found, evaluated and edited in place.

Error operators (LEMMA, ProcessBench) need to know which numbers a step computes from which, so
that a corrupted value can be carried through every later step. One tokenizer covers the three
forms steps come in: GSM8K gold steps (`48/2 = 24`, the `<<48/2=24>>` annotation removed by the seed
loader leaves this visible form in 99% of GSM8K's 23,716 annotations), the built-in generator's
steps, and model-written steps in plain text or LaTeX (`\\(18 - 6 = 12\\)`, `3 \\times 4`,
`\\frac{12}{3}`, `3 times 60 equals 180`).

A computation (`Calc`) is an expression with at least one operator, `=`, and one number. Values are
exact fractions, so `12/60 = 0.2` holds exactly and `10/3 = 3.33` holds to the shown precision.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Optional, cast

from synth.inject.values import Value

_TOKEN = re.compile(
    r"""
    # Only where a token can start (every alternative's first character): the scan skips the rest of
    # the text at one class test a character instead of trying each alternative's lookbehinds there.
    (?=[\\}\d.^+×÷·–−*/\-xXtpmdei()=])
    (?:
    (?P<frac>\\[dt]?frac\s*\{)
  | (?P<brace_mid>\}\s*\{)
  | (?P<brace_close>\})
  | (?P<num>(?<![a-wyzA-WYZ_.\d])(?:\d{1,3}(?:(?:,|\{,\})\d{3})+|\d+)(?:\.\d+)?(?![^\W\dxX])(?!\.\d)|(?<![a-wyzA-WYZ_.\d])\.\d+(?![^\W\dxX]))
  | (?P<pow>\^\s*\{?)
  | (?P<op>\\times|\\cdot|\\div|[+×÷·–−]|(?<!\*)\*(?!\*)|/(?!\s*[A-Za-z])|(?<![A-Za-z])-(?!-)
        |(?<=[\d\s)])[xX](?=\s*[$€£]?\s*[\d(])
        |\b(?:times|plus|minus|divided\ by|multiplied\ by)\b)
  | (?P<lp>\\left\(|(?<!\\)\()
  | (?P<rp>\\right\)|(?<!\\)\))
  | (?P<eq>=|\bequals\b|\bis\ equal\ to\b)
    )
    """,
    re.VERBOSE,
)
# What may stand between two tokens of one expression: spaces, currency signs, percent signs and
# LaTeX math delimiters. Anything else (a word, a comma, a colon) ends the expression.
_GAP = re.compile(r"(?:\s|\\\(|\\\)|\\\[|\\\]|\$|€|£|%|\\,|\\!|\\;)*")
# Unit words after a number, before an operator or `=`: `3 green hats + 16 pink hats = 19 hats`.
_UNIT_GAP = re.compile(r"(?:\s+|\s*/)[A-Za-z][A-Za-z'-]*(?:\s+[A-Za-z][A-Za-z'-]*){0,3}\s*")
_PERCENT_AFTER = re.compile(r"\s?%")
_SPACES = re.compile(r"\s+")
_OP_SYMBOL = {"+": "+", "plus": "+", "-": "-", "–": "-", "−": "-", "minus": "-",
              "*": "*", "x": "*", "X": "*", "×": "*", "·": "*", "\\times": "*", "\\cdot": "*", "times": "*",
              "multiplied by": "*", "/": "/", "÷": "/", "\\div": "/", "divided by": "/"}


# Compared and hashed like a frozen dataclass, and never changed once made, but built at a third of a
# frozen one's cost (no object.__setattr__ per field): a build makes millions of these.
@dataclass(eq=True, unsafe_hash=True, slots=True)
class Token:
    kind: str  # num | op | lp | rp | eq
    start: int  # span in the step text; empty for the division implied by \frac{a}{b}
    end: int
    text: str
    value: Optional[Fraction] = None  # num: its value (a percent is already divided by 100)
    percent: bool = False
    op: Optional[str] = None  # op: + - * /
    editable: bool = True  # False for the division implied by \frac
    fraction: bool = False  # num: a whole `\frac{5}{6}` written as one value (a result, or a mention)

    @property
    def decimals(self) -> int:
        return len(self.text.split(".")[1]) if "." in self.text else 0


@dataclass(frozen=True)
class Calc:
    """`lhs = result`: the expression's tokens, the stated result, and the expression's true value."""

    lhs: tuple[Token, ...]
    result: Token
    value: Fraction

    @property
    def operands(self) -> list[Token]:
        return [t for t in self.lhs if t.kind == "num"]

    @property
    def operators(self) -> list[Token]:
        return [t for t in self.lhs if t.kind == "op" and t.editable]

    @property
    def start(self) -> int:
        return self.lhs[0].start

    @property
    def holds(self) -> bool:
        """Whether the stated result is the expression's value, to the precision the result is written in."""
        return value_matches(self.value, self.result)

    def text(self, step: str) -> str:
        return step[self.start:self.result.end]


def value_matches(value: Fraction, shown: Token) -> bool:
    """|value - shown| < 1 / (2 * 10^decimals) (a hundredth of that for a percent), in integers:
    the same test as with Fractions, without making six of them per computation checked."""
    assert shown.value is not None
    a, b, c, d = value.numerator, value.denominator, shown.value.numerator, shown.value.denominator
    if shown.fraction:
        return a == c and b == d
    scale = 2 * 10 ** shown.decimals * (100 if shown.percent else 1)
    return scale * abs(a * d - c * b) < b * d


@dataclass(frozen=True)
class StepMath:
    text: str
    numbers: tuple[Token, ...]  # every number in the step
    calcs: tuple[Calc, ...]

    def in_calc(self, token: Token) -> bool:
        return any(token in c.lhs or token == c.result
                   or (token.fraction and any(token.start <= t.start < token.end for t in c.lhs)) for c in self.calcs)


@lru_cache(maxsize=1 << 14)
def number_value(text: str, percent: bool) -> Fraction:
    """Cached, with integer and decimal fast paths: `Fraction(str)` parses with a regex, and this
    runs for every number of every step the operators and checks read (the build's hottest call)."""
    digits = text.replace("{,}", "").replace(",", "")  # 3,000 and LaTeX's 3{,}000
    whole, dot, decimals = digits.partition(".")
    if (whole.isdigit() or (dot and not whole)) and (not dot or decimals.isdigit()) and digits.isascii():
        v = Value(int(whole + decimals), 10 ** len(decimals)) if dot else Value(int(whole))
    else:
        v = Value(digits)
    return Value(v / 100) if percent else v


def tokenize(text: str) -> list[list[Token]]:
    """Runs of math tokens: tokens separated only by what `_GAP` allows belong to one run. A new list
    of runs each call, from a cached reading (parse_step and numbers_in read the same steps)."""
    return [list(run) for run in _tokenized(text)]


@lru_cache(maxsize=1 << 14)
def _tokenized(text: str) -> tuple[tuple[Token, ...], ...]:
    return tuple(tuple(run) for run in _tokenize(text))


def _tokenize(text: str) -> list[list[Token]]:
    runs: list[list[Token]] = []
    current: list[Token] = []
    last_end = None
    braces: list[str] = []  # what each open `{` belongs to: a fraction's numerator or denominator, an exponent
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if last_end is not None and not _GAP.fullmatch(text, last_end, m.start()):
            units = (current and current[-1].kind == "num" and kind in ("op", "eq")
                     and _UNIT_GAP.fullmatch(text, last_end, m.start()))
            if not units:
                if current:
                    runs.append(current)
                current = []
        s, e = m.start(), m.end()
        if kind == "num":
            percent = bool(_PERCENT_AFTER.match(text, e, e + 2))
            current.append(Token("num", s, e, m.group(), number_value(m.group(), percent), percent))
        elif kind == "op":
            word = m.group()
            if word not in _OP_SYMBOL:  # `divided  by` with more space than one
                word = _SPACES.sub(" ", word)
            current.append(Token("op", s, e, m.group(), op=_OP_SYMBOL[word]))
        elif kind == "pow":  # `2^{10}`: an exponent, never edited as an operation
            current.append(Token("op", s, s + 1, "^", op="^", editable=False))
            if m.group().endswith("{"):
                current.append(Token("lp", e - 1, e, "{"))
                braces.append("exponent")
        elif kind == "frac":  # \frac{a}{b} is one group: (a)/(b) inside parentheses of its own
            current += [Token("lp", s, s, ""), Token("lp", s, e, m.group())]
            braces.append("numerator")
        elif kind == "brace_mid":
            if braces and braces[-1] == "numerator":
                braces[-1] = "denominator"
                current += [Token("rp", s, s + 1, "}"), Token("op", e, e, "", op="/", editable=False),
                            Token("lp", e - 1, e, "{")]
            else:  # \binom{8}{3} and the like: nothing this parser can evaluate
                current.append(Token("op", s, e, m.group(), op="?", editable=False))
        elif kind == "brace_close":
            current.append(Token("rp", s, e, "}"))
            if braces and braces.pop() == "denominator":
                current.append(Token("rp", e, e, ""))
        else:
            current.append(Token(cast(str, kind), s, e, m.group()))
        last_end = e
    if current:
        runs.append(current)
    return runs


class _Parser:
    """Recursive descent over one expression: + - below * /, parentheses, unary minus."""

    def __init__(self, tokens: list[Token]):
        self.t, self.i = tokens, 0

    def parse(self) -> Optional[Fraction]:
        try:
            v = self.expr()
        except (ZeroDivisionError, IndexError, ValueError):
            return None
        return v if self.i == len(self.t) else None

    def peek(self) -> Optional[Token]:
        return self.t[self.i] if self.i < len(self.t) else None

    def expr(self) -> Fraction:
        v = self.term()
        while (p := self.peek()) is not None and p.kind == "op" and p.op in ("+", "-"):
            self.i += 1
            r = self.term()
            v = v + r if p.op == "+" else v - r
        return v

    def term(self) -> Fraction:
        v = self.factor()
        while (p := self.peek()) is not None and p.kind == "op" and p.op in ("*", "/"):
            self.i += 1
            r = self.factor()
            v = v * r if p.op == "*" else v / r
        return v

    def factor(self) -> Fraction:
        p = self.peek()
        if p is not None and p.kind == "op" and p.op == "-":
            self.i += 1
            return -self.factor()
        v = self.primary()
        if (q := self.peek()) is not None and q.kind == "op" and q.op == "^":
            self.i += 1
            exponent = self.factor()
            if exponent.denominator != 1 or abs(exponent) > 64:
                raise ValueError("exponent")
            return v ** int(exponent)
        return v

    def primary(self) -> Fraction:
        p = self.peek()
        if p is None:
            raise ValueError("expression ends early")
        self.i += 1
        if p.kind == "num":
            assert p.value is not None
            return p.value
        if p.kind == "lp":
            v = self.expr()
            q = self.peek()
            if q is None or q.kind != "rp":
                raise ValueError("unclosed parenthesis")
            self.i += 1
            return v
        raise ValueError(f"unexpected {p.text!r}")


def evaluate(tokens: Iterable[Token], values: Optional[dict[int, Fraction]] = None) -> Optional[Fraction]:
    """The expression's value; `values` overrides numbers by token start (to evaluate an edit)."""
    toks = list(tokens)
    if values:
        toks = [Token(t.kind, t.start, t.end, t.text, values.get(t.start, t.value), t.percent, t.op, t.editable)
                if t.kind == "num" else t for t in toks]
    return _Parser(toks).parse()


# What a written expression continues into when it is cut: `2n - 8 = 10` is algebra, not `-8 = 10`.
_CONTINUES = re.compile(r"[A-Za-z0-9)}\]!^_]\s*$")


def cut_from_more(text: str, lhs: list[Token], dropped: list[Token]) -> bool:
    """Whether the expression found before `=` is only the tail of a longer one the tokenizer could
    not read (a variable, a factorial, a dropped operator): its value would be that of a fragment."""
    if dropped and dropped[-1].kind == "op":
        return True
    before = text[:lhs[0].start].rstrip(" $\\(")
    if lhs[0].kind == "op":
        return bool(_CONTINUES.search(before))
    return bool(before) and text[lhs[0].start - 1] not in " $(\\{" and bool(_CONTINUES.search(before))


def _percent_of_plain(lhs: list[Token], result: Token) -> Token:
    """`12/20 × 100 = 60%`: a result written with % after an expression with no percent in it is
    the expression's value in percent, not a hundredth of it."""
    if result.percent and not any(t.percent for t in lhs):
        assert result.value is not None
        return Token("num", result.start, result.end, result.text, result.value * 100, False)
    return result


def _calcs_in_run(run: list[Token], text: str = "") -> list[Calc]:
    calcs = []
    eqs = [i for i, t in enumerate(run) if t.kind == "eq"]
    for n, e in enumerate(eqs):
        result_at = e + 1
        if (e + 2 < len(run) and run[e + 1].kind == "op" and run[e + 1].op == "-" and run[e + 2].kind == "num"
                and run[e + 2].start - run[e + 1].end <= 1):  # `= -27`: a negative result
            result_at = e + 2
        if result_at >= len(run) or run[result_at].kind != "num":
            continue
        after = run[result_at + 1] if result_at + 1 < len(run) else None
        if after is not None and after.kind in ("op", "lp", "num"):
            continue  # the right side is itself an expression: not a stated result
        lo = eqs[n - 1] + 1 if n else 0
        # The longest suffix before `=` that parses (leading words or stray symbols are dropped).
        for s in range(lo, e):
            lhs = run[s:e]
            if lhs[0].kind == "op" and lhs[0].op != "-":
                continue
            if not any(t.kind == "op" for t in lhs):
                break
            value = evaluate(lhs)
            if value is not None:
                if text and cut_from_more(text, lhs, run[lo:s]):
                    break
                result = run[result_at]
                if result_at != e + 1:
                    minus = run[e + 1]
                    assert result.value is not None
                    result = Token("num", minus.start, result.end, text[minus.start:result.end] if text else
                                   "-" + result.text, -result.value, result.percent)
                calcs.append(Calc(tuple(lhs), _percent_of_plain(lhs, result), value))
                break
    return calcs


_LATEX_FRACTION = re.compile(r"(?=[-\\])(?<![\\\w])-?\\[dt]?frac\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}")


def latex_fractions(text: str) -> list[Token]:
    """Each `\\frac{5}{6}` of two plain numbers, as one value: how MATH-style solutions write results
    and answers (`= \\frac{2}{15}`, `\\boxed{\\frac{5}{6}}`)."""
    out = []
    for m in _LATEX_FRACTION.finditer(text):
        if int(m.group(2)):
            v = Fraction(int(m.group(1)), int(m.group(2)))
            out.append(Token("num", m.start(), m.end(), m.group(), -v if m.group().startswith("-") else v,
                             fraction=True))
    return out


def _fraction_results(calcs: list[Calc], run: list[Token], text: str, fractions: list[Token]) -> list[Calc]:
    """`\\frac{4}{10} \\cdot \\frac{3}{9} = \\frac{12}{90}`: a computation whose stated result is a fraction."""
    by_start = {f.start: f for f in fractions}
    eqs = [i for i, t in enumerate(run) if t.kind == "eq"]
    out = []
    for n, e in enumerate(eqs):
        if e + 1 >= len(run) or run[e + 1].kind != "lp" or run[e + 1].start not in by_start:
            continue
        result = by_start[run[e + 1].start]
        after = next((k for k in range(e + 1, len(run)) if run[k].start >= result.end
                      and not (run[k].kind == "rp" and run[k].start == run[k].end)), len(run))
        if after < len(run) and run[after].kind != "eq":
            continue  # the right side goes on: not a stated result
        lo = eqs[n - 1] + 1 if n else 0
        lhs = run[lo:e]
        if not lhs or not any(t.kind == "op" and t.editable for t in lhs) or lhs[0].kind == "op":
            continue
        value = evaluate(lhs)
        if value is not None and not cut_from_more(text, lhs, []):
            out.append(Calc(tuple(lhs), result, value))
    return calcs + out


@lru_cache(maxsize=1 << 12)
def parse_step(text: str) -> StepMath:
    """Cached: operators, propagation and checks parse the same steps many times, all within one
    source solution (4,096 entries hit as often as 65,536 did, at 0.6M fewer live objects for the
    garbage collector to walk)."""
    runs = tokenize(text)
    fractions = latex_fractions(text)
    calcs = tuple(c for run in runs for c in _fraction_results(_calcs_in_run(run, text), run, text, fractions))
    inside = [(f.start, f.end) for f in fractions]
    # a fraction counts as one number: its numerator and denominator are not quantities of their own
    # unless a computation uses them (`\frac{12}{3} = 4` divides 12 by 3)
    numbers = tuple(sorted([t for run in runs for t in run if t.kind == "num" and (
        not any(s <= t.start < e for s, e in inside) or any(t in c.lhs for c in calcs))]
        + fractions, key=lambda t: t.start))
    return StepMath(text, numbers, calcs)


def numbers_in(text: str) -> set[Fraction]:
    """The values of every number written in `text` (a question's numbers, for operators). A new set
    each call, built in the same order as ever (callers may change it), from a cached reading."""
    return set(_number_values(text))


@lru_cache(maxsize=1 << 14)
def _number_values(text: str) -> tuple[Fraction, ...]:
    """Cached: the checks read the question and every original step once per injection made from it."""
    return tuple(t.value for run in tokenize(text) for t in run if t.kind == "num" and t.value is not None)


# ---- writing values back --------------------------------------------------------------------------

def is_terminating(v: Fraction, max_decimals: int = 2) -> bool:
    """Whether `v` has at most `max_decimals` decimals: its (lowest-terms) denominator divides
    10^max_decimals, in integers (the propagation's plausibility check asks this of every value)."""
    return 10 ** max_decimals % v.denominator == 0


def after_money_sign(text: str, t: Token) -> bool:
    """Whether the number `t` of `text` is written after a currency sign (`$20`, `€ 5`): an amount of
    money, which the operators and propagation keep apart from counts."""
    return text[max(0, t.start - 2):t.start].rstrip().endswith(("$", "€", "£"))


def format_like(value: Fraction, like: Token) -> str:
    """Writes `value` in the style of the number it replaces: thousands separators, decimals, percent,
    a LaTeX fraction. A value that needs more decimals than it can show is rounded to two (operators
    avoid those)."""
    if like.fraction:  # over the same denominator where it can be (12/90 stays over 90, as written)
        m = re.match(r"-?(\\[dt]?frac)\s*\{\s*(\d+)\s*\}\s*\{\s*(\d+)\s*\}", like.text)
        assert m is not None  # a fraction token is made from this form only
        command, numerator, denominator = m.group(1), int(m.group(2)), int(m.group(3))
        sign = "-" if value < 0 else ""
        v = abs(value)
        if math.gcd(numerator, denominator) != 1 and (v * denominator).denominator == 1:
            return f"{sign}{command}{{{v * denominator}}}{{{denominator}}}"
        return f"{sign}{v.numerator}" if v.denominator == 1 else f"{sign}{command}{{{v.numerator}}}{{{v.denominator}}}"
    v = value * 100 if like.percent else value
    exact = next((d for d in range(0, 7) if is_terminating(v, d)), None)
    money = like.decimals == 2  # $10.00 stays $12.00; 0.015 does not make 60000.000
    if exact is None or exact > max(2, like.decimals):
        decimals = max(2, like.decimals)
    else:
        decimals = max(exact, 2) if money else exact
    text = f"{float(round(v, decimals)):.{decimals}f}" if decimals else str(round(v))
    if "," in like.text and abs(v) >= 1000:
        whole, _, frac = text.partition(".")
        sign = "-" if whole.startswith("-") else ""
        grouped = f"{int(whole.lstrip('-')):,}"
        if "{,}" in like.text:
            grouped = grouped.replace(",", "{,}")
        text = sign + grouped + ("." + frac if frac else "")
    if like.text.startswith(".") and text.startswith("0."):
        text = text[1:]
    return text


def apply_edits(text: str, edits: dict[tuple[int, int], str]) -> str:
    """Replaces spans (start, end) by new text, right to left so earlier spans keep their offsets."""
    out = text
    for (s, e), new in sorted(edits.items(), reverse=True):
        out = out[:s] + new + out[e:]
    return out


# What an operator of the other kind is written as, in the same style (an operator error keeps the
# solution's notation: `x` becomes `/`, `\times` becomes `\div`, `plus` becomes `minus`).
SWAP_OP = {
    "+": "-", "-": "+", "–": "+", "−": "+", "plus": "minus", "minus": "plus",
    "*": "/", "x": "/", "X": "/", "×": "÷", "·": "/", "\\times": "\\div", "\\cdot": "\\div",
    "times": "divided by", "multiplied by": "divided by",
    "/": "*", "÷": "×", "\\div": "\\times", "divided by": "times",
}


# ---- step markers ---------------------------------------------------------------------------------

ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth", "Sixth", "Seventh", "Eighth", "Ninth", "Tenth")
_MARKER = re.compile(
    r"^[\s*_#>]*(?:(?P<step>[Ss]tep|STEP)\s*(?P<n1>\d+)(?=\s*[:.)\-–*])|(?P<n2>\d+)[.)](?=\s)"
    r"|(?P<ord>" + "|".join(ORDINALS) + r")\b)")


@dataclass(frozen=True)
class StepMarker:
    """`Step 3:`, `3.` or `Third,` opening a step: its place in the list, not a quantity."""

    start: int  # span of the number or ordinal word
    end: int
    number: int
    kind: str  # step | list | ordinal

    def renumbered(self, text: str, number: int) -> str:
        word = ORDINALS[number - 1] if self.kind == "ordinal" else str(number)
        if self.kind == "ordinal" and text[self.start:self.end].isupper():
            word = word.upper()
        return text[:self.start] + word + text[self.end:]


def step_marker(text: str) -> Optional[StepMarker]:
    m = _MARKER.match(text)
    if m is None:
        return None
    if m.group("ord"):
        return StepMarker(m.start("ord"), m.end("ord"), ORDINALS.index(m.group("ord")) + 1, "ordinal")
    g = "n1" if m.group("n1") else "n2"
    return StepMarker(m.start(g), m.end(g), int(m.group(g)), "step" if g == "n1" else "list")
