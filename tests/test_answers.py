import pytest

from synth.answers import AnswerReading, answers_match, extract_answer, read_answer


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


# The misreadings of issue 19, each as the input that showed it: (solution, gold, what a careful
# reader reads as the final answer (None: no single answer), whether it equals gold).
@pytest.mark.parametrize("solution,gold,answer,ok", [
    # the result of the final-answer statement, not the first number after "answer"
    ("Zoe has 4 pencils and gets 2 more.\nFinal answer: Zoe has 4 + 2 = 6 pencils.", "6", "6", True),
    ("Zoe has 4 pencils and gets 2 more.\nFinal answer: Zoe has 4 + 2 = 6 pencils.", "4", "6", False),
    # the Unicode minus is a minus
    ("It falls 2 - 7 = \u22125 degrees.\nThe answer is \u22125.", "5", "-5", False),
    ("It falls 2 - 7 = \u22125 degrees.\nThe answer is \u22125.", "-5", "-5", True),
    # "answer is" inside another sentence is not a statement
    ("To check whether the answer is 12 we add 3 more.\nSo she has 12 + 3 = 15", "12", "15", False),
    ("The answer is not 3, it is 4.", "3", "4", False),
    ("The answer is not 3, it is 4.", "4", "4", True),
    # plain-text non-integers are read whole
    ("She eats 1/4 of it, so 1 - 1/4 = 3/4 is left.\nThe answer is 3/4.", "3", "3/4", False),
    ("She eats 1/4 of it, so 1 - 1/4 = 3/4 is left.\nThe answer is 3/4.", "0.75", "3/4", True),
    ("The recipe needs 2 1/2 cups.\nThe answer is 2 1/2 cups.", "2", "5/2", False),
    ("The recipe needs 2 1/2 cups.\nThe answer is 2 1/2 cups.", "2.5", "5/2", True),
    ("The point is where both lines meet.\nThe answer is (2, 3).", "2", "(2, 3)", False),
    ("The city has 1.5 million people.\nThe answer is 1.5 million.", "1.5", "1500000", False),
    ("The city has 1.5 million people.\nThe answer is 1.5 million.", "1500000", "1500000", True),
    ("The answer is 2^3 = 8.", "2", "8", False),
    ("The answer is 2^3 = 8.", "8", "8", True),
    ("The answer is 20% of 50 = 10.", "20", "10", False),
    ("The answer is 20% of 50 = 10.", "10", "10", True),
    # the last statement does not lose to an early box: different stated answers are no single answer
    ("First guess: \\boxed{12}.\nRechecking, 3 * 5 = 15.\nThe final answer is 15.", "12", None, False),
    ("First guess: \\boxed{12}.\nRechecking, 3 * 5 = 15.\nThe final answer is 15.", "15", None, False),
    ("The answer is 8.\nWait, 4 + 5 = 9, so the answer is 9.", "8", None, False),
    ("The answer is 12 or 15.", "12", None, False),
    # answers in words
    ("He has five apples left.\nThe answer is five.", "5", "5", True),
    ("The answer is twenty-one apples.", "21", "21", True),
    ("So the answer is one hundred and five.", "105", "105", True),
    # the same answer stated twice (a box inside the statement, a repeat) is one answer
    ("The answer is $\\boxed{72}$.\nSo the final answer is 72.", "72", "72", True),
])
def test_issue_19_misreadings(solution, gold, answer, ok):
    assert extract_answer(solution) == answer
    assert answers_match(extract_answer(solution), gold) is ok


