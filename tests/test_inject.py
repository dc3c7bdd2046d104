"""Error injection without a model: the arithmetic parser on the three forms steps come in, each
operator on a worked example, value propagation, the first-change alignment, the label checks (each
shown to fail on a record built to fail it), and the checks' pass rates on GSM8K train gold solutions."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction

import pytest

from schemas import ErrorInjection, SeedProblem, Solution
from synth.inject.arith import format_like, parse_step
from synth.inject.checks import failed_check
from synth.inject.operators import OPERATORS, SLIP_KINDS, SourceSolution
from synth.inject.propagate import Implausible, propagate
from synth.inject.steps import first_change, step_is_wrong
from synth.recipe import ERROR_TYPES, FileSeeds, InjectStage
from synth.seeds import gold_solution_steps, load_file_seeds
from synth.stages.base import StageReport
from synth.stages.inject import InjectErrors
from tests.conftest import GSM8K_TRAIN

NATALIA = SeedProblem("n", "test", "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
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
    ("$2^{10} = 1024$ and $(-3)^3 = -27$", [("2^{10} = 1024", 1024, True), ("(-3)^3 = -27", -27, True)]),
    ("Percentage: 12/20 × 100 = 60%.", [("12/20 × 100 = 60", 60, True)]),  # the % of a plain expression
    ("Teaching pay: 35 hours * $20/hour = $700.", [("35 hours * $20/hour = $700", 700, True)]),  # a rate
    ("Subtract $3n$ from both sides: $2n - 8 = 10$.", []),  # algebra, not -8 = 10
    ("Lisa spends $40 on t-shirts / 2 = $20.", [("40 on t-shirts / 2 = $20", 20, True)]),  # a hyphen is no minus
    (r"$\frac{4}{10} \div \frac{3}{9} = \frac{36}{30}$", [(r"\frac{4}{10} \div \frac{3}{9} = \frac{36}{30}", Fraction(6, 5), True)]),
    (r"$\dbinom{8}{3} = 56$", []),  # nothing this parser evaluates
    ("**Total:** 20 + 25 + 22 = 67 cars.", [("20 + 25 + 22 = 67", 67, True)]),  # markdown bold is no product
    (r"\(3{,}000 \div 3 \times 4 = 4{,}000\)", [(r"3{,}000 \div 3 \times 4 = 4{,}000", 4000, True)]),  # LaTeX thousands
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


def _apply(error_type: str, seed: SeedProblem = NATALIA, pick=0):
    src = SourceSolution.parse(seed.problem, gold_solution_steps(seed))
    edit = OPERATORS[error_type].candidates(src)[pick]
    return edit, propagate(edit, set(src.question_values), Fraction(seed.gold_answer))


def test_calculation_error_is_carried_to_the_answer():
    edit, steps = _apply("calculation")  # halving 48 has no slip a person makes; the sum does
    assert edit.label == 1 and edit.slip == "carry_error"
    assert steps == ["Natalia sold 48/2 = 24 clips in May.", "Natalia sold 48+24 = 62 clips altogether in April and May.",
                     "The answer is 62."]


@pytest.mark.parametrize("step,slips", [
    ("52 - 17 = 35", {"borrow_error": 45, "off_by_one_digit": 34}),  # 2 - 7 borrowed, 5 not reduced
    ("27 + 15 = 42", {"carry_error": 32, "off_by_one_digit": 41}),  # the 1 of 7 + 5 = 12 forgotten
    ("86 + 172 = 258", {"transposed_digits": 285, "carry_error": 158, "off_by_one_digit": 257}),  # last two swapped
    ("4 x 27 = 108", {"transposed_digits": 180, "dropped_digit": 18, "carry_error": 88, "off_by_one_digit": 107}),
    ("30 + 18 + 11 = 59", {"off_by_one_digit": 58, "dropped_term": 41}),  # 18 forgotten
    ("0.2 x 50 = 10", {"misplaced_decimal": 1}),  # no digit slip in a shift by a power of ten
    ("10 * 1000 = 10000", {}),
    ("15 - 9 = 6", {"off_by_one_digit": 5}),  # a one-digit result: slipped only across ten
    ("10 - 3 = 7", {"off_by_one_digit": 6}),  # no column subtraction here: no borrow to forget
    ("17 + 4 = 21", {"off_by_one_digit": 20}),  # no column addition: no carry to forget
    ("25 + 10 = 35", {}),  # the 5 is copied, not worked out
    ("2 x 2 = 4", {}),
    ("3 x 5 = 15", {"times_table_error": 12}),  # a times-table fact: the neighbouring entry, not 51 nor 14
    ("4 x 30 = 120", {"times_table_error": 90, "off_by_one_digit": 110}),
    ("12 / 60 = 0.2", {"misplaced_decimal": 0.02}),  # the point moved, not a units digit off (1.2)
])
def test_calculation_errors_are_slips_a_person_makes(step, slips):
    from synth.inject.operators import calculation_slips

    (calc,) = parse_step(step).calcs
    assert {k: int(v) if v.denominator == 1 else float(v) for k, v in calculation_slips(calc)} == slips


def test_two_fractions_added_across_is_the_fraction_slip():
    steps = [r"So $\frac{3}{6} + \frac{2}{6} = \frac{5}{6}$.", r"The answer is $\boxed{\frac{5}{6}}$."]
    (edit,) = _candidates("calculation", steps)
    assert edit.slip == "added_denominators"
    assert propagate(edit, set(), None) == [r"So $\frac{3}{6} + \frac{2}{6} = \frac{5}{12}$.",
                                            r"The answer is $\boxed{\frac{5}{12}}$."]


def test_a_value_stated_as_another_computation_or_another_kind_is_not_carried():
    """`1024 = 7 \\cdot 146 + 2` restates 1024 as a computation this parser does not read, and `18 sets`
    is not the `$18` of the cost: carrying a change into either would leave a false or wrong step."""
    steps = ["$2^{10} = 1024$.", "$1024 = 7 \\cdot 146 + 2$, since $7 \\cdot 146 = 1022$.",
             "So the remainder is $1024 - 1022 = 2$.", "The answer is $\\boxed{2}$."]
    src = SourceSolution.parse("What is the remainder when $2^{10}$ is divided by 7?", steps)
    for edit in OPERATORS["calculation"].candidates(src):
        if edit.step == 0:
            with pytest.raises(Implausible, match="uncarried_equation"):
                propagate(edit, set(src.question_values), Fraction(2))
    rings = ["He made 6 x 12 = 72 rings.", "He sold 72/4 = 18 sets.", "He made 18 x $5 = $90.",
             "His profit was $90 - $18 = $72.", "The answer is 72."]
    src = SourceSolution.parse("He buys 6 cans of 12 rings for $3 each and sells 4 rings for $5.", rings)
    edit = next(e for e in OPERATORS["missing_step"].candidates(src) if "step 1" in e.detail)
    with pytest.raises(Implausible, match="ambiguous_value"):
        propagate(edit, set(src.question_values), Fraction(72))


def _candidates(error_type: str, steps: list[str], problem: str = "q"):
    return OPERATORS[error_type].candidates(SourceSolution.parse(problem, steps))


def test_operator_errors_change_the_words_with_the_sign():
    (edit,) = _candidates("operator", ["Subtract 7 from both sides: $2x = 19 - 7 = 12$.", "$x = 12 / 2 = 6$"])[:1]
    assert edit.steps[0] == "Add 7 to both sides: $2x = 19 + 7 = 12$."
    assert propagate(edit, set(), Fraction(6)) == ["Add 7 to both sides: $2x = 19 + 7 = 26$.", "$x = 26 / 2 = 13$"]
    (diff,) = _candidates("operator", ["The difference is 9 - 4 = 5 years."])
    assert diff.steps == ["The sum is 9 + 4 = 5 years."]
    # Words that say the old operation, with no counterpart: no operator error there.
    assert _candidates("operator", ["After eating 3 cupcakes, Anna has 12 - 3 = 9 cupcakes."]) == []
    assert _candidates("operator", ["In total she has 50 + 15 = 65 dollars."]) == []
    ratio = "She reads twice as many pages as yesterday, half of the rest tomorrow."
    assert _candidates("operator", ["Half of the remaining pages is 84 / 2 = 42."], ratio) == []
    # A sum or difference without words of comparison or change: a flipped sign there is a seam.
    assert _candidates("operator", ["Thus, 18 - 16 = 2 girls were not able to join."]) == []
    assert _candidates("operator", ["Water in the drink: 9 × 2/3 = 6 liters."], ratio) == []  # 2/3 is a number
    assert _candidates("operator", ["There are 5 x 4 x 3 x 2 x 1 = 120 ways."], ratio) == []  # one sign in a product
    # Multiplying and dividing are confused where the question states a ratio, not elsewhere.
    assert len(_candidates("operator", ["Today she read 12 x 2 = 24 pages."], ratio)) == 1
    assert _candidates("operator", ["Today she read 12 x 2 = 24 pages."], "She read 12 pages on 2 days.") == []


@pytest.mark.parametrize("step,swapped", [
    # a comparison said of the quantity after the sign: flipped with it (a misread question)
    ("Samantha's name is 3 letters shorter than Bobbie's, so 10 - 3 = 7 letters.",
     "Samantha's name is 3 letters longer than Bobbie's, so 10 + 3 = 13 letters."),
    ("Five less than that is $30 - 5 = 25$ trees.", "Five more than that is $30 + 5 = 35$ trees."),
    ("She has 9 more truck stamps than snowflake stamps: 11 + 9 = 20.",
     "She has 9 fewer truck stamps than snowflake stamps: 11 - 9 = 2."),
    ("The difference between the two books is 104 - 92 = $12.", "The sum of the two books is 104 + 92 = $196."),
    ("Subtracting the cost of the movie: 450 - 20 = $430.", "Adding the cost of the movie: 450 + 20 = $470."),
    # said of the result, of nothing, or a story's own action: no swap
    ("There are 24 more children than adults because 72 - 48 = 24.", None),
    ("Samantha's name is shorter, so 10 - 3 = 7 letters.", None),
    ("So it gained 600 - 400 = 200 pounds.", None),
    ("Gretel makes $34,500 and Hansel $33,000, so Gretel makes 34,500-33,000 = $1,500 more than Hansel.", None),
    ("She has 3 more rebates than bills, so 3 + 2 = 5 rebates.", None),  # 3 - 2 would not be 3 fewer than 2
    ("Then he buys 9 more, so he has 12 + 9 = 21 apples.", None),  # not a comparison
    ("Next, he added another 2 pounds, bringing the weight to 6 + 2 = 8 pounds.", None),
    ("Then, we subtract their 6 month difference: 48 - 6 = 42 months.", None),
])
def test_operator_errors_flip_comparisons_or_are_not_made(step, swapped):
    edits = _candidates("operator", [step, "The answer is 1."])
    if swapped is None:
        assert edits == []
    else:
        (edit,) = edits
        assert propagate(edit, set(), Fraction(1))[0] == swapped


def test_a_value_the_step_states_in_words_is_not_swapped_in_its_computation():
    steps = ["She buys 3 kits and each kit costs $45.00, so that's 3*45 = $135.00", "The answer is 135."]
    src = SourceSolution.parse("Socks cost $5 a pair; a kit has 3 pairs. She buys 3 kits at $45 each.", steps)
    assert not any("45 ->" in e.detail for t in ("earlier_step_value", "question_value")
                   for e in OPERATORS[t].candidates(src))


def test_a_value_from_the_question_is_swapped_for_one_of_the_same_kind():
    problem = ("A couple with two children, ages 6 and 10 years old, go to a park. The ticket costs $109, but "
               "children below 12 years old have a $5 discount. Key chains sell 3 pieces for $2.")
    details = [e.detail for e in _candidates("question_value", ["The couple pays 109 x 2 = $218."], problem)]
    assert details and all(" -> 5 " in d or " -> 2 " in d for d in details), details  # prices, not ages or pieces


def test_missing_step_renumbers_the_steps_after_it():
    steps = ["Step 1: Purple flowers: 10 × 1.8 = 18.", "Step 2: Yellow and purple: 10 + 18 = 28.",
             "Step 3: Green flowers: 28 - 21 = 7.", "Step 4: Total flowers: 28 + 7 = 35.", "The answer is 35."]
    src = SourceSolution.parse("q", steps)
    edit = next(e for e in OPERATORS["missing_step"].candidates(src) if "step 3" in e.detail)
    out = propagate(edit, set(), Fraction(35))
    assert out == ["Step 1: Purple flowers: 10 × 1.8 = 18.", "Step 2: Yellow and purple: 10 + 18 = 28.",
                   "Step 3: Total flowers: 28 + 28 = 56.", "The answer is 56."]
    assert first_change(steps, out).corrupted == 2 == edit.label
    ordinals = ["First, 2 * 16 = 32 slices.", "Second, 32 / 4 = 8 slices each.", "Third, 8 + 1 = 9 slices."]
    edit = _candidates("missing_step", ordinals)[0]
    assert [s.split(",")[0] for s in edit.steps] == ["Second", "Third"][:0] + ["First", "Second"]
    # A step that takes a part (10% of 600) is not skipped: nothing a solver would use stands in for it.
    assert _candidates("missing_step", ["The raise is 0.10 × 600 = $60.", "Her salary is 600 + 60 = $660."]) == []


def test_a_value_written_in_an_earlier_step_is_an_earlier_step_value():
    steps = ["Tom has 3 x 12 = 36 eggs.", "He gives 36 / 2 = 18 away.", "He uses 36 - 12 = 24 eggs.", "The answer is 24."]
    problem = "Tom buys 3 dozen eggs, 12 in each, and bakes with 12 of them, then 5 more."
    details = [e.detail for e in _candidates("question_value", steps, problem)]
    assert details and not any("-> 3 " in d or "-> 12 " in d for d in details)  # 3 and 12 are written before
    # earlier results only: 18, not the 3 or 12 an earlier step copied from the question
    assert [e.detail for e in _candidates("earlier_step_value", steps, problem)] == [
        "step 3: wrong value taken from an earlier step: 36 -> 18 in '36 - 12 = 24'"]


def test_a_conversion_factor_needs_its_units():
    assert _candidates("unit_conversion", ["$= 12 - 4 + 1 = 9$"]) == []
    assert [e.detail for e in _candidates("unit_conversion", ["She works 5 x 12 = 60 months."])] == [
        "step 1: wrong conversion factor: 12 -> 10 in '5 x 12 = 60'", "step 1: wrong conversion factor: 12 -> 6 in '5 x 12 = 60'"]


def test_counting_errors_leave_an_item_or_an_end_out():
    details = [e.detail for e in _candidates("counting", ["Wednesday: 30 + 18 + 11 = 59"])]
    assert "step 1: 18 left out of '30 + 18 + 11 = 59'" in details and not any("twice" in d for d in details)
    assert [e.steps for e in _candidates("counting", ["So there are 142 - 15 + 1 = 128 multiples."])] == [
        ["So there are 142 - 15 = 128 multiples."]]
    # a labelled term leaves with its label: never "256 goldfish + 32 guppies" relabelled as suckers
    left = {e.steps[0] for e in _candidates("counting", ["He has 256 goldfish + 64 suckers + 32 guppies = 352 fish."])}
    assert left == {"He has 64 suckers + 32 guppies = 352 fish.", "He has 256 goldfish + 32 guppies = 352 fish.",
                    "He has 256 goldfish + 64 suckers = 352 fish."}


def test_operator_error_recomputes_with_the_wrong_operation():
    _, steps = _apply("operator")
    assert steps[0] == "Natalia sold 48*2 = 96 clips in May." and steps[2] == "The answer is 144."


def test_missing_step_drops_a_step_and_labels_its_first_consumer():
    edit, steps = _apply("missing_step")
    assert steps == ["Natalia sold 48+48 = 96 clips altogether in April and May.", "The answer is 96."]
    assert edit.label == 0 and first_change(gold_solution_steps(NATALIA), steps).corrupted == 0


def test_a_solution_whose_first_step_is_left_out_does_not_open_with_so():
    from synth.inject.operators import without_leading_connective
    assert without_leading_connective("So, she has 48 - 10 = 38 left.") == "She has 48 - 10 = 38 left."
    assert without_leading_connective("**Step 1:** Then we add 3 + 4 = 7.") == "**Step 1:** We add 3 + 4 = 7."
    assert without_leading_connective("Second, so what") == "Second, so what"
    assert without_leading_connective("Someone has 3 + 4 = 7.") == "Someone has 3 + 4 = 7."
    steps = ["Mia has 12 + 8 = 20 apples.", "So, she gives away 20 - 5 = 15 apples.", "The answer is 15."]
    edits = _candidates("missing_step", steps, "Mia has 12 red and 8 green apples. She gives 5 away. How many are left?")
    assert [e.steps[0] for e in edits if e.step == 0] == ["She gives away 20 - 5 = 15 apples."]


def test_counting_and_conversion_and_context_values():
    seed = SeedProblem("w", "test", "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. "
                "How much did she earn?", ["Weng earns 12/60 = $0.2 per minute.",
                                           "Working 50 minutes, she earned 0.2 x 50 = $10."], "10")
    _, steps = _apply("unit_conversion", seed)
    assert steps[0] == "Weng earns 12/100 = $0.12 per minute." and steps[-1] == "The answer is 6."
    src = SourceSolution.parse(seed.problem, gold_solution_steps(seed))
    # 60 is not in the question; 12 is written in step 1, so taking it in step 2 is an earlier_step_value;
    # and the 50 minutes are no price: a value copied from the question is a quantity of the same kind
    assert [e.detail for e in OPERATORS["question_value"].candidates(src)] == []


def test_implausible_values_are_refused():
    seed = SeedProblem("c", "test", "A box of 21 cookies costs 7 dollars, half the price of a cake.", ["21/7 = 3 cookies a dollar"], "3")
    src = SourceSolution.parse(seed.problem, gold_solution_steps(seed))
    op = OPERATORS["operator"].candidates(src)[0]  # 21*7 = 147: allowed; 147 is a whole number
    assert propagate(op, set(src.question_values), Fraction(3))[0] == "21*7 = 147 cookies a dollar"
    assert OPERATORS["operator"].candidates(SourceSolution.parse("q", ["They each get 21/7 = 3."])) == []
    quarter = SourceSolution.parse("q", ["18 + 14 = 32 apples", "32/4 = 8 apples each", "The answer is 8."])
    edit = next(e for e in OPERATORS["calculation"].candidates(quarter) if "computed as 22" in e.detail)
    with pytest.raises(Implausible):  # 22/4 apples each
        propagate(edit, set(), Fraction(8))


def test_the_old_value_is_never_restated_beside_the_new_one():
    from synth.inject.steps import restated_old_value

    original = ["India: 29 students. Total: 50 + 29 = 79.", "The answer is 79."]
    assert restated_old_value(original, ["India: 29 students. Total: 50 + 25 = 75.", "The answer is 75."]) == (0, 29)
    assert restated_old_value(original, ["India: 25 students. Total: 50 + 25 = 75.", "The answer is 75."]) is None
    assert restated_old_value(["$4k = 4 \\cdot 20 = 80$"], ["$4k = 2 \\cdot 20 = 40$"]) == (0, 4)  # glued to a variable
    record = replace(_good_record(), error_type="question_value", corrupted_steps=[
        "Natalia sold 48/2 = 24 clips in May.", "Natalia sold 48+20 = 68 clips altogether, 24 in May.",
        "The answer is 68."], original_steps=["Natalia sold 48/2 = 24 clips in May.",
                                               "Natalia sold 48+24 = 72 clips altogether, 24 in May.", "The answer is 72."],
        first_error_step=1, corrupted_answer="68")
    assert failed_check(record, recompute=True) == "old_value_restated"


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
    ({"original_steps": ["May: 24 clips, as 48/2 = 24.", *gold_solution_steps(NATALIA)[1:]],  # one 24 left as it was
      "corrupted_steps": ["May: 24 clips, as 48/2 = 26.", "Natalia sold 48+26 = 74 clips altogether in April and May.",
                          "The answer is 74."]}, "old_value_restated"),
])
def test_each_label_check_fails_the_record_built_to_fail_it(change, reason):
    assert failed_check(replace(_good_record(), **change), recompute=True) == reason


def test_stage_keeps_only_checked_labels_and_counts_every_drop():
    seeds = load_file_seeds(FileSeeds(type="file", path=GSM8K_TRAIN, format="gsm8k", limit=60))
    result = InjectErrors(InjectStage(), build_seed=5).run(seeds, [])
    assert result.records and all(failed_check(r, recompute=True) is None for r in result.records)
    r = result.report
    assert sum(r.dropped.values()) == len(result.rejects)
    for outcomes in r.breakdown.values():
        decided = outcomes["tried"] - outcomes.get("not_applicable", 0) - outcomes.get("no_plausible_candidate", 0)
        assert decided == outcomes.get("kept", 0) + sum(v for k, v in outcomes.items() if k not in (
            "tried", "kept", "not_applicable", "no_plausible_candidate") and not k.startswith("slip:"))
    slips = [r.slip for r in result.records if r.error_type == "calculation"]
    assert slips and set(slips) <= set(SLIP_KINDS) and len(set(slips)) >= 3  # every slip named, several kinds
    assert all(r.slip is None for r in result.records if r.error_type != "calculation")
    assert sum(v for k, v in r.breakdown["calculation"].items() if k.startswith("slip:")) == len(slips)
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
        assert o.get("label_not_first_change", 0) == 0, (t, dict(o))
        # The independent reader (synth/inject/recheck.py) still finds the odd value an operator failed
        # to carry (a blind read found 7 in 527 released records before it existed): dropped, and rare.
        assert o.get("arithmetic_inconsistent", 0) <= 0.03 * attempted, (t, dict(o))


def test_coverage_of_model_written_solutions(tmp_path):
    """bench/injection_labels.py --small: gold and the hand-written model-style set (GSM8K- and
    MATH-style, in the ways models write: markdown, LaTeX, \\boxed{}, worded answers); and, with
    --solutions, the correct solutions of a build's solutions table (here one written from that set)."""
    import importlib.util
    import sys

    import pyarrow.parquet as pq

    from schemas import TABLES, records_to_table
    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("injection_labels", REPO / "bench" / "injection_labels.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["injection_labels"] = bench  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    _, written = bench.model_solutions()["gsm8k"]
    pq.write_table(records_to_table(written, TABLES["solutions"]), tmp_path / "solutions.parquet")
    gold, gsm8k_style, math_style, built = bench.main(["--small", "--seeds", str(GSM8K_TRAIN),
                                                       "--solutions", str(tmp_path / "solutions.parquet")])
    assert built.n == gsm8k_style.n and built.covered == gsm8k_style.covered
    assert gold.n == 100 and gsm8k_style.n >= 50 and math_style.n >= 40
    assert gsm8k_style.coverage >= 0.85, gsm8k_style.missed
    assert math_style.coverage >= 0.60, math_style.missed
    assert gold.coverage >= 0.85


def test_only_uncovered_needs_the_rule_stage():
    from synth.recipe import Recipe

    base = {"name": "x", "kind": "error_injection", "random_seed": 1, "models": {"t": {"backend": "vllm", "model": "m"}},
            "seeds": {"type": "procedural", "count": 2}}
    with pytest.raises(ValueError, match="only_uncovered"):
        Recipe.model_validate({**base, "stages": {"inject_llm": {"model": "t", "only_uncovered": True}}})
    ok = Recipe.model_validate({**base, "stages": {"inject": {}, "inject_llm": {"model": "t", "only_uncovered": True}}})
    assert ok.stages.inject_llm.only_uncovered


def test_values_are_traced_as_a_reader_traces_them():
    problem = "Dale had 2 slices of toast and 2 eggs. A slice costs $1 and an egg $3. Andrew had 1 slice, Ben 3 slices."
    steps = ["Dale's toast is 2 × $1 = $2.", "Andrew's toast is 1 × $1 = $1.", "Dale's eggs are 2 × $3 = $6.",
             "Total: $2 + $1 + $6 = $9.", "The answer is 9."]
    src = SourceSolution.parse(problem, steps)
    edit = next(e for e in OPERATORS["question_value"].candidates(src) if "2 -> 3 in '2 × $1" in e.detail)
    out = propagate(edit, set(src.question_values), Fraction(9))
    assert out[2] == "Dale's eggs are 2 × $3 = $6."  # the eggs he had are still 2: $2 of toast was money
    assert out[3] == "Total: $3 + $1 + $6 = $10." and out[4] == "The answer is 10."
    trip = ["The supermarket and back is 5+5=10 miles.", "With the farm, the total is 10+6=16 miles.",
            "The truck used 12-2=10 gallons.", "So the rate is 16/10 = 1.6 miles per gallon.", "The answer is 1.6."]
    src = SourceSolution.parse("The supermarket is 5 miles away, the farm 6; he had 12 gallons and has 2 left.", trip)
    edit = next(e for e in OPERATORS["missing_step"].candidates(src) if "step 1" in e.detail)
    out = propagate(edit, set(src.question_values), Fraction(8, 5))
    # 12 - 2 = 10 gallons is another quantity than the 10 miles left out: it keeps its value
    assert out == ["With the farm, the total is 5+6=11 miles.", "The truck used 12-2=10 gallons.",
                   "So the rate is 11/10 = 1.1 miles per gallon.", "The answer is 1.1."]


def test_the_teacher_gets_what_the_rules_left():
    """With only_uncovered, inject_llm takes exactly the sources the rule stage kept nothing for."""
    from synth.stages.inject import injection_sources, source_key
    from synth.stages.inject_llm import uncovered

    words = SeedProblem("w", "test", "Tom has three apples and eats one. How many are left?",
                 ["Tom eats one of his three apples, so two are left."], "2")
    seeds = [NATALIA, words]
    kept = InjectErrors(InjectStage(), build_seed=1).run(seeds, []).records
    covered = {source_key(r.seed_id, r.source_id) for r in kept}
    assert [s.seed.seed_id for s in uncovered(injection_sources(["gold"], seeds, []), covered)] == ["w"]


def test_a_fraction_result_is_carried_into_the_boxed_answer():
    steps = [r"The probability is $\frac{4}{10} \cdot \frac{3}{9} = \frac{12}{90} = \frac{2}{15}$.",
             r"The answer is $\boxed{\frac{2}{15}}$."]
    src = SourceSolution.parse("A bag has 4 red balls and 6 blue balls; two are drawn.", steps)
    edit = next(e for e in OPERATORS["question_value"].candidates(src) if "4 -> 6" in e.detail)
    out = propagate(edit, set(src.question_values), None)
    # written over the same 90 where it was unreduced, in lowest terms where it was reduced
    assert out == [r"The probability is $\frac{6}{10} \cdot \frac{3}{9} = \frac{18}{90} = \frac{1}{5}$.",
                   r"The answer is $\boxed{\frac{1}{5}}$."]


def test_a_value_a_reader_could_not_trace_is_not_carried():
    """6 blue yarns and the 6 red scarves just worked out: which one `3 x 6` uses, a reader cannot
    tell, so a corruption that changes the 6 red scarves is passed over rather than carried into it."""
    problem = "May knits 3 scarves from one yarn. She has 2 red yarns and 6 blue yarns, and 6 scarves already."
    steps = ["Red: 2 x 3 = 6 scarves.", "Blue: 3 x 6 = 18 scarves.", "Total: 6 + 18 = 24.", "The answer is 24."]
    src = SourceSolution.parse(problem, steps)
    edit = next(e for e in OPERATORS["question_value"].candidates(src) if "3 -> 6 in '2 x 3" in e.detail)
    with pytest.raises(Implausible, match="ambiguous_value"):
        propagate(edit, set(src.question_values), Fraction(24))
    # the $20 of a left-out step is also the $20 of the cookies: which of the two a total uses, no reader can say
    uki = ["Cupcakes: 20 x $1.50 = $30.", "Cookies: 10 x $2 = $20.", "Biscuits: 20 x $1 = $20.",
           "Total: $30 + $20 + $20 = $70.", "The answer is 70."]
    src = SourceSolution.parse("She sells twenty cupcakes at $1.50, 10 cookies at $2 and twenty biscuits at $1.", uki)
    edit = next(e for e in OPERATORS["missing_step"].candidates(src) if "step 3" in e.detail)
    with pytest.raises(Implausible, match="ambiguous_value"):
        propagate(edit, set(src.question_values), Fraction(70))


def test_what_the_operators_cannot_corrupt_goes_to_the_teacher(tmp_path):
    """`only_uncovered`: the teacher is asked about exactly the solutions the rule stage kept nothing
    for, and its answer goes through the same checks. The teacher's answers are in the response cache
    (a good teacher's, written here), so no backend is started: every request must be a cache hit."""
    from synth.backends.base import Completion, Sample
    from synth.cache import ResponseCache, request_key
    from synth.engine import model_identity
    from synth.recipe import InjectLLMStage, OpenAIModel
    from synth.stages.inject import injection_sources, source_key
    from synth.stages.inject_llm import InjectErrorsLLM, uncovered

    words = SeedProblem("w", "test", "Tom has 3 apples and eats 1 of them. How many are left?",
                 ["Tom has 3 apples and eats 1 of them.", "So 2 apples are left."], "2")
    seeds = [NATALIA, words]
    rule = InjectErrors(InjectStage(), build_seed=1).run(seeds, [])
    assert {r.seed_id for r in rule.records} == {"n"}
    assert any(r.record_id == "w-gold" and r.reason == "no_calculations" for r in rule.rejects)
    covered = {source_key(r.seed_id, r.source_id) for r in rule.records}

    spec = OpenAIModel(backend="openai", model="teacher", base_url="http://127.0.0.1:9/v1")
    stage = InjectErrorsLLM(InjectLLMStage(model="t", only_uncovered=True, max_per_source=2), {"t": spec}, 1)
    jobs = stage.plan(uncovered(injection_sources(["gold"], seeds, []), covered))
    assert [src.seed.seed_id for src, _, _ in jobs] == ["w", "w"]
    answer = json.dumps({"steps": ["Tom has 3 apples and eats 1 of them.", "So 4 apples are left.",
                                   "The answer is 4."], "error_step": 2, "explanation": "added instead of taken away"})
    cache = ResponseCache(tmp_path / "responses.sqlite")
    cache.put_many([(request_key(spec.backend, model_identity(spec), stage.request(src, t)), model_identity(spec),
                     Completion(samples=[Sample(text=answer, finish_reason="stop", completion_tokens=30)],
                                prompt_tokens=300)) for src, t, _ in jobs])
    stage.cache = cache
    result, (usage,) = stage.run(seeds, [], covered)
    cache.close()
    assert result.report.n_in == 1 and usage.requests == usage.cache_hits == 2  # Natalia's was never sent
    assert len(result.records) == 2 and all(r.seed_id == "w" and r.first_error_step == 1 for r in result.records)
    assert all(failed_check(r, recompute=False) is None for r in result.records)


def test_a_question_percent_a_recheck_and_a_twice_used_value_are_not_miscarried():
    """Three seams a read of kept records found: `20% fewer` turned into `2% fewer` because Monday's
    20 cars became 2; Monday's changed 20 and Thursday's new 20 in one total; a `let me recheck` line
    that works the slipped sum again, right."""
    problem = "On Tuesday 25 cars pass. On Monday, 20% less than on Tuesday. Thursday and Friday 10 cars each."
    steps = ["**Monday:** 20% fewer than Tuesday's 25, that is 25 × 0.8 = 20 cars.",
             "**Thursday and Friday:** 2 × 10 = 20 cars.", "**Total:** 20 + 25 + 20 = 65 cars.", "The answer is 65."]
    src = SourceSolution.parse(problem, steps)
    monday = [e for e in OPERATORS["calculation"].candidates(src) if e.step == 0]
    assert monday
    for edit in monday:
        with pytest.raises(Implausible, match="ambiguous_value"):
            propagate(edit, set(src.question_values), Fraction(65))
    kept = propagate(next(e for e in OPERATORS["calculation"].candidates(SourceSolution.parse(problem, steps[:1] + [
        "So Monday has 20 cars.", "The answer is 20."])) if e.slip == "misplaced_decimal"), set(src.question_values),
        Fraction(20))
    assert kept[0].startswith("**Monday:** 20% fewer") and kept[0].endswith("= 2 cars.")
    recheck = ["In total she has 150 + 2,000 + 7,200 = 9,350.", "Let me recheck: 150 + 2,000 + 7,200 = 9,350.",
               "The answer is 9350."]
    src = SourceSolution.parse("She has $150 and gets $2,000 and $7,200.", recheck)
    slipped = [e for e in OPERATORS["calculation"].candidates(src) if e.step == 0]
    assert slipped
    for edit in slipped:
        with pytest.raises(Implausible, match="recomputed"):
            propagate(edit, set(src.question_values), Fraction(9350))


# ---- blind read r1 (issue 19): the seams a reader found, each shut ---------------------------------

def _solution(steps: list[str], finish_reason: str = "stop") -> Solution:
    text = "\n".join(steps)
    return Solution("s-1", NATALIA.seed_id, NATALIA.problem, "m", 0, text, steps, "72", "72", "stated", True,
                    finish_reason, 10, 10)


@pytest.mark.parametrize("steps,finish,reason", [
    # record 32: the embedded model's template answer, then more text, cut off mid-sentence
    (["Natalia sold 48/2 = 24 clips in May.", "So the answer is 48+24 = 72 clips.", "The answer is N.",
      "To calculate N, we need", "Natalia"], "stop", "source_placeholder_answer"),
    (["Natalia sold 48/2 = 24 clips in May.", "So the answer is 48+24 = 72 clips.", "Natalia then"], "stop",
     "source_goes_on_after_answer"),
    (["Natalia sold 48/2 = 24 clips in May.", "The answer is 72. Then 72 + 1 = 73."], "stop", "source_goes_on_after_answer"),
    (["Natalia sold 48/2 = 24 clips in May.", "She sold 48+24 = 72 clips. The answer is 72."], "length", "source_cut_off"),
])
def test_a_broken_source_is_never_corrupted(steps, finish, reason):
    result = InjectErrors(InjectStage(sources=["samples"]), build_seed=5).run([NATALIA], [_solution(steps, finish)])
    assert result.records == [] and [r.reason for r in result.rejects] == [reason]
    ok = ["Natalia sold 48/2 = 24 clips in May.", "She sold 48+24 = 72 clips altogether.", "The answer is 72. I hope it is correct."]
    assert InjectErrors(InjectStage(sources=["samples"]), build_seed=5).run([NATALIA], [_solution(ok)]).records
    again = ok[:2] + ["The answer is 72.", "**The answer is 72.**"]  # the answer said twice is not going on
    assert InjectErrors(InjectStage(sources=["samples"]), build_seed=5).run([NATALIA], [_solution(again)]).records


def test_the_teacher_is_never_given_a_broken_source():
    """inject_llm refuses the same sources as the rule stage, before any request is made."""
    from synth.recipe import InjectLLMStage, OpenAIModel
    from synth.stages.inject import injection_sources
    from synth.stages.inject_llm import InjectErrorsLLM

    spec = OpenAIModel(backend="openai", model="teacher", base_url="http://127.0.0.1:9/v1")
    stage = InjectErrorsLLM(InjectLLMStage(model="t", sources=["samples"], max_per_source=2), {"t": spec}, 1)
    cut = _solution(["Natalia sold 48/2 = 24 clips in May.", "She sold 48+24 = 72 clips. The answer is 72."], "length")
    report, rejects = StageReport("inject_llm", "solutions", "injections", 1), []
    assert stage.plan(injection_sources(["samples"], [NATALIA], [cut]), report, rejects) == []
    assert [r.reason for r in rejects] == ["source_cut_off"]
    whole = _solution(["Natalia sold 48/2 = 24 clips in May.", "She sold 48+24 = 72 clips.", "The answer is 72."])
    assert len(stage.plan(injection_sources(["samples"], [NATALIA], [whole]))) == 2


def test_an_earlier_step_value_is_a_recent_value_of_the_same_kind():
    # record 50: hours never stand in for the miles just worked out
    walk = ["To average 4 mph over 12 miles she must finish in 12 / 4 = 3 hours.",
            "She has used 1 + 1 = 2 hours, leaving 3 - 2 = 1 hour.",
            "She has walked 4 + 2 = 6 miles, leaving 12 - 6 = 6 miles.",
            "She needs a speed of 6 / 1 = 6 miles per hour.", "The answer is \\boxed{6}."]
    details = [e.detail for e in _candidates("earlier_step_value", walk)]
    assert not any("'6 / 1" in d and "6 -> " in d for d in details)
    assert any("1 -> 3 in '6 / 1" in d for d in details)  # hours for hours: the total time for the time left
    # records 5, 26: not a value from far back that skips the one just computed for that place
    beef = ["Since each package weighed 4 pounds, the first butcher delivered 10 * 4 = 40 pounds",
            "The second butcher's delivery was 7 * 4 = 28 pounds",
            "The first two butchers therefore delivered 40 + 28 = 68 pounds",
            "Subtracting that weight from the total weight of ground beef gives 100 - 68 = 32 pounds",
            "It therefore means the third butcher delivered 32/4 = 8 packages."]
    details = [e.detail for e in _candidates("earlier_step_value", beef, "10 packages, 7 packages, 4 pounds, 100 pounds")]
    assert not any("32 -> 40" in d or "32 -> 28" in d for d in details) and any("32 -> 68" in d for d in details)
    vib = ["At the highest setting, it vibrates 1600*.6=960 vibrations per second faster than the lowest setting",
           "So it vibrates at 1600+960=2560 vibrations per second", "Matt uses it for 5 minutes so that is 5*60=300 seconds",
           "That means he experienced 2560*300=768,000 vibrations"]
    details = [e.detail for e in _candidates("earlier_step_value", vib, "1600 vibrations per second, 60% faster, 5 minutes")]
    assert not any("300 -> " in d for d in details)  # seconds are not replaced by vibrations


def test_a_substitution_never_combines_a_value_with_itself():
    # record 22: `$13,248 + $13,248`; record 3: `40 + 40`
    piggy = ["Today, Sheila's piggy bank has $3000 + $7000 = $10000",
             "Sheila will be saving for 4 years which is equivalent to 12 months/year * 4 years = 48 months",
             "In 4 years, she will save $276/month * 48 months = $13248",
             "The piggy bank will have a total of $10,000 + $13,248 = $23248"]
    problem = "Sheila has $3000, her family adds $7000; she saves $276 a month for 4 years."
    for kind in ("earlier_step_value", "question_value"):
        for e in _candidates(kind, piggy, problem):
            assert all(len({t.value for t in c.operands}) == len(c.operands)
                       for s in e.steps for c in parse_step(s).calcs), e.detail
    from synth.inject.steps import value_combined_with_itself
    assert value_combined_with_itself(["a 30 + 18 + 11 = 59"], ["a 30 + 18 + 30 = 78"]) == 0
    assert value_combined_with_itself(["a 2 + 2 = 4"], ["a 2 + 2 = 5"]) is None  # the original's own


def test_a_dropped_term_never_gives_one_of_its_addends():
    # record 4: 6 + 10 + 4 = $10 (the middle term dropped gives the middle term)
    calc = parse_step("bringing the total to 6+10+4 = $20.00").calcs[0]
    from synth.inject.operators import calculation_slips

    dropped = [w for k, w in calculation_slips(calc) if k == "dropped_term"]
    assert dropped == [16]  # the 4 forgotten, not the 10


def test_a_swap_never_makes_two_lines_the_same():
    # records 25, 29: Monday's `30 - 12` swapped to Tuesday's `30 - 19`: the same line twice
    from synth.inject.steps import repeated_line

    seed = SeedProblem("situps", "test", "Shawna's goal is 30 situps. On Monday she did 12 situps and on Tuesday she did 19 situps. "
                       "How many must she do on Wednesday to meet her goal and make up for the ones she did not do?",
                       ["On Monday, Shawna was short of 30 - 12 = 18 situps",
                        "On Tuesday, Shawna was short of 30 - 19 = 11 situps",
                        "On Wednesday, Shawna would have to do 30 + 18 + 11 = 59 situps"], "59")
    src = SourceSolution.parse(seed.problem, gold_solution_steps(seed))
    carried = []
    for e in OPERATORS["question_value"].candidates(src):
        try:
            carried.append(propagate(e, set(src.question_values), Fraction(59)))
        except Implausible:
            pass
    assert any(repeated_line(src.steps, steps) is not None for steps in carried)  # the seam the stage must skip
    for seed_value in range(20):
        for r in InjectErrors(InjectStage(), build_seed=seed_value).run([seed], []).records:
            assert repeated_line(r.original_steps, r.corrupted_steps) is None, r.detail
            assert all(len({t.value for t in c.operands}) == len(c.operands)
                       for s in r.corrupted_steps for c in parse_step(s).calcs), r.detail
    assert repeated_line(["a", "b"], ["b", "b"]) == 1 and repeated_line(["b", "b"], ["b", "b"]) is None


def _random_pairs(n: int, seed: int):
    """Pairs of step lists as corruptions make them (one list an edit of the other: a step changed,
    removed or added), and unrelated ones, from small alphabets so that steps repeat often."""
    import random

    rng = random.Random(seed)
    for _ in range(n):
        alpha = "abcdefghij"[:rng.randint(1, 10)]
        a = (rng.sample(alpha, rng.randint(0, len(alpha))) if rng.random() < 0.6
             else [rng.choice(alpha) for _ in range(rng.randint(0, 7))])
        b = list(a)
        if rng.random() < 0.8:
            for _ in range(rng.randint(1, 3)):
                op = rng.random()
                if op < 0.5 and b:
                    b[rng.randrange(len(b))] = rng.choice(alpha + "XYZ")
                elif op < 0.75 and b:
                    del b[rng.randrange(len(b))]
                else:
                    b.insert(rng.randint(0, len(b)), rng.choice(alpha + "XYZ"))
        else:
            b = [rng.choice(alpha + "XY") for _ in range(rng.randint(0, 7))]
        yield a, b


def test_the_step_alignment_without_difflib_is_difflibs_wherever_it_answers():
    """The label checks align steps with a shortcut for the usual pair; where it answers it must be
    difflib's alignment exactly (a different one moves labels), and it must answer for most edits."""
    import difflib

    from synth.inject.steps import _head_and_tail_opcodes

    answered = 0
    for a, b in _random_pairs(30_000, 0):
        fast = _head_and_tail_opcodes(a, b)
        if fast is not None:
            answered += 1
            assert fast == tuple(difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()), (a, b)
    assert answered > 10_000
    # a repeated step is left to difflib: here a run pairs the head of one with the tail of the other
    assert _head_and_tail_opcodes(list("aaaaaaa"), list("aaaYaaaa")) is None


def test_the_step_similarity_shortcut_says_what_difflib_says():
    """`_resembles` accepts a pair on a common head or tail long enough, before difflib: it must accept
    exactly the pairs difflib's ratio accepts, at the thresholds either side of the one in use."""
    import difflib

    from synth.inject.steps import _resembles

    accepted = 0
    for threshold in (0.3, 0.5, 0.7):
        for a, b in _random_pairs(20_000, 1):
            a, b = tuple(a), tuple(b)
            m = difflib.SequenceMatcher(None, a, b, autojunk=False)
            numbers_kept = sum(w[0].isdigit() for w in b) >= sum(w[0].isdigit() for w in a) - 1
            expected = a == b or (numbers_kept and m.ratio() >= threshold)
            assert _resembles(a, b, threshold) == expected, (a, b, threshold)
            accepted += expected
    assert accepted > 10_000
