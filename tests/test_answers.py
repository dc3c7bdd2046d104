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
