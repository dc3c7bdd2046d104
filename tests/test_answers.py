import pytest

from synth.answers import answers_match, extract_answer


@pytest.mark.parametrize(
    "text,expected",
    [
        ("12 + 5 = 17\n17 - 3 = 14\nThe answer is 14.", "14"),
        ("so the result is \\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
        ("48/2 = 24\n#### 1,200", "1,200"),
        ("The answer is: $18.00 total", "$18.00"),
        ("She has 7 left, then 9.", "9"),
        ("Thus, the answer is 33, which is 2 * 3 = 6.", "33"),
        ("no number at all", None),
    ],
)
def test_extract(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "pred,gold,ok",
    [("14", "14", True), ("1,200", "1200", True), ("$18.00", "18", True), ("0.5", "1/2", True),
     ("\\frac{3}{4}", "0.75", True), ("50%", "0.5", True), ("13", "14", False), (None, "14", False),
     ("-3", "3", False)],
)
def test_match(pred, gold, ok):
    assert answers_match(pred, gold) is ok


# Endings of solutions in the styles models write them (GSM8K-style and MATH-style), each labelled by
# hand against its gold answer: extraction and equivalence together, as the verify stage uses them.
@pytest.mark.parametrize("solution,gold,ok", [
    ("Natalia sold 48 / 2 = 24 clips in May.\nShe sold 48 + 24 = 72 clips.\nThe answer is 72.", "72", True),
    ("Weng earns 12 / 60 = 0.2 per minute.\n0.2 * 50 = 10\n#### 10", "10", True),
    ("She needs 100 - 50 - 30 - 15 = 5 more dollars.\nThe answer is $5.", "5", True),
    ("The total is 1,200 + 300 = 1,500.\nThe answer is 1,500 dollars.", "1500", True),
    ("He has 18 - 6 = 12 apples left.\nThe answer is 12 apples, which is 3 * 4.", "12", True),
    ("So it drops by 3 - 10 = -7 degrees.\nThe answer is -7.", "-7", True),
    ("The discount is 20 / 80 = 0.25.\nThe answer is 25%.", "0.25", True),
    ("The share is 1 / 2.\nThe answer is $\\frac{1}{2}$.", "0.5", True),
    ("Adding up, $\\frac{3}{8} + \\frac{3}{8} = \\boxed{\\dfrac{3}{4}}$", "\\frac34", True),
    ("Solving $x^2 - 3x + 2 = 0$ gives $x = 1$ or $x = 2$, so the pair is $\\boxed{(1, 2)}$.", "(1,2)", True),
    ("The inequality holds for $x \\le 2$, so the answer is $\\boxed{(-\\infty, 2]}$.", "(-\\infty, 2]", True),
    ("Hence $\\boxed{[1, 3)}$.", "[1,3]", False),
    ("The side is $\\boxed{2\\sqrt{2}}$ units.", "\\sqrt{8}", True),
    ("The angle is $\\boxed{10^{\\circ}}$.", "10", True),
    ("The set is $\\boxed{\\{1, 2, 3\\}}$.", "\\{3,2,1\\}", True),
    ("It costs 4 * 3 = 12 dollars.\nThe answer is 13.", "12", False),
    ("I am not sure how to solve this problem.", "12", False),
])
def test_model_style_solutions_against_labels(solution, gold, ok):
    assert answers_match(extract_answer(solution), gold) is ok
