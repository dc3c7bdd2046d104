"""Unparsable model output is labelled, never dropped silently or turned into a guess."""

from dataclasses import replace

from schemas import ChatMessage, Generation, SeedProblem
from synth.stages.verify import VerifyAnswers

SEED = SeedProblem(seed_id="s1", source="test", problem="Mia has 5 apples and buys 3 more. How many?",
            gold_steps=["5 + 3 = 8."], gold_answer="8")


def _gen(i: int, text: str, finish_reason: str = "stop") -> Generation:
    return Generation(generation_id=f"s1-s{i}", seed_id="s1", model="m", sample_index=i,
                      messages=[ChatMessage("user", SEED.problem)], text=text, finish_reason=finish_reason,
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
    # An answer in words is an answer: nine, not gold's eight.
    assert by_id["s1-s3"].extracted_answer == "9" and by_id["s1-s3"].answer_status == "incorrect"
    assert dict(result.report.labels) == {"correct": 1, "no_answer": 1, "incorrect": 2}


def test_a_cut_off_solution_is_labelled_by_what_it_stated_only():
    """finish_reason length: the 8 it reached mid-sentence is no answer; a stated answer still counts."""
    gens = [_gen(0, "Mia has 5 apples. She buys 3 more, so 5 + 3 = 8 and then she gives", "length"),
            _gen(1, "Mia has 5 apples. She buys 3 more, so 5 + 3 = 8 and then she gives"),
            _gen(2, "5 + 3 = 8\nThe answer is 8.\nNow let us check it by counting one", "length")]
    by_id = {s.solution_id: s for s in VerifyAnswers().run(gens, [SEED]).records}
    assert by_id["s1-s0"].answer_status == "no_answer" and not by_id["s1-s0"].is_correct
    assert "max_tokens" in by_id["s1-s0"].error_detail
    assert by_id["s1-s1"].answer_status == "correct"  # it finished: its last result is its answer
    assert by_id["s1-s2"].answer_status == "correct" and by_id["s1-s2"].finish_reason == "length"


def test_different_final_answers_are_never_correct():
    gens = [_gen(0, "5 + 3 = 8\nThe answer is 8.\nWait, the answer is 9."),
            _gen(1, "The answer is 7.\n\\boxed{9}"),
            _gen(2, "\\boxed{8}\nSo the final answer is 8.")]
    by_id = {s.solution_id: s for s in VerifyAnswers().run(gens, [replace(SEED)]).records}
    assert by_id["s1-s0"].answer_status == "ambiguous" and not by_id["s1-s0"].is_correct
    assert "8" in by_id["s1-s0"].error_detail and "9" in by_id["s1-s0"].error_detail
    # Both stated answers are wrong: plainly incorrect, read as the last one.
    assert by_id["s1-s1"].answer_status == "incorrect" and by_id["s1-s1"].extracted_answer == "9"
    assert by_id["s1-s2"].answer_status == "correct"  # the same answer twice is one answer
