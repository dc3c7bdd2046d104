"""The label checks every injected error must pass before it is kept.

They re-derive the label from the two step lists alone, so they hold whoever made the corruption:
1. the corrupted solution states a final answer, and it differs from gold;
2. the labelled step is the first step that differs from the original (steps aligned, so a removed
   step does not shift the label);
3. that step is wrong on its face: a computation that does not hold, or a value the original step
   did not have (a reworded but correct step is not an error);
4. it is one error carried through, not a rewrite: the corrupted steps are the original's, in order,
   each edited in place (words, numbers and symbols at least half the same), with at most one step
   removed or added and no computation lost but the removed step's. Carrying a value changes numbers,
   not sentences. On GSM8K train all but 1 of 31,439 rule-made corruptions pass; of 200 outputs of
   the embedded 135M teacher that stated an answer and changed it, none did;
5. no changed step still states a value the corruption replaced, beside the new one (`India: 29.
   Total: 50 + 25` where 25 replaced 29): a reader would see the seam, not a mistake;
6. for rule-made errors, recomputation: every computation holds except, for a calculation error,
   the one in the labelled step (the operators carry values through; a slip elsewhere is a bug),
   as read by the operators' parser and, independently, by synth/inject/recheck.py.
"""

from __future__ import annotations

from typing import Optional

from schemas import ErrorInjection
from synth.answers import answers_match
from synth.inject.arith import numbers_in
from synth.inject.recheck import carried_value_fails
from synth.inject.steps import first_change, is_one_edit_of, restated_old_value, step_is_wrong, wrong_calc_steps

CHECKS = ("no_final_answer", "answer_unchanged", "rewrote_the_solution", "no_changed_step",
          "label_not_first_change", "first_change_not_an_error", "old_value_restated", "arithmetic_inconsistent")
MIN_STEP_SIMILARITY = 0.5


def failed_check(inj: ErrorInjection, recompute: bool) -> Optional[str]:
    """The reason of the first check the record fails (one of CHECKS), or None when it passes all."""
    if not inj.corrupted_answer:
        return "no_final_answer"
    if answers_match(inj.corrupted_answer, inj.gold_answer):
        return "answer_unchanged"
    if not is_one_edit_of(inj.original_steps, inj.corrupted_steps, MIN_STEP_SIMILARITY):
        return "rewrote_the_solution"
    change = first_change(inj.original_steps, inj.corrupted_steps)
    if change is None:
        return "no_changed_step"
    if change.corrupted != inj.first_error_step:
        return "label_not_first_change"
    before = inj.original_steps[change.original] if change.original is not None else None
    # the values a reader already has, needed only to judge an inserted step (one with no `before`)
    known = (set() if before is not None else
             numbers_in(inj.problem) | {v for s in inj.original_steps for v in numbers_in(s)})
    if not step_is_wrong(inj.corrupted_steps[change.corrupted], before, known):
        return "first_change_not_an_error"
    if restated_old_value(inj.original_steps, inj.corrupted_steps) is not None:
        return "old_value_restated"
    if recompute:
        expected = [inj.first_error_step] if inj.error_type == "calculation" else []
        if wrong_calc_steps(inj.corrupted_steps) != expected:
            return "arithmetic_inconsistent"
        if carried_value_fails(inj.original_steps, inj.corrupted_steps, set(expected)):
            return "arithmetic_inconsistent"  # read so by the independent reader (synth/inject/recheck.py)
    return None
