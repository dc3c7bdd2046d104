"""Final-answer extraction and equivalence, built on math-verify (the checker the critique papers use).

We locate the final-answer span ourselves (a boxed answer, `####`, "the answer is", else the last
number) because a model's solution is full of intermediate numbers; math-verify then parses that span
and compares it with the gold answer symbolically (fractions, decimals, percent, LaTeX).
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction
from typing import Optional

from math_verify import parse, verify

logging.getLogger("math_verify").setLevel(logging.ERROR)

_NUMBER = re.compile(r"-?\$?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?|-?\$?\.\d+%?")
# "The answer is 10 + 1 = 11": the span is a computation, and the answer is its result.
_EXPR_RESULT = re.compile(r"^\$?-?[\d.,]+(?:\s*[-+*/x×÷]\s*\$?-?[\d.,]+)+\s*=\s*(\$?-?\d[\d,]*(?:\.\d+)?%?)")
_INLINE_LATEX = re.compile(r"\$[^$\n]*\\[^$\n]*\$")
_ANSWER_IS = re.compile(r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*:?\s*(.+)", re.IGNORECASE)


def _last_boxed(text: str) -> Optional[str]:
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i, depth = start + len("\\boxed{"), 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
    return None


def _first_number(span: str) -> Optional[str]:
    m = _NUMBER.search(span)
    return m.group(0) if m else None


def extract_answer(text: str) -> Optional[str]:
    """The final answer span of a solution, or None when it states none."""
    boxed = _last_boxed(text)
    if boxed:
        return boxed
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip().splitlines()
        if tail and tail[0].strip():
            return _first_number(tail[0]) or tail[0].strip()
    matches = list(_ANSWER_IS.finditer(text))
    if matches:
        span = matches[-1].group(1).strip()
        if span.startswith("\\(") or span.startswith("$$"):
            return span.split("\n")[0].strip()
        result = _EXPR_RESULT.match(span)
        if result:
            return result.group(1)
        latex = _INLINE_LATEX.match(span)
        if latex:  # "$\frac{1}{2}$" is LaTeX; "$18.00" is money, left to the number rule
            return latex.group(0)
        num = _first_number(span.split("\n")[0])
        if num:
            return num
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def _clean(answer: str) -> str:
    a = answer.strip().rstrip(".").replace("$", "").replace(",", "") if _NUMBER.fullmatch(answer.strip().rstrip(".")) else answer
    return a.strip()


def _timeout() -> Optional[int]:
    # math-verify's timeout uses SIGALRM, which only works on the main thread.
    return 5 if threading.current_thread() is threading.main_thread() else None


_PLAIN = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")


def answers_match(predicted: Optional[str], gold: str) -> bool:
    if predicted is None:
        return False
    p, g = _clean(predicted), _clean(gold)
    if p == g:
        return True
    if _PLAIN.fullmatch(p) and _PLAIN.fullmatch(g):
        return Fraction(p) == Fraction(g)  # what math-verify would say, without parsing LaTeX (100x faster)
    t = _timeout()
    wrap = lambda s: s if s.startswith(("$", "\\(", "\\[")) else f"${s}$"  # noqa: E731
    try:
        gold_parsed = parse(wrap(g), parsing_timeout=t)
        pred_parsed = parse(wrap(p), parsing_timeout=t)
        return bool(gold_parsed and pred_parsed and verify(gold_parsed, pred_parsed, timeout_seconds=t))
    except Exception:
        return False
