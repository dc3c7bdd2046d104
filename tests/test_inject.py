"""Error injection without a model: the arithmetic parser on the three forms steps come in, each
operator on a worked example, value propagation, the first-change alignment, the label checks (each
shown to fail on a record built to fail it), and the checks' pass rates on GSM8K train gold solutions."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import pytest

from schemas import ErrorInjection, Seed
from synth.inject.arith import format_like, parse_step
from synth.inject.checks import failed_check
from synth.inject.operators import OPERATORS, SourceSolution
from synth.inject.propagate import Implausible, propagate
from synth.inject.steps import first_change, step_is_wrong
from synth.recipe import ERROR_TYPES, FileSeeds, InjectStage
from synth.seeds import gold_solution_steps, load_file_seeds
from synth.stages.inject import InjectErrors
from tests.conftest import GSM8K_TRAIN

NATALIA = Seed("n", "test", "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
               "in May. How many clips did Natalia sell altogether in April and May?",
               ["Natalia sold 48/2 = 24 clips in May.", "Natalia sold 48+24 = 72 clips altogether in April and May."],
               "72")


@pytest.mark.parametrize("step,calcs", [
    ("Natalia sold 48/2 = 24 clips in May.", [("48/2 = 24", 24, True)]),  # GSM8K gold, annotation removed
    ("Working 50 minutes, she earned 0.2 x 50 = $10.", [("0.2 x 50 = $10", 10, True)]),
    ("Betty needs 100 - 50 - 30 - 15 = $5 more.", [("100 - 50 - 30 - 15 = $5", 5, True)]),
    ("So she has 55 – 27 = €28 left", [("55 – 27 = €28", 28, True)]),
    ("He has 1,200 + 300 = 1,500 dollars", [("1,200 + 300 = 1,500", 1500, True)]),
    ("The Bob has 3 times 60 equals 180 minutes", [("3 times 60 equals 180", 180, True)]),  # words
    ("There were 3 green hats + 16 pink hats = 19 hats.", [("3 green hats + 16 pink hats = 19", 19, True)]),
    (r"So \(18 - 6 = 12\) apples are left.", [("18 - 6 = 12", 12, True)]),  # LaTeX, as models write it
    (r"Each gets \(\frac{12}{3} = 4\).", [(r"\frac{12}{3} = 4", 4, True)]),
    (r"$3 \times 4 = 12$ and $(3 + 4) \cdot 2 = 15$", [(r"3 \times 4 = 12", 12, True), (r"(3 + 4) \cdot 2 = 15", 14, False)]),
    ("Step 1: 5 + 3 = 9", [("5 + 3 = 9", 8, False)]),  # a slip is found, the step number is not an operand
    ("10/3 = 3.33 each", [("10/3 = 3.33", Fraction(10, 3), True)]),  # rounded as written
    ("2 hours = 120 minutes, 1st and 2nd", []),  # no operation, ordinals are not numbers
])
def test_computations_are_found_and_evaluated(step, calcs):
    found = [(c.text(step), c.value, c.holds) for c in parse_step(step).calcs]
    assert found == [(t, Fraction(v), h) for t, v, h in calcs]


def test_values_are_written_in_the_style_they_replace():
    money, pct, plain, cents = parse_step("$1,200.00 is 25% of 3 or .5").numbers[:4]
    assert format_like(Fraction(1500), money) == "1,500.00"
    assert format_like(Fraction(1, 3), pct) == "33.33"
    assert format_like(Fraction(7, 2), plain) == "3.5" and format_like(Fraction(4), plain) == "4"
    assert format_like(Fraction(1, 5), cents) == ".2"


def _apply(error_type: str, seed: Seed = NATALIA, pick=0):
    src = SourceSolution.parse(seed.problem, gold_solution_steps(seed))
    edit = OPERATORS[error_type].candidates(src)[pick]
    return edit, propagate(edit, set(src.question_values), Fraction(seed.gold_answer))


def test_calculation_error_is_carried_to_the_answer():
    edit, steps = _apply("calculation")
    assert edit.label == 0
    assert steps == ["Natalia sold 48/2 = 14 clips in May.", "Natalia sold 48+14 = 62 clips altogether in April and May.",
                     "The answer is 62."]


def test_operator_error_recomputes_with_the_wrong_operation():
    _, steps = _apply("operator")
    assert steps[0] == "Natalia sold 48*2 = 96 clips in May." and steps[2] == "The answer is 144."


def test_missing_step_drops_a_step_and_labels_its_first_consumer():
    edit, steps = _apply("missing_step")
    assert steps == ["Natalia sold 48+48 = 96 clips altogether in April and May.", "The answer is 96."]
    assert edit.label == 0 and first_change(gold_solution_steps(NATALIA), steps).corrupted == 0


def test_counting_and_conversion_and_context_values():
    seed = Seed("w", "test", "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
                "How much did she earn?", ["Weng earns 12/60 = $0.2 per minute.",
                                           "Working 50 minutes, she earned 0.2 x 50 = $10."], "10")
    _, steps = _apply("unit_conversion", seed)
    assert steps[0] == "Weng earns 12/100 = $0.12 per minute." and steps[-1] == "The answer is 6."
    src = SourceSolution.parse(seed.problem, gold_solution_steps(seed))
    assert [e.detail for e in OPERATORS["question_value"].candidates(src)] == [  # 60 is not in the question
        "step 1: wrong number taken from the question: 12 -> 50 in '12/60 = $0.2'",
        "step 2: wrong number taken from the question: 50 -> 12 in '0.2 x 50 = $10'"]
    shawna = Seed("s", "test", "q", ["Monday: 30 - 12 = 18", "Tuesday: 30 - 19 = 11", "Wednesday: 30 + 18 + 11 = 59"], "59")
    details = [e.detail for e in OPERATORS["counting"].candidates(SourceSolution.parse("q", gold_solution_steps(shawna)))]
    assert "step 3: 18 left out of '30 + 18 + 11 = 59'" in details and "step 3: 11 counted twice in '30 + 18 + 11 = 59'" in details


def test_implausible_values_are_refused():
    seed = Seed("c", "test", "7 friends share 21 cookies.", ["21/7 = 3 each"], "3")
    src = SourceSolution.parse(seed.problem, gold_solution_steps(seed))
    edit = next(e for e in OPERATORS["calculation"].candidates(src) if "computed as 4" in e.detail)
    assert propagate(edit, set(src.question_values), Fraction(3))[-1] == "The answer is 4."
    op = OPERATORS["operator"].candidates(src)[0]  # 21*7 = 147: allowed; 147 is a whole number
    assert propagate(op, set(src.question_values), Fraction(3))[0] == "21*7 = 147 each"
    quarter = SourceSolution.parse("q", ["5 + 3 = 8 apples", "8/4 = 2 apples each", "The answer is 2."])
    with pytest.raises(Implausible):  # 9/4 apples each
        propagate(next(e for e in OPERATORS["calculation"].candidates(quarter) if "computed as 9" in e.detail),
                  set(), Fraction(2))


def test_first_change_aligns_steps():
    a = ["x = 1 + 1 = 2", "y = 2 * 3 = 6", "z = 6 + 1 = 7", "The answer is 7."]
    assert first_change(a, a) is None
    assert first_change(a, [a[0], "y = 2 * 4 = 8", "z = 8 + 1 = 9", "The answer is 9."]).corrupted == 1
    assert first_change(a, [a[0], a[2].replace("6", "2"), a[3]]).corrupted == 1  # step 1 removed, step 2 changed
    assert first_change(a, [a[0], a[1], a[2]]) is None  # only a deletion: no changed step
    assert first_change(a, ["X = 1 + 1 = 2", *a[1:]]) is None  # case and spacing are not changes


def test_a_reworded_step_is_not_an_error():
    assert not step_is_wrong("Natalia sold 48 / 2 = 24 clips in May", "Natalia sold 48/2 = 24 clips in May.", set())
    assert not step_is_wrong("Half of 48 is 24.", "Natalia sold 48/2 = 24 clips in May.", set())
    assert step_is_wrong("Natalia sold 48-24 = 24 clips.", "Natalia sold 48+24 = 72 clips.", set())  # same values, other operation
    assert step_is_wrong("48/2 = 26", "48/2 = 24", set()) and step_is_wrong("48/2 = 25", None, set())


def _good_record() -> ErrorInjection:
    original = gold_solution_steps(NATALIA)
    return ErrorInjection(
        injection_id="i", seed_id="n", source_id="gold", source_model="gold", method="rule", error_type="calculation",
        problem=NATALIA.problem, original_steps=original,
        corrupted_steps=["Natalia sold 48/2 = 26 clips in May.", "Natalia sold 48+26 = 74 clips altogether.",
                         "The answer is 74."], first_error_step=0, original_answer="72", corrupted_answer="74",
        gold_answer="72", detail="")


@pytest.mark.parametrize("change,reason", [
    ({}, None),
    ({"corrupted_answer": ""}, "no_final_answer"),
    ({"corrupted_answer": "72.0"}, "answer_unchanged"),
    ({"corrupted_steps": ["30", "600", "The answer is 600."], "corrupted_answer": "600"}, "rewrote_the_solution"),
    ({"corrupted_steps": gold_solution_steps(NATALIA)}, "no_changed_step"),
    ({"first_error_step": 1}, "label_not_first_change"),
    ({"corrupted_steps": ["Natalia sold 48 / 2 = 24 clips in May!", "Natalia sold 48+26 = 74 clips.", "The answer is 74."],
      "first_error_step": 0}, "first_change_not_an_error"),
    ({"error_type": "operator"}, "arithmetic_inconsistent"),  # a slip where the type says the arithmetic holds
])
def test_each_label_check_fails_the_record_built_to_fail_it(change, reason):
    assert failed_check(replace(_good_record(), **change), recompute=True) == reason


def test_stage_keeps_only_checked_labels_and_counts_every_drop():
    seeds = load_file_seeds(FileSeeds(type="file", path=GSM8K_TRAIN, format="gsm8k", limit=60))
    result = InjectErrors(InjectStage(), build_seed=5).run(seeds, [])
    assert result.records and all(failed_check(r, recompute=True) is None for r in result.records)
    r = result.report
    assert sum(r.dropped.values()) == len(result.rejects)
    for t, outcomes in r.breakdown.items():
        decided = outcomes["tried"] - outcomes.get("not_applicable", 0) - outcomes.get("no_plausible_candidate", 0)
        assert decided == outcomes.get("kept", 0) + sum(v for k, v in outcomes.items() if k not in (
            "tried", "kept", "not_applicable", "no_plausible_candidate"))
    for rej in result.rejects:
        assert rej.reason and (json.loads(rej.payload) if rej.payload else True)
    again = InjectErrors(InjectStage(), build_seed=5).run(seeds, [])
    assert again.records == result.records  # seeded: the same corruptions every time


def test_label_checks_pass_rate_on_gsm8k_train():
    """Of the corruptions the operators make on GSM8K train gold solutions, the share that pass every
    label check, per type. bench/injection_labels.py prints the figures for the whole train split."""
    seeds = load_file_seeds(FileSeeds(type="file", path=GSM8K_TRAIN, format="gsm8k", limit=600))
    report = InjectErrors(InjectStage(), build_seed=0).run(seeds, []).report
    assert set(report.breakdown) == set(ERROR_TYPES)
    for t, o in report.breakdown.items():
        attempted = o["tried"] - o.get("not_applicable", 0) - o.get("no_plausible_candidate", 0)
        assert attempted >= 30, t  # unit conversions are the rarest: about one problem in twelve
        assert o.get("kept", 0) / attempted >= 0.85, (t, dict(o))
        assert o.get("label_not_first_change", 0) == 0 and o.get("arithmetic_inconsistent", 0) == 0, (t, dict(o))
