"""Final answers, read the way a careful reader reads a solution, and compared with math-verify.

A solution is full of numbers; its final answer is what its final-answer statements say. A statement
is a `\\boxed{}`, a `#### N` line, or a sentence that *is* a final-answer statement ("The answer is
...", "So the final answer is ...", "Answer: ...", "... is the answer"), never "answer is" in the
middle of another sentence ("To check whether the answer is 12 we add ..."). The value of a statement
is what it concludes: the result of the computation it writes (`Zoe has 4 + 2 = 6 pencils` is 6),
the whole of a fraction, mixed number, tuple or scaled number (`3/4`, `2 1/2`, `(2, 3)`, `1.5
million`), a number in words (`five`), with a Unicode minus read as a minus.

A solution whose statements disagree states no single answer: it is `ambiguous` (and never counted
correct). A solution with no statement is read by its last number only when it finished: one cut
off at max_tokens before stating an answer has none, whatever numbers its text holds, and so has one
whose only statement states no value (`The answer is N.`). math-verify
then compares the answer with gold symbolically (fractions, decimals, percent, LaTeX).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Literal, Optional

logging.getLogger("math_verify").setLevel(logging.ERROR)

_MINUS = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2012": "-", "\ufe63": "-", "\uff0d": "-"})
_NUMBER = re.compile(r"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?|-?\$?\.\d+%?")
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_SCALE = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9, "trillion": 10 ** 12}
_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, "hundred", *_SCALE], key=len, reverse=True))
_WORDS = re.compile(rf"\b(?:{_NUMBER_WORD})(?:(?:\s+|-|\s+and\s+)(?:{_NUMBER_WORD}))*\b", re.IGNORECASE)

# A value at the start of a span, most specific first.
_VALUE = re.compile(
    rf"""(?P<tuple>\(\s*-?\$?(?:{_NUM})\s*(?:,\s*-?\$?(?:{_NUM})\s*)+\))
      | (?P<mixed>(?<![\d.])(?P<whole>\d+)\s+(?P<num>\d+)\s*/\s*(?P<den>\d+)(?![\d.]))
      | (?P<scaled>-?\$?(?P<base>{_NUM})\s+(?P<scale>thousand|million|billion|trillion)\b)
      | (?P<number>-?\$?(?:{_NUM})%?)""",
    re.VERBOSE | re.IGNORECASE)
_MATH_OPEN = re.compile(r"\$\$|\$(?=[^$\n]*\\)|\\\(|\\\[")
_CLOSE = {"$$": "$$", "$": "$", "\\(": "\\)", "\\[": "\\]"}

# What may lead into a final-answer statement within its sentence: connectives, nothing with content.
_LEAD = (r"(?:(?:so|thus|therefore|hence|finally|then|and|wait|actually|no|sorry|oops|correction|"
         r"in\s+conclusion|in\s+summary|in\s+total|overall|altogether|in\s+the\s+end|this\s+means|"
         r"which\s+means|that\s+means)\s*,?\s*)*")
_STATEMENT = re.compile(
    rf"^{_LEAD}(?:the\s+|our\s+|my\s+)?(?:final\s+|correct\s+)?answer\s*(?:is\b|:|=|would\s+be\b|will\s+be\b)"
    r"\s*:?\s*(?P<span>.*)$", re.IGNORECASE | re.DOTALL)
_REVERSED = re.compile(
    rf"^{_LEAD}(?P<span>.+?)\s+is\s+(?:the|our|my)\s+(?:final\s+)?answer\s*[.!]?\s*$", re.IGNORECASE | re.DOTALL)
_NEGATED = re.compile(r"^not\b.*?(?:,\s*(?:but\s+)?(?:it\s+is|it's)|\bbut)\s+(?P<span>.*)$", re.IGNORECASE | re.DOTALL)
# Sentences, and clauses a conclusion opens ("4 + 5 = 9, so the answer is 9").
_SENTENCE_END = re.compile(r"(?=[\s,;])(?:(?<=[.!?])\s+(?=\S)|\n+|[,;]\s*(?=(?:so|thus|therefore|hence)\b))",
                           re.IGNORECASE)
_CLAUSE_END = re.compile(r",\s|;|\s(?:which|because|since|so|but|and\s+(?:that|this|so))\b", re.IGNORECASE)

_UNKNOWN = re.compile(r"(?<![A-Za-z])[A-Za-z]\s*[-+*/^]\s*[\d(]|[\d)]\s*[-+*/^]\s*[A-Za-z](?![A-Za-z])")
_BOXED = re.compile(r"\\boxed\s*\{")
_OR = re.compile(r"\s+or\s+")
_HASH_LINE = re.compile(r"####[ \t]*(?P<v>[^\n]*)")

Status = Literal["stated", "last_number", "none", "ambiguous"]


@dataclass(frozen=True)
class Statement:
    start: int  # where the statement's sentence (or box) starts in the text
    end: int  # where it ends: text after it is "after the answer"
    value: str  # the stated final answer, as written (or computed: `2 1/2` -> `5/2`)


@dataclass(frozen=True)
class AnswerReading:
    """What a solution states as its final answer. `answer` is set for `stated` and `last_number`."""

    status: Status
    answer: Optional[str]
    statements: tuple[Statement, ...] = ()

    @property
    def last(self) -> Optional[Statement]:
        return self.statements[-1] if self.statements else None


def _boxes(text: str) -> list[Statement]:
    out = []
    for m in _BOXED.finditer(text):
        depth = 1
        for j in range(m.end(), len(text)):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            if depth == 0:
                inner = text[m.end():j].strip()
                if inner:
                    out.append(Statement(m.start(), j + 1, inner))
                break
    return out


def _words_value(words: str) -> Optional[int]:
    total, current = 0, 0
    for w in re.split(r"[\s-]+", words.lower()):
        if w == "and":
            continue
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w in _SCALE:
            total, current = total + max(current, 1) * _SCALE[w], 0
    return total + current


def _fraction_text(v: Fraction) -> str:
    return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"


def _evaluated(expr: str) -> Optional[Fraction]:
    """The value of a plain arithmetic expression (`4 + 2`, `3/4`), with the solution steps' parser."""
    from synth.inject.arith import evaluate, tokenize

    runs = tokenize(expr)
    if len(runs) != 1 or any(t.kind == "eq" for t in runs[0]):
        return None
    return evaluate(runs[0])


