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


# Real SmolLM2-135M-Instruct solutions from a quickstart build (their endings), labelled by reading
# them: does the solution's final answer equal gold?
@pytest.mark.parametrize("solution,gold,answer,ok", [
    ("12 is the answer.", "12", "12", True),
    ("Solve: 24 x 3 = 72\nThe answer is 72.\n\nTom has 24 x 3 = 72 stamps. After having triples, Tom has now 72.",
     "72", "72", True),
    ("Omar has 8 + 7 = 15 beads.\nOmar has 15 more beads.\nThe answer is 15.", "15", "15", True),
    ("Omar has 48 stickers. This is equal to 19 more stickers, so Omar buys 19 more stickers, which means he "
     "now has 48 + 19 = 67 stickers.", "67", "67", True),
    ("The number of ways to distribute 1 marble evenly among 9 is the combination of 9", "3", "9", False),
    ("Liam has 10 books, and Liam buys 10 more books.\n\nThe answer is 10 + 1 = 11.\n\nStep by step, in the "
     "first 10 steps, Liam purchased 10 books, and that's the answer.", "20", "11", False),
    ("The answer is 21, which is the sum of 21 Apples Noah has triples, which is 6 apples.\n\nThe answer is 21, "
     "which is the answer to the", "63", "21", False),
    ("42 - 4 = 41 - 42 = 11\n\nThis can be rewritten as 2 is equal to 11 - 1 = 12.\n\nThe answer is 12.",
     "21", "12", False),
    ("Ravi ends up with 15 - 1 = 14 stickers.\n\nThe answer is 14.", "56", "14", False),
    ("1\n\nZoe has 10 more pencils now.\n\n2\n\nZoe is given 17 more pencils now.\n\n3", "70", "3", False),
    ("The answer is N.", "104", None, False),
    ("You are a math assistant.", "3", None, False),
])
def test_real_model_solutions_against_labels(solution, gold, answer, ok):
    assert extract_answer(solution) == answer
    assert answers_match(extract_answer(solution), gold) is ok
