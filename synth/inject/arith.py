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

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Optional

_TOKEN = re.compile(
    r"""
    (?P<frac>\\[dt]?frac\s*\{)
  | (?P<brace_mid>\}\s*\{)
  | (?P<brace_close>\})
  | (?P<num>(?<![a-wyzA-WYZ_.\d])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![^\W\dxX])(?!\.\d)|(?<![a-wyzA-WYZ_.\d])\.\d+(?![^\W\dxX]))
  | (?P<op>\\times|\\cdot|\\div|[+*/×÷·–−]|-(?!-)
        |(?<=[\d\s)])[xX](?=\s*[$€£]?\s*[\d(])
        |\b(?:times|plus|minus|divided\ by|multiplied\ by)\b)
  | (?P<lp>\\left\(|(?<!\\)\()
  | (?P<rp>\\right\)|(?<!\\)\))
  | (?P<eq>=|\bequals\b|\bis\ equal\ to\b)
    """,
    re.VERBOSE,
)
# What may stand between two tokens of one expression: spaces, currency signs, percent signs and
# LaTeX math delimiters. Anything else (a word, a comma, a colon) ends the expression.
_GAP = re.compile(r"(?:\s|\\\(|\\\)|\\\[|\\\]|\$|€|£|%|\\,|\\!|\\;)*")
# Unit words after a number, before an operator or `=`: `3 green hats + 16 pink hats = 19 hats`.
_UNIT_GAP = re.compile(r"\s*[A-Za-z][A-Za-z'-]*(?:\s+[A-Za-z][A-Za-z'-]*){0,3}\s*")
_OP_SYMBOL = {"+": "+", "plus": "+", "-": "-", "–": "-", "−": "-", "minus": "-",
              "*": "*", "x": "*", "X": "*", "×": "*", "·": "*", "\\times": "*", "\\cdot": "*", "times": "*",
              "multiplied by": "*", "/": "/", "÷": "/", "\\div": "/", "divided by": "/"}


@dataclass(frozen=True)
class Token:
    kind: str  # num | op | lp | rp | eq
    start: int  # span in the step text; empty for the division implied by \frac{a}{b}
    end: int
    text: str
    value: Optional[Fraction] = None  # num: its value (a percent is already divided by 100)
    percent: bool = False
    op: Optional[str] = None  # op: + - * /
    editable: bool = True  # False for the division implied by \frac

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
    assert shown.value is not None
    tolerance = Fraction(1, 2 * 10 ** shown.decimals) * (Fraction(1, 100) if shown.percent else 1)
    return abs(value - shown.value) < tolerance


@dataclass(frozen=True)
class StepMath:
    text: str
    numbers: tuple[Token, ...]  # every number in the step
    calcs: tuple[Calc, ...]

    def in_calc(self, token: Token) -> bool:
        return any(token in c.lhs or token == c.result for c in self.calcs)


def _number_value(text: str, percent: bool) -> Fraction:
    v = Fraction(text.replace(",", ""))
    return v / 100 if percent else v


def tokenize(text: str) -> list[list[Token]]:
    """Runs of math tokens: tokens separated only by what `_GAP` allows belong to one run."""
    runs: list[list[Token]] = []
    current: list[Token] = []
    last_end = None
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
            percent = bool(re.match(r"\s?%", text[e:e + 2]))
            current.append(Token("num", s, e, m.group(), _number_value(m.group(), percent), percent))
        elif kind == "op":
            word = re.sub(r"\s+", " ", m.group())
            current.append(Token("op", s, e, m.group(), op=_OP_SYMBOL[word]))
        elif kind == "frac":
            current.append(Token("lp", s, e, m.group()))
        elif kind == "brace_mid":
            current += [Token("rp", s, s + 1, "}"), Token("op", e, e, "", op="/", editable=False),
                        Token("lp", e - 1, e, "{")]
        elif kind == "brace_close":
            current.append(Token("rp", s, e, "}"))
        else:
            current.append(Token(kind, s, e, m.group()))
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
        while (p := self.peek()) is not None and p.kind == "op" and p.op in "+-":
            self.i += 1
            r = self.term()
            v = v + r if p.op == "+" else v - r
        return v

    def term(self) -> Fraction:
        v = self.factor()
        while (p := self.peek()) is not None and p.kind == "op" and p.op in "*/":
            self.i += 1
            r = self.factor()
            v = v * r if p.op == "*" else v / r
        return v

    def factor(self) -> Fraction:
        p = self.peek()
        if p is None:
            raise ValueError("expression ends early")
        self.i += 1
        if p.kind == "op" and p.op == "-":
            return -self.factor()
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


def _calcs_in_run(run: list[Token]) -> list[Calc]:
    calcs = []
    eqs = [i for i, t in enumerate(run) if t.kind == "eq"]
    for n, e in enumerate(eqs):
        if e + 1 >= len(run) or run[e + 1].kind != "num":
            continue
        after = run[e + 2] if e + 2 < len(run) else None
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
                calcs.append(Calc(tuple(lhs), run[e + 1], value))
                break
    return calcs


@lru_cache(maxsize=1 << 16)
def parse_step(text: str) -> StepMath:
    """Cached: operators, propagation and checks parse the same steps many times."""
    runs = tokenize(text)
    numbers = tuple(t for run in runs for t in run if t.kind == "num")
    calcs = tuple(c for run in runs for c in _calcs_in_run(run))
    return StepMath(text, numbers, calcs)


def numbers_in(text: str) -> set[Fraction]:
    """The values of every number written in `text` (a question's numbers, for operators)."""
    return {t.value for run in tokenize(text) for t in run if t.kind == "num" and t.value is not None}


# ---- writing values back --------------------------------------------------------------------------

def is_terminating(v: Fraction, max_decimals: int = 2) -> bool:
    return (v * 10 ** max_decimals).denominator == 1


def format_like(value: Fraction, like: Token) -> str:
    """Writes `value` in the style of the number it replaces: thousands separators, decimals, percent.
    A value that needs more decimals than it can show is rounded to two (operators avoid those)."""
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
        text = sign + f"{int(whole.lstrip('-')):,}" + ("." + frac if frac else "")
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