def _math_segment(span: str) -> Optional[str]:
    """`$\\frac{1}{2}$`, `\\(x = 3\\)` at the start of a span: its content, after its last `=`."""
    m = _MATH_OPEN.match(span)
    if not m:
        return None
    close = re.compile(r"(?<!\\)" + re.escape(_CLOSE[m.group()])).search(span, m.end())
    inner = span[m.end(): close.start() if close else len(span)].strip()
    boxed = _boxes(inner)
    if boxed:
        return boxed[-1].value
    inner = re.split(r"(?<![<>!])=", inner)[-1].strip().rstrip(".").strip()
    plain = re.sub(r"\\[$!,;]|\\text\{[^}]*\}", lambda t: "," if t.group() == "\\," else "", inner).strip()
    if _NUMBER.fullmatch(plain):  # `\$1,250`, `1{,}250` aside: a plain number in math mode
        return plain
    return inner or None


def value_of(span: str) -> Optional[str]:
    """The value a final-answer statement concludes, or None when it states none."""
    span = span.translate(_MINUS).strip().lstrip(":*").strip()
    negated = _NEGATED.match(span)
    if negated:  # "not 3, it is 4": the answer is what follows, never the number denied
        span = negated.group("span")
    elif re.match(r"not\b", span, re.IGNORECASE):
        return None
    boxed = _boxes(span)
    if boxed and span.startswith("\\boxed"):
        return boxed[0].value
    latex = _math_segment(span)
    if latex is not None:
        return latex
    clause = _cut_clause(span)
    parts = re.split(r"=|\bequals\b|\bis equal to\b", clause)
    rest = parts[-1].strip()
    if _UNKNOWN.search(rest):
        return None  # "N / 3", "x + 2": an expression in an unknown states no value
    if len(parts) == 1:
        expr = re.match(rf"\$?-?(?:{_NUM})%?(?:\s*(?:[-+*/x×÷]|\^)\s*\$?-?(?:{_NUM})%?)+(?=\s|$|[.,;!?])", rest)
        if expr and not _VALUE.fullmatch(expr.group()):
            if "^" in expr.group():
                return expr.group().replace("$", "")
            v = _evaluated(expr.group())
            if v is not None:
                return _fraction_text(v)
        percent_of = re.match(rf"(?P<p>{_NUM})\s*%\s+of\s+\$?(?P<q>{_NUM})\b", rest)
        if percent_of:
            p, q = (Fraction(percent_of.group(g).replace(",", "")) for g in ("p", "q"))
            return _fraction_text(p * q / 100)
    m = _VALUE.search(rest)
    w = _WORDS.search(rest)
    if w and (m is None or w.start() < m.start()):
        return str(_words_value(w.group()))
    if m is None:
        return None
    if m.group("tuple"):
        return m.group("tuple")
    if m.group("mixed"):
        return _fraction_text(int(m.group("whole")) + Fraction(int(m.group("num")), int(m.group("den"))))
    if m.group("scaled"):
        v = Fraction(m.group("base").replace(",", "")) * _SCALE[m.group("scale").lower()]
        return ("-" if m.group("scaled").startswith("-") else "") + _fraction_text(v)
    number = m.group("number")
    after = rest[m.end():]
    frac = re.match(rf"\s*/\s*(?P<den>{_NUM})(?![\d.])", after)
    if frac and "%" not in number:  # 3/4 is one value
        return f"{number}/{frac.group('den')}"
    return number


