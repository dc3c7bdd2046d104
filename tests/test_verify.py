"""Unparsable model output is labelled, never dropped silently or turned into a guess."""

from schemas import ChatMessage, Generation, Seed
from synth.stages.verify import VerifyAnswers

SEED = Seed(seed_id="s1", source="test", problem="Mia has 5 apples and buys 3 more. How many?",
            gold_steps=["5 + 3 = 8."], gold_answer="8")


def _gen(i: int, text: str) -> Generation:
    return Generation(generation_id=f"s1-s{i}", seed_id="s1", model="m", sample_index=i,
                      messages=[ChatMessage("user", SEED.problem)], text=text, finish_reason="stop",
                      prompt_tokens=10, completion_tokens=5)


def test_unparsable_output_is_labelled_no_answer_and_kept():
    texts = ["5 + 3 = 8\nThe answer is 8.", "She buys some more apples, lots of them.",
             "\\boxed{\\frac{16}{2}", "The answer is nine"]
    result = VerifyAnswers().run([_gen(i, t) for i, t in enumerate(texts)], [SEED])
    by_id = {s.solution_id: s for s in result.records}
    assert len(result.records) == 4 and result.rejects == []
    assert by_id["s1-s0"].answer_status == "correct" and by_id["s1-s0"].is_correct
    assert by_id["s1-s1"].answer_status == "no_answer" and by_id["s1-s1"].extracted_answer is None
    assert not by_id["s1-s1"].is_correct
    # An unclosed \boxed is not read as an answer; the last bare number is taken instead.
    assert by_id["s1-s2"].extracted_answer == "2" and by_id["s1-s2"].answer_status == "incorrect"
    assert by_id["s1-s3"].answer_status == "no_answer"
    assert dict(result.report.labels) == {"correct": 1, "no_answer": 2, "incorrect": 1}
