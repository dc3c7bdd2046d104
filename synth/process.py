"""Whether a solution with the right final answer is also a right *worked* solution.

A verified pair teaches a trainer that its chosen solution is preferred, step by step, not only in
its last number: a chosen solution that writes `7 / 12 = 0.875` on its way to the right answer
teaches the false computation too. So a correct answer is necessary, not sufficient, for a solution
to be chosen (or released as correct): every computation it writes must hold, nothing after its
final answer may contradict it or go on past it, it must have finished, a written computation must
give its answer where the prompt asks for the work, and it must state the answer in the form its
prompt asks for, with no template `The answer is N` beside its answer. Each failure is a named flaw; a solution with any flaw is
kept in `rejects`, never chosen.

The computations are read with the same parser the error operators use (`synth.inject.arith`), so a
computation that parser reads as false is never in a chosen solution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from synth.answers import AnswerReading, answers_match, read_answer, statement_tail, value_of
from synth.inject.arith import cut_from_more, evaluate, parse_step, tokenize
from synth.inject.recheck import holds

FLAWS = ("cut_off", "no_stated_answer", "false_computation", "contradiction_after_answer", "goes_on_after_answer",
         "answer_not_in_asked_form", "answer_not_worked_out", "placeholder_answer")
# `The answer is N.` copied from the prompt's instruction: a template, not an answer, beside the real one
_PLACEHOLDER = re.compile(r"\banswer\s+is\s*:?\s*\**N\b(?!\w)")

# The final line each prompt asks for ("End with "The answer is N.""): a connective at most, the
# statement, one value (a number, a fraction, LaTeX or a box) and at most a few unit words.
_ASKED_FORM = {
    "solve_math": re.compile(
        r"^(?:(?:so|thus|therefore|hence)\s*,?\s*)?the\s+answer\s+is\s*:?\s*"
        r"(?P<value>\$?-?[\d.,/]+%?|\$[^$\n]+\$|\\\(.+?\\\)|\\boxed\{.+\})"
        r"(?:\s+[A-Za-z][A-Za-z'-]*){0,3}\s*[.!]?$", re.IGNORECASE),
}


@dataclass(frozen=True)
class Flaw:
    kind: str  # one of FLAWS
    detail: str


# `1 = 3`: two different numbers set equal, with no operation on either side (a computation's
# result is checked by the parser; this is the claim with nothing to compute).
_EQUALITY = re.compile(r"(?=(?P<eq>(?P<a>\d+(?:\.\d+)?)\s*=\s*(?P<b>\d+(?:\.\d+)?)))")
_NOT_BARE_BEFORE = re.compile(r"(?:[\w.,^*/+\-−×÷()$%]\s*|:)$")  # `12:10 = 2:10` is a time, not a claim
_NOT_BARE_AFTER = re.compile(r"^(?:\s*(?:[\w,^*/+\-−×÷(%]|\.\d)|:)")


def _bare_equalities(line: str) -> list[str]:
    out = []
    for m in _EQUALITY.finditer(line):
        end = m.end("eq")
        before = line[:m.start()]
        if re.search(r"=\s*$", before):  # `4 + 2 = 6 = 7`: the chain's last link is a bare equality
            before = before.rstrip()[:-1]
            if not re.search(r"\d\s*$", before):
                continue
        elif _NOT_BARE_BEFORE.search(before):
            continue
        if _NOT_BARE_AFTER.match(line[end:]):
            continue
        if Fraction(m.group("a")) != Fraction(m.group("b")):
            out.append(m.group("eq"))
    return out


def _false_chains(line: str) -> list[str]:
    """Each `A = B` of a chain where both sides are computations and their values differ: `40 / 4 * 4
    = 40 / 4 = 10` (blind read r6) or the running total `10 + 5 = 15 - 3 = 12`. The parser checks a
    computation against the number after its `=`; a chain whose next link is itself an expression
    would otherwise go unread."""
    out = []
    for run in tokenize(line):
        eqs = [i for i, t in enumerate(run) if t.kind == "eq"]
        for n, (a, b) in enumerate(zip(eqs, eqs[1:])):
            right = run[a + 1:b]
            if not any(t.kind == "op" for t in right) or (right_value := evaluate(right)) is None:
                continue
            left = run[eqs[n - 1] + 1 if n else 0:a]  # the whole link before `=`, never a fragment of it
            if (not any(t.kind == "op" for t in left) or (left_value := evaluate(left)) is None
                    or cut_from_more(line, left, []) or not _unit_words(line, left, run[a])):
                continue
            if not holds(float(right_value), float(left_value)):  # to the rounding people write
                out.append(line[left[0].start:right[-1].end].strip())
    return out


def _unit_words(line: str, left: list, eq) -> bool:
    """Whether the words between a computation and its `=` are its numbers' unit (`40 apples / 4
    friends * 4 friends =`), not the words of a sentence (`by 1/3 gives b =`, `60 seconds per minute
    =` after `7 minutes`): only then is the `=` read as the computation's."""
    words = tuple(re.findall(r"[A-Za-z]+", line[left[-1].end:eq.start]))
    if not words:
        return True
    nums = [k for k, t in enumerate(left) if t.kind == "num"][:-1]
    return any(tuple(re.findall(r"[A-Za-z]+", line[left[k].end:left[k + 1].start])) == words for k in nums)


def false_computations(text: str) -> list[str]:
    """Each written computation whose stated result is not its value (`7 / 12 = 0.875`), each link of
    a chain of computations that are not equal (`40 / 4 * 4 = 40 / 4`), and each equality of two
    different numbers (`1 = 3`)."""
    out = []
    for line in text.splitlines():
        for c in parse_step(line).calcs:
            if not c.holds:
                out.append(c.text(line).strip())
        out += _false_chains(line)
        out += _bare_equalities(line)
    return out


def _contradictions(text: str, reading: AnswerReading) -> list[str]:
    """Computations after the first statement of the final answer whose result differs from it
    (`The answer is 72.` then `Tom has 24 x 3 = 75 stamps.`): the reader is left with two results."""
    first = reading.statements[0]
    after = text[first.end:]
    out = []
    for line in after.splitlines():
        for c in parse_step(line).calcs:
            if not answers_match(c.result.text, reading.answer or ""):
                out.append(c.text(line).strip())
    return out


# A line after the final answer that only says it again (`The answer is 8.` twice, `#### 8`)
_RESTATED = re.compile(r"^\W*(?:(?:so|thus|therefore|hence)\W+)?(?:the\s+)?(?:final\s+)?answer\s+is\b[^=]*$|^\s*####[^=]*$",
                       re.IGNORECASE)