def _cut_clause(span: str) -> str:
    """The span up to where its sentence goes on to something else (`, which is ...`), keeping commas
    inside brackets and thousands separators."""
    depth = 0
    for i, ch in enumerate(span):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth <= 0 and _CLAUSE_END.match(span, i):
            return span[:i]
    return span


def _sentences(text: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return [(s, e) for s, e in out if text[s:e].strip()]


def _worded_statements(text: str) -> tuple[list[Statement], int]:
    """The statements with a value, and how many stated none (`The answer is N.`)."""
    out, valueless = [], 0
    sentences = _sentences(text)
    for k, (s, e) in enumerate(sentences):
        span = _statement_span(text[s:e])
        if span is None:
            continue
        if not span.strip(".:") and k + 1 < len(sentences):  # "The answer is:" then the value on its own line
            s2, e = sentences[k + 1]
            span = text[s2:e]
        values = _span_values(span)
        out += [Statement(s, e, v) for v in values if v is not None]
        valueless += all(v is None for v in values)
    return out, valueless


# Cached per sentence and per span: a corrupted solution repeats most of its original's sentences, and
# the label checks read the answer of every corruption made.
@lru_cache(maxsize=1 << 14)
def _statement_span(raw: str) -> Optional[str]:
    """What a final-answer sentence states (`The answer is <span>`), or None for any other sentence."""
    sentence = raw.replace("**", "").strip().lstrip("#>-* ").strip()
    m = _STATEMENT.match(sentence)
    if m is None:
        m = _REVERSED.match(sentence)
        if m is None or len(m.group("span").split()) > 4:  # "12 is the answer", not a sentence about it
            return None
    return m.group("span").strip()


def statement_tail(sentence: str) -> str:
    """What a final-answer sentence says past the clause that states its answer (`, and now Zoe has
    34 apples.`); empty for a sentence that is no statement or says nothing more."""
    span = _statement_span(sentence) or ""
    return span[len(_cut_clause(span)):]


@lru_cache(maxsize=1 << 14)
def _span_values(span: str) -> tuple[Optional[str], ...]:
    # "12 or 15" states two answers: two statements, which disagree.
    alternatives = _OR.split(_cut_clause(span.translate(_MINUS).strip()))
    if len(alternatives) > 1 and sum(bool(_NUMBER.search(a)) for a in alternatives) > 1:
        return tuple(value_of(a) for a in alternatives)
    return (value_of(span),)


def _hash_lines(text: str) -> list[Statement]:
    out = []
    for m in _HASH_LINE.finditer(text):
        value = value_of(m.group("v"))
        if value is not None:
            out.append(Statement(m.start(), m.end(), value))
    return out


def _distinct(values: list[str]) -> list[str]:
    kept: list[str] = []
    for v in values:
        if not any(v == k or answers_match(v, k) for k in kept):
            kept.append(v)
    return kept


def read_answer(text: str, finished: bool = True) -> AnswerReading:
    """The final answer a solution states. `finished` is False for a solution cut off (finish_reason
    `length`): only an explicit statement counts then, never a number it happened to reach."""
    worded, valueless = _worded_statements(text)
    statements = sorted(_boxes(text) + _hash_lines(text) + worded, key=lambda s: (s.start, s.end))
    # A box inside a worded statement is one statement, not two.
    merged: list[Statement] = []
    for st in statements:
        if merged and merged[-1].start <= st.start < merged[-1].end and answers_match(st.value, merged[-1].value):
            continue
        merged.append(st)
    if merged:
        values = _distinct([s.value for s in merged])
        if len(values) > 1:
            return AnswerReading("ambiguous", None, tuple(merged))
        return AnswerReading("stated", merged[-1].value, tuple(merged))
    if not finished or valueless:  # cut off, or "The answer is N.": it stated no answer
        return AnswerReading("none", None)
    numbers = _NUMBER.findall(text.translate(_MINUS))
    return AnswerReading("last_number", numbers[-1], ()) if numbers else AnswerReading("none", None)


def extract_answer(text: str, finished: bool = True) -> Optional[str]:
    """The final answer span of a solution, or None when it states none or states several."""
    return read_answer(text, finished).answer


def _clean(answer: str) -> str:
    answer = answer.translate(_MINUS).strip()
    bare = answer.rstrip(".")
    if _NUMBER.fullmatch(bare):
        return bare.replace("$", "").replace(",", "").strip()
    return answer


def _timeout() -> Optional[int]:
    # math-verify's timeout uses SIGALRM, which only works on the main thread.
    return 5 if threading.current_thread() is threading.main_thread() else None


_PLAIN = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")
_RATIO = re.compile(r"(-?\d+)/(\d+)")


def _exact(s: str) -> Optional[Fraction]:
    if _PLAIN.fullmatch(s):
        return Fraction(int(s)) if "." not in s else Fraction(s)  # int(): Fraction(str) parses with a regex
    m = _RATIO.fullmatch(s.replace(" ", ""))
    return Fraction(int(m.group(1)), int(m.group(2))) if m and int(m.group(2)) else None


def answers_match(predicted: Optional[str], gold: str) -> bool:
    if predicted is None:
        return False
    p, g = _clean(predicted), _clean(gold)
    if p == g:
        return True
    ep, eg = _exact(p), _exact(g)
    if ep is not None and eg is not None:
        return ep == eg  # what math-verify would say, without parsing LaTeX (100x faster)
    from math_verify import parse, verify  # here: sympy costs a worker process 45 MB it rarely needs

    t = _timeout()
    wrap = lambda s: s if s.startswith(("$", "\\(", "\\[")) else f"${s}$"  # noqa: E731
    try:
        gold_parsed = parse(wrap(g), parsing_timeout=t)
        pred_parsed = parse(wrap(p), parsing_timeout=t)
        return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=t))
    except Exception:
        return False