# Endings in the styles other models write (Llama's "I hope it is correct", GPT's bold headings,
# Qwen's boxes, money in LaTeX, a value on the line after "The answer is:"), labelled by hand.
@pytest.mark.parametrize("solution,gold,answer,ok", [
    ("Therefore, the final answer is: $\\boxed{18}$. I hope it is correct.", "18", "18", True),
    ("**Final Answer:** $\\boxed{42}$", "42", "42", True),
    ("Adding them gives 40 + 2 = 42.\n\n**Answer:** 42", "42", "42", True),
    ("So the answer is **18**.", "18", "18", True),
    ("Thus, the total cost is $\\$1,250$.\n\nThe answer is $\\$1,250$.", "1250", "1,250", True),
    ("The final answer is $\\boxed{\\frac{7}{2}}$.", "3.5", "\\frac{7}{2}", True),
    ("Answer: 3.5 hours", "3.5", "3.5", True),
    ("The answer is:\n\n72", "72", "72", True),
    ("Let's verify: if the answer is 12, then 12 * 2 = 24, which matches.\nSo the answer is 12.", "12", "12", True),
    ("x = 4\n\nThe answer is $x = 4$.", "4", "4", True),
    ("The answer is 4 + 2.", "6", "6", True),
    ("12 is the answer.", "12", "12", True),
    ("The answer is $2.50.", "2.5", "$2.50", True),
    ("Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = $18 every day.", "18", "$18", True),  # no statement
    ("The answer is N.", "4", None, False),
])
def test_other_model_styles_against_labels(solution, gold, answer, ok):
    assert extract_answer(solution) == answer
    assert answers_match(extract_answer(solution), gold) is ok


# More real SmolLM2-135M-Instruct endings (a tiny quickstart-style build), each labelled by reading it:
# (ending, gold, finished, what a careful reader takes as its final answer, equals gold).
@pytest.mark.parametrize("solution,gold,finished,answer,ok", [
    # an answer in an unknown, then a number: the number is the only answer stated
    ("A total of 3 * 9 = 27 beads are shared equally among 3 friends.\nThe answer is N / 3.\nThe answer is 33.",
     "3", True, "33", False),
    # an expression, then a different result: two answers
    ("2. Noah ends up with 5 * 39 = 195 more beads.\n\nThe answer is 38 + 195.\n\nThe answer is 219.",
     "195", True, None, False),
    # right four times, then taken back: no single answer
    ("78 + 40 = 118 shells.\nThe answer is 118.\n#### 118\nThe answer is 118.\n\nThe answer is 118.\n\n"
     "No, the answer is 0.", "118", True, None, False),
    # cut off mid-computation: what it reached is no answer
    ("Each friend gets a total of 40 / 9 = 4 pencils.\nAva has a total of 4 * 4", "5", False, None, False),
    ("Mia has 15 x 2 = 30 marbles.\nShe has doubled, so Mia now has 30 + 2 = 32 marbles.\n\nThe answer is N because "
     "of step-by-step math.\n\nTrying the same example again, Mia has 32 x 2 = 64 marbles now, and", "30", False,
     None, False),
    # finished without a statement: its last result
    ("13 - 4 = 8 books\nTom has 8 books.\nTom buys 4 more books, so Tom has 8 + 4 = 12 total books now.", "17", True,
     "12", False),
    ("Iris has 37 + 21 = 58 cookies now.", "58", True, "58", True),
    # a statement in parentheses inside another sentence is not the final answer
    ("Nora has 9 beads.\nShe does not share them equally. So, there is 100 (the answer is 101) apart from the "
     "whole of 9.", "3", True, "9", False),
    ("Fix a minor error: \"The answer is N\" instead of \"The answer is N.\"", "16", True, None, False),
    # a statement that states no value: the numbers before it are not its answer
    ("Noah has 20 apples. So, Noah has 2 * 40 = 80 apples.\nHence, the answer is N.", "80", True, None, False),
    ("1\n\nThe answer is N.", "1", True, None, False),
])
def test_more_real_model_endings(solution, gold, finished, answer, ok):
    assert extract_answer(solution, finished) == answer
    assert answers_match(extract_answer(solution, finished), gold) is ok


def test_a_cut_off_solution_has_only_the_answers_it_stated():
    """Cut off at max_tokens (finished=False): numbers it reached are not an answer, statements are."""
    cut = "Mia has 5 apples. She buys 3 more, so 5 + 3 = 8, and then she"
    assert read_answer(cut).answer == "8" and read_answer(cut).status == "last_number"
    assert read_answer(cut, finished=False) == AnswerReading("none", None)
    stated = "5 + 3 = 8\nThe answer is 8.\nTo double check we count 1, 2, 3"
    assert read_answer(stated, finished=False).answer == "8"


def test_statements_say_where_the_answer_is_stated():
    text = "She has 1 + 2 = 3 apples.\nThe answer is 3.\nShe is happy."
    reading = read_answer(text)
    assert reading.status == "stated" and len(reading.statements) == 1
    assert text[reading.last.start:reading.last.end] == "The answer is 3."