def goes_on_after_answer(text: str, reading: AnswerReading) -> Optional[str]:
    """What a solution writes after its first final-answer statement besides saying the answer again
    (the whole solution written a second time, `Then 98 + 2 = 100`, more reasoning); None when
    nothing. A worked solution ends at its answer: what follows is noise a trainer learns to copy."""
    first = reading.statements[0]
    # the statement's own sentence, past the clause that states the answer: `The answer is 41 + 33 =
    # 74, and now Zoe has 34 apples.` (blind read r6) goes on within its sentence
    tail = statement_tail(text[first.start:first.end])
    if re.search(r"\d", tail):
        return f"text after the final answer: {tail.strip()[:80]!r}"
    after = text[first.end:]
    rest_of_line, _, later = after.partition("\n")
    later = "\n".join(ln for ln in later.splitlines() if not _RESTATED.match(ln.replace("**", "")))
    # more lines, or more numbers on its line (`The answer is 98. Then 98 + 2 = 100`); not `$ dollars.`
    # or `I hope it is correct.`
    if re.search(r"[A-Za-z0-9]", later) or re.search(r"\d", re.sub(r"\\boxed\s*\{[^{}]*\}", "", rest_of_line)):
        return f"text after the final answer: {after.strip()[:80]!r}"
    return None


# Prompts that ask for the work written out, one calculation per line: a solution to them whose
# answer no written computation gives (`So, Lena now has 2 apples.`, a bare `The answer is 2.`) may
# have the right number by luck, and a chosen solution teaches its method, not only its number.
_ASKS_FOR_WORK = {"solve_math"}


def _worked_out(text: str, reading: AnswerReading) -> bool:
    """Whether the last written computation up to the first final-answer statement results in the
    answer. The last, not any: `7 - 4 = 3 cookies`, then `Ava now has 3 - 3 = 0 cookies`, then `The
    answer is 3.` (blind read r6) reaches its answer by going back past its own work."""
    before = text[:reading.statements[0].end]
    calcs = [c for line in before.splitlines() for c in parse_step(line).calcs]
    return bool(calcs) and answers_match(calcs[-1].result.text, reading.answer or "")


def _in_asked_form(text: str, reading: AnswerReading, prompt: str) -> Optional[str]:
    """None when the solution ends with the final-answer line its prompt asks for; else why not."""
    form = _ASKED_FORM.get(prompt)
    if form is None:
        return None
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1].replace("**", "") if lines else ""
    m = form.match(last)
    if m is None:
        return f"the last line is {last[-120:]!r}, not a line 'The answer is <value>.'"
    value = value_of(m.group("value"))
    if value is None or not answers_match(value, reading.answer or ""):
        return f"the last line {last[-120:]!r} does not state the answer {reading.answer!r}"
    return None


def process_flaws(text: str, finish_reason: str, prompt: str) -> list[Flaw]:
    """Why a solution whose final answer checks out still cannot be chosen; empty when it can."""
    flaws: list[Flaw] = []
    if finish_reason == "length":
        flaws.append(Flaw("cut_off", "the solution hit max_tokens before it ended"))
    reading = read_answer(text, finished=finish_reason != "length")
    if reading.status != "stated":
        flaws.append(Flaw("no_stated_answer", f"no final-answer statement ({reading.status})"))
    wrong = false_computations(text)
    if wrong:
        flaws.append(Flaw("false_computation", "; ".join(wrong[:5])))
    if _PLACEHOLDER.search(text):
        flaws.append(Flaw("placeholder_answer", "writes the prompt's template 'The answer is N' as a statement"))
    if reading.status == "stated":
        contradicting = _contradictions(text, reading)
        if contradicting:
            flaws.append(Flaw("contradiction_after_answer",
                              f"after the answer {reading.answer}: " + "; ".join(contradicting[:5])))
        elif (more := goes_on_after_answer(text, reading)) is not None:
            flaws.append(Flaw("goes_on_after_answer", more))
        if prompt in _ASKS_FOR_WORK and not _worked_out(text, reading):
            flaws.append(Flaw("answer_not_worked_out", f"no written computation gives the answer {reading.answer!r}"))
        form = _in_asked_form(text, reading, prompt)
        if form:
            flaws.append(Flaw("answer_not_in_asked_form", form))
    return flaws
