"""A second, independent reading of the computations a solution writes, used only as a veto on
carried values.

The operators' parser (synth/inject/arith.py) reads computations in order to change them; a slip in
it would also blind the recomputation check to the values it failed to carry. This reader is
deliberately different and looser: it takes any `<arithmetic> = <number>` it can evaluate (brackets,
implied multiplication as in `2(50 + 100)`, unit words between numbers as in `17 cucumbers * 2
peppers/cucumber`), and evaluates it with Python's own arithmetic. A blind read of a release found
carried values that did not hold (`(60 + 52 + 48) / 3 = 48`, `9 + 2(128) = 25`) which the first
parser did not read; this catches them. It only vetoes solutions whose original steps it reads as
all true, so its own quirks on some phrasing cannot drop a good corruption for the wrong reason.
"""

from __future__ import annotations

import ast
import operator
import re
from functools import lru_cache

_TOKEN = re.compile(r"(\d+(?:,\d{3})+(?:\.\d+)?|\d*\.\d+|\d+)|([-+*/x×÷–−()=])|([A-Za-z]+)|(\S)")
_PER_UNIT = re.compile(r"[A-Za-z]+/[A-Za-z]+")  # `peppers/cucumber`: a unit, not a division
_OPS = {"x": "*", "×": "*", "÷": "/", "–": "-", "−": "-"}
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _value(node: ast.AST) -> float:
    """Arithmetic only: numbers, + - * / and unary minus (no names, calls or powers)."""
    if isinstance(node, ast.Expression):
        return _value(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        return _BIN[type(node.op)](_value(node.left), _value(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    raise ValueError("not plain arithmetic")


def _tokens(step: str) -> list[tuple[str, str]]:
    text = _PER_UNIT.sub(" ", step).replace("$", "").replace("%", " ").replace("{,}", ",")
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(text):
        num, op, word, other = m.groups()
        if num:
            out.append(("n", num.replace(",", "")))
        elif op:
            out.append(("o", _OPS.get(op, op)))
        elif word == "x":
            out.append(("o", "*"))
        elif word:  # a unit after a number or a bracket is skipped; any other word ends an expression
            out.append(("u" if out and (out[-1][0] in "nu" or out[-1] == ("o", ")")) else "b", word))
        else:
            out.append(("b", other))
    return [t for t in out if t[0] != "u"]


@lru_cache(maxsize=1 << 14)
def equations(step: str) -> tuple[tuple[str, float, float], ...]:
    """(expression, written result, computed value) for each `<arithmetic> = <number>` it can read."""
    toks = _tokens(step)
    found = []
    for i, tok in enumerate(toks):
        if tok != ("o", "=") or i + 1 >= len(toks) or toks[i + 1][0] != "n":
            continue
        j, lhs = i - 1, list[str]()
        while j >= 0 and toks[j][0] in ("n", "o") and toks[j] != ("o", "="):
            lhs.insert(0, toks[j][1])
            j -= 1
        while lhs and lhs[0] in "+-*/)":
            lhs.pop(0)
        if not any(x in "+-*/" for x in lhs):
            continue
        expr = ""
        for k, x in enumerate(lhs):
            if k and x == "(" and (lhs[k - 1][0].isdigit() or lhs[k - 1] == ")"):
                expr += "*"  # 2(50 + 100): implied multiplication
            expr += x + " "
        try:
            value = _value(ast.parse(expr, mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError):
            continue
        found.append((expr.strip(), float(toks[i + 1][1]), value))
    return tuple(found)  # cached: shared by every caller


def holds(written: float, value: float) -> bool:
    """Equal up to the rounding people write (cents, half a percent)."""
    return abs(value - written) <= max(0.011, abs(written) * 0.005)


def false_steps(steps: list[str]) -> list[int]:
    return [i for i, s in enumerate(steps) if _is_false(s)]


@lru_cache(maxsize=1 << 14)
def _is_false(step: str) -> bool:
    return any(not holds(w, v) for _, w, v in equations(step))


def carried_value_fails(original: list[str], corrupted: list[str], allowed: set[int]) -> bool:
    """Some corrupted step outside `allowed` writes a computation that does not hold, while this
    reader finds every computation of the original solution true."""
    if false_steps(original):
        return False  # the original has computations this reader gets wrong (or gold's own slips): no veto
    return any(i not in allowed for i in false_steps(corrupted))
