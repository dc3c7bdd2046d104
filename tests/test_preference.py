"""Binarization, exports and expectation suites of preference data, on hand-made records (no model):
each rule of the literature's binarization checked on the cases that decide it."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest

from schemas import TABLES, AspectRating, Comparison, PairwiseVerdict, RatedCompletion, SeedProblem, Solution, records_to_table
from synth.answers import extract_answer
from synth.errors import RecipeError, SeedError
from synth.exports import to_dpo, to_ultrafeedback
from synth.recipe import GenerateStage, PairStage, load_recipe
from synth.seeds import load_seeds
from synth.stages.pair import PairPreferences
from tests.conftest import REPO
from synth.pipeline import validate_table

SEEDS = [SeedProblem(seed_id=f"q{i}", source=f"test:{i}", problem=f"Question {i}?", gold_steps=[], gold_answer="")
         for i in range(4)]


def solution(seed: str, i: int, text: str | None = None, correct: bool = False, status: str | None = None) -> Solution:
    text = text or f"answer {i} to {seed}" + "!" * i
    return Solution(solution_id=f"{seed}-s{i}", seed_id=seed, problem=f"{seed}?", model=f"m{i % 2}", sample_index=i,
                    text=text, steps=[text], extracted_answer=str(i), gold_answer="3",
                    answer_status=status or ("correct" if correct else "incorrect"), is_correct=correct,
                    finish_reason="stop", prompt_tokens=5, completion_tokens=5)


def rated(s: Solution, per_aspect: list[int], judges: tuple[str, ...] = ("j1",)) -> RatedCompletion:
    aspects = ["instruction_following", "honesty", "truthfulness", "helpfulness"][: len(per_aspect)]
    ratings = [AspectRating(aspect=a, judge=j, rating=r, rationale=f"{j} on {a}") for j in judges
               for a, r in zip(aspects, per_aspect)]
    scores = {a: float(r) for a, r in zip(aspects, per_aspect)}
    return RatedCompletion(solution_id=s.solution_id, seed_id=s.seed_id, model=s.model, text=s.text, ratings=ratings,
                           aspect_scores=scores, score=sum(scores.values()) / len(scores))


def run_pairs(config: PairStage, solutions=(), ratings=(), comparisons=(), seeds=SEEDS, prompt="respond", build_seed=1):
    stage = PairPreferences(config, GenerateStage(prompt=prompt), build_seed=build_seed)
    return stage.run(list(seeds), list(solutions), list(ratings), list(comparisons))


def math_solution(seed: str, i: int, text: str, correct: bool, status: str | None = None,
                  finish_reason: str = "stop") -> Solution:
    return replace(solution(seed, i, text, correct, status), finish_reason=finish_reason,
                   steps=[ln for ln in text.splitlines() if ln.strip()], extracted_answer=extract_answer(text))


def test_ratings_binarization_best_against_a_random_lower_one():
    sols = {k: [solution(k, i) for i in range(4)] for k in ("q0", "q1", "q2", "q3")}
    rates = [
        *[rated(s, r) for s, r in zip(sols["q0"], [[5, 5], [3, 4], [2, 2], [4, 4]])],  # best s0 (5.0)
        *[rated(s, r) for s, r in zip(sols["q1"], [[4, 4], [4, 4], [1, 1], [2, 2]])],  # tie for best: dropped
        *[rated(s, r) for s, r in zip(sols["q2"], [[3, 3], [3, 2], [3, 3], [3, 2]])],  # tie for best: dropped
        rated(sols["q3"][0], [2, 2]),                                                 # one rated: dropped
    ]
    result = run_pairs(PairStage(method="ratings"), [s for v in sols.values() for s in v], rates)
    assert [p.seed_id for p in result.records] == ["q0"]
    p = result.records[0]
    assert p.chosen_solution_id == "q0-s0" and p.score_chosen == 5.0
    assert p.rejected_solution_id in {"q0-s1", "q0-s2", "q0-s3"} and p.score_rejected < 5.0
    assert p.chosen[0].content == sols["q0"][0].text and p.prompt[-1].content == "Question 0?"
    assert len(p.chosen_ratings) == 2 and p.verdicts == [] and p.method == "ratings"
    assert dict(result.report.dropped) == {"tied_best": 2, "fewer_than_two_rated": 1}
    assert {r.reason for r in result.rejects} == {"tied_best", "fewer_than_two_rated"}
    # The random lower one is fixed by the build seed and the prompt, not by the order records arrive in.
    shuffled = rates[:]
    random.Random(3).shuffle(shuffled)
    again = run_pairs(PairStage(method="ratings"), [s for v in sols.values() for s in v], shuffled)
    assert again.records == result.records
    # Over many prompts, rejected is not always the worst.
    many = [SeedProblem(seed_id=f"m{i}", source="t", problem="?", gold_steps=[], gold_answer="") for i in range(40)]
    sols_m = [solution(f"m{i}", j) for i in range(40) for j in range(4)]
    rates_m = [rated(s, [5 - s.sample_index] * 2) for s in sols_m]
    picked = {p.score_rejected for p in run_pairs(PairStage(method="ratings"), sols_m, rates_m, seeds=many).records}
    assert picked == {2.0, 3.0, 4.0}


def test_best_vs_worst_and_minimum_margin():
    sols = [solution("q0", i) for i in range(4)]
    rates = [rated(s, r) for s, r in zip(sols, [[5, 4], [4, 4], [1, 2], [1, 2]])]
    worst = run_pairs(PairStage(method="ratings", binarize="best_vs_worst"), sols, rates, seeds=SEEDS[:1]).records
    assert worst[0].chosen_solution_id == "q0-s0" and worst[0].score_rejected == 1.5
    near = [rated(s, r) for s, r in zip(sols, [[5, 4], [4, 4], [4, 4], [5, 3]])]
    result = run_pairs(PairStage(method="ratings", min_margin=1.0), sols, near, seeds=SEEDS[:1])
    assert result.records == [] and dict(result.report.dropped) == {"below_min_margin": 1}
    kept = run_pairs(PairStage(method="ratings", min_margin=0.5), sols, near, seeds=SEEDS[:1]).records
    assert kept[0].score_chosen - kept[0].score_rejected >= 0.5


GOOD = "She has 1 + 2 = 3 apples.\nThe answer is 3."


STATED_WRONG = "She has 1 + 1 = 2 apples.\nThe answer is 2."


def test_verified_pairs_need_gold_and_both_outcomes():
    seeds = [replace(SEEDS[0], gold_answer="3"), replace(SEEDS[1], gold_answer="3"), SEEDS[2]]
    sols = [math_solution("q0", 0, GOOD, correct=True), math_solution("q0", 1, STATED_WRONG, correct=False),
            solution("q0", 2, status="no_answer"),
            solution("q0", 3, status="ambiguous"), math_solution("q1", 0, GOOD, correct=True),
            solution("q1", 1, status="ambiguous"), solution("q2", 0, status="unverified")]
    result = run_pairs(PairStage(method="verified", max_pairs_per_problem=5), sols, seeds=seeds, prompt="solve_math")
    # A solution stating two answers (ambiguous) is neither chosen nor rejected; one stating none is not rejected.
    assert sorted((p.chosen_solution_id, p.rejected_solution_id) for p in result.records) == [("q0-s0", "q0-s1")]
    assert all(p.score_chosen == 1.0 and p.gold_answer == "3" for p in result.records)
    assert dict(result.report.dropped) == {"no_incorrect_solution": 1, "no_gold_answer": 1}


def test_rejected_is_a_whole_solution_that_states_a_wrong_answer():
    """A rejected solution cut off at max_tokens is never used (DPO would push down a prefix that may be
    sound, for where the sampler stopped), nor one that finished stating no answer (its work can reach
    the right number in words, and the pair then reads backwards)."""
    seeds = [replace(SEEDS[0], gold_answer="3"), replace(SEEDS[1], gold_answer="3")]
    sols = [math_solution("q0", 0, GOOD, correct=True),
            math_solution("q0", 1, STATED_WRONG, correct=False, finish_reason="length"),
            solution("q0", 2, status="no_answer"), math_solution("q0", 3, STATED_WRONG + " ", correct=False),
            math_solution("q1", 0, GOOD, correct=True),
            math_solution("q1", 1, STATED_WRONG, correct=False, finish_reason="length"),
            solution("q1", 2, status="no_answer"),
            # wrong by its last number, but it states no answer: its words reach the right 3
            math_solution("q1", 3, "She has 1 + 2 = 3 apples now.\nShe had 10.", correct=False)]
    result = run_pairs(PairStage(method="verified", max_pairs_per_problem=3), sols, seeds=seeds, prompt="solve_math")
    assert [(p.chosen_solution_id, p.rejected_solution_id) for p in result.records] == [("q0-s0", "q0-s3")]
    assert dict(result.report.dropped) == {"no_incorrect_solution": 1}
    detail = next(r.detail for r in result.rejects if r.record_id == "q1")
    assert "1 cut off" in detail and "2 finished without stating an answer" in detail
    assert result.report.breakdown["rejected"] == {"wrong_answer": 1}


def test_pairs_of_one_problem_spread_over_its_solutions():
    """Two pairs from two correct and two wrong samples use all four, never one chosen text twice."""
    seeds = [replace(SEEDS[0], gold_answer="3")]
    good2 = "She has 2 + 1 = 3 apples.\nThe answer is 3."
    wrong2 = "She has 1 + 3 = 4 apples.\nThe answer is 4."
    sols = [math_solution("q0", 0, GOOD, correct=True), math_solution("q0", 1, good2, correct=True),
            math_solution("q0", 2, STATED_WRONG, correct=False), math_solution("q0", 3, wrong2, correct=False)]
    for build_seed in range(6):  # whatever order the shuffle gives
        result = run_pairs(PairStage(method="verified", max_pairs_per_problem=2), sols, seeds=seeds,
                           prompt="solve_math", build_seed=build_seed)
        chosen = [p.chosen_solution_id for p in result.records]
        rejected = [p.rejected_solution_id for p in result.records]
        assert sorted(chosen) == ["q0-s0", "q0-s1"] and sorted(rejected) == ["q0-s2", "q0-s3"]


# Correct final answers that a chosen solution still may not have, each with the flaw that bars it.
UNCLEAN = [
    ("She has 7 / 12 = 0.875 of a pie, so 1 + 2 = 3.\nThe answer is 3.", "false_computation"),
    ("Solve the equation: 1 = 3. So 1 + 2 = 3.\nThe answer is 3.", "false_computation"),
    ("She has 1 + 2 = 3 apples.\nThe answer is 3.\nCheck: 3 x 2 = 6 apples in all.", "contradiction_after_answer"),
    ("She has 1 + 2 = 3 apples.\nThe answer is 3.\nShe is happy now.", "goes_on_after_answer"),
    # blind read r3: the whole solution written a second time after its answer
    ("She has 1 + 2 = 3 apples.\nThe answer is 3.\n\nShe has 1 + 2 = 3 apples.\nThe answer is 3.", "goes_on_after_answer"),
    # blind read r3: the right number with no computation that gives it (`So, Lena now has 2 apples.`)
    ("She has 3 apples now.\nThe answer is 3.", "answer_not_worked_out"),
    ("She has 1 + 1 = 2 apples and 3 friends.\nThe answer is 3.", "answer_not_worked_out"),
    # blind read r6: a chain whose links are not equal (40 / 4 * 4 is 40, not 40 / 4)
    ("She shares 12 apples / 4 friends * 4 friends = 12 apples / 4 friends = 3 apples.\nThe answer is 3.",
     "false_computation"),
    # blind read r6: the answer reached by going back past the solution's own last computation
    ("She has 7 - 4 = 3 apples left.\nShe now has 3 - 3 = 0 apples.\nThe answer is 3.", "answer_not_worked_out"),
    # blind read r6: the answer's own sentence goes on to another count
    ("The answer is now 1 + 2 = 3, and now she has 4 apples.\nThe answer is 3.", "goes_on_after_answer"),
    ("She has 1 + 2 = 3 apples.\nThe answer is: 3 apples, she said happily to everyone.", "answer_not_in_asked_form"),
    ("She has 1 + 2 = 3 apples.", "no_stated_answer"),  # finished, and read as 3, but never stated
    ("She has 1 + 2 = 3 apples.\nSo she has 3 apples in her bag and", "cut_off"),
    ("She has 1 + 2 = 3 apples.\nThe answer is 3.", "cut_off"),
    ("The answer is 10 - 7 = 3.", "answer_not_in_asked_form"),
    ("She has 1 + 2 = 3 apples.\nThe answer is N.\nThe answer is 3.", "placeholder_answer"),
]


def test_chained_computations_are_read_link_by_link():
    """Each `=` of a chain between two computations must hold; a unit repeated before `=` belongs to the
    computation, the words of a sentence do not (`by 1/3 gives b = (1/3)*180`: no chain)."""
    from synth.process import false_computations

    assert false_computations("40 apples / 4 friends * 4 friends = 40 apples / 4 friends = 10 apples") == [
        "40 apples / 4 friends * 4 friends = 40 apples / 4"]
    assert false_computations("She has $10 + $5 = $15 - $3 = $12.") == ["10 + $5 = $15 - $3"]
    for true in ("2 * (3 + 4) = 2 * 7 = 14", "3 boxes * 4 pens = 12 pens / 2 = 6",
                 "12 / 4 * 3 = 3 * 3 = 9 apples", "Multiplying both sides by 1/3 gives b = (1/3)*180 = 60",
                 "7 minutes x 60 seconds per minute = 420 seconds + 23 seconds = 443 seconds",
                 "10 / 3 = 3.33 = 3.33 * 1", "Together 1 + 0 + 2 + 1/2 + 2 1/2 = 1 + 2 + 3 = 6 pieces"):
        assert false_computations(true) == [], true


def flaw_of(i: int) -> str:
    return UNCLEAN[i][1]


def test_a_correct_answer_is_not_enough_to_be_chosen():
    seeds = [replace(SEEDS[0], seed_id=f"u{i}", gold_answer="3") for i in range(len(UNCLEAN) + 1)]
    sols = []
    for i, (text, _) in enumerate(UNCLEAN):
        cut = "length" if flaw_of(i) == "cut_off" else "stop"
        sols += [math_solution(f"u{i}", 0, text, correct=True, finish_reason=cut),
                 math_solution(f"u{i}", 1, "1 + 1 = 2\nThe answer is 2.", correct=False)]
    n = len(UNCLEAN)
    sols += [math_solution(f"u{n}", 0, GOOD, correct=True), math_solution(f"u{n}", 1, UNCLEAN[0][0], correct=True),
             math_solution(f"u{n}", 2, "1 + 1 = 2\nThe answer is 2.", correct=False)]
    stage = PairPreferences(PairStage(method="verified", max_pairs_per_problem=5), GenerateStage(prompt="solve_math"),
                            build_seed=1)
    result = stage.run(seeds, sols, [], [])
    assert [(p.chosen_solution_id, p.rejected_solution_id) for p in result.records] == [(f"u{n}-s0", f"u{n}-s2")]
    assert dict(result.report.dropped) == {"no_clean_correct_solution": n}
    reasons = {r.record_id: r.reason for r in result.rejects if r.stage == "chosen_screen"}
    for i, (_, flaw) in enumerate(UNCLEAN):
        assert reasons[f"u{i}-s0"] == f"unclean_chosen:{flaw}", UNCLEAN[i]
    assert reasons[f"u{n}-s1"] == "unclean_chosen:false_computation"
    # The screen's own funnel row, in solutions: every drop counted, each flaw in the breakdown.
    row = stage.screen_report
    assert (row.n_in, row.n_out, sum(row.dropped.values())) == (n + 2, 1, n + 1) == (n + 2, 1, len(reasons))
    screen = row.breakdown["flaws"]
    assert screen["tried"] == n + 2 and screen["kept"] == 1 and screen["false_computation"] == 4
    assert next(r for r in result.rejects if r.record_id == "u0-s0").detail.startswith("false_computation: 7 / 12")


def test_chosen_and_rejected_always_differ():
    seeds = [replace(SEEDS[0], gold_answer="3"), replace(SEEDS[1], gold_answer="3")]
    same = math_solution("q0", 1, GOOD + " ", correct=False, status="incorrect")  # a copy, spacing aside
    sols = [math_solution("q0", 0, GOOD, correct=True), same]
    result = run_pairs(PairStage(method="verified"), sols, seeds=seeds[:1], prompt="solve_math")
    assert result.records == [] and dict(result.report.dropped) == {"chosen_equals_rejected": 1}
    # Code: one run of a program passed and another run of the same program timed out.
    program = "def f(x):\n    return x + 1\n"
    passed = replace(solution("q1", 0, "```python\n" + program + "```", correct=True), extracted_answer=program)
    timed_out = replace(solution("q1", 1, "Here it is:\n```python\n" + program + "```"), extracted_answer=program,
                        error_type="Timeout")
    code = run_pairs(PairStage(method="verified"), [passed, timed_out], seeds=seeds[1:], prompt="solve_code")
    assert code.records == [] and dict(code.report.dropped) == {"chosen_equals_rejected": 1}


def test_ratings_that_are_equal_up_to_float_rounding_are_a_tie():
    sols = [solution("q0", i) for i in range(3)]
    tied = [replace(rated(sols[0], [4, 4]), score=0.1 + 0.2), replace(rated(sols[1], [4, 4]), score=0.3),
            replace(rated(sols[2], [1, 1]), score=0.1)]
    assert 0.1 + 0.2 != 0.3  # the floats differ; the means they stand for do not
    result = run_pairs(PairStage(method="ratings"), sols, tied, seeds=SEEDS[:1])
    assert result.records == [] and dict(result.report.dropped) == {"tied_best": 1}


def test_pairwise_pairs_come_from_consistent_comparisons():
    a, b = solution("q0", 0), solution("q0", 1)
    verdicts = [PairwiseVerdict("j", a.solution_id, b.solution_id, "B", b.solution_id, "b is right"),
                PairwiseVerdict("j", b.solution_id, a.solution_id, "A", b.solution_id, "b is right")]
    comp = Comparison("c1", "q0", a.solution_id, b.solution_id, verdicts, b.solution_id, a.solution_id)
    result = run_pairs(PairStage(method="pairwise"), [a, b], comparisons=[comp], seeds=SEEDS[:2])
    assert [(p.chosen_solution_id, p.rejected_solution_id) for p in result.records] == [("q0-s1", "q0-s0")]
    assert result.records[0].verdicts == verdicts and result.records[0].score_chosen is None
    assert dict(result.report.dropped) == {"no_consistent_comparison": 1}
    # Length bias is counted for every pair: here chosen ("!" appended) is the longer one.
    assert dict(result.report.breakdown["length"]) == {"chosen_longer": 1}
    df = records_to_table(result.records, TABLES["pairs"]).to_pandas()
    assert validate_table("pairs", df).success


def _pairs_frame():
    sols = [solution("q0", i) for i in range(4)] + [solution("q1", i) for i in range(4)]
    rates = [rated(s, [5 - s.sample_index, 4]) for s in sols]
    pairs = run_pairs(PairStage(method="ratings"), sols, rates).records
    return pairs, records_to_table(pairs, TABLES["pairs"]).to_pandas()


def test_pair_and_dpo_suites_pass_good_records_and_catch_bad_ones():
    pairs, df = _pairs_frame()
    assert len(pairs) == 2 and validate_table("pairs", df).success
    dpo = records_to_table([to_dpo(p) for p in pairs], TABLES["dpo"]).to_pandas()
    assert validate_table("dpo", dpo).success and list(dpo.columns) == ["prompt", "chosen", "rejected", "seed_id"]
    bad = df.copy()
    bad.at[0, "score_rejected"] = 9.0                                          # rejected scored higher
    bad["chosen_ratings"] = [list(rs) if i != 1 else [dict(rs[0], rating=7)]  # out of 1-5
                             for i, rs in enumerate(bad["chosen_ratings"])]
    r = validate_table("pairs", bad)
    assert not r.success and "chosen_scores_higher" in r.summary and "ratings_in_range" in r.summary
    bad_dpo = dpo.copy()
    bad_dpo["rejected"] = bad_dpo["chosen"]
    assert "same_text" in validate_table("dpo", bad_dpo).summary


def test_ultrafeedback_export_has_every_completion_and_mean_scores():
    sols = [solution("q0", i) for i in range(3)]
    rates = [rated(sols[0], [5, 4, 4, 3], judges=("j1", "j2")), rated(sols[1], [2, 2, 3, 1]),
             rated(sols[2], [1, 1, 1, 1])]
    records = to_ultrafeedback(SEEDS, rates)
    assert len(records) == 1 and records[0].instruction == "Question 0?" and records[0].models == ["m0", "m1", "m0"]
    c0 = records[0].completions[0]
    assert c0.annotations.honesty.Rating == "4" and "[j2]" in c0.annotations.honesty.Rationale
    assert c0.fine_grained_score == 4.0
    table = records_to_table(records, TABLES["ultrafeedback"])
    assert "fine-grained_score" in table.schema.field("completions").type.value_type.names
    df = table.to_pandas()
    assert validate_table("ultrafeedback", df).success
    ratings_df = records_to_table(rates, TABLES["ratings"]).to_pandas()
    assert validate_table("ratings", ratings_df).success
    ratings_df.at[1, "score"] = 4.5  # not the mean of its ratings
    assert "scores_are_means" in validate_table("ratings", ratings_df).summary


@pytest.mark.parametrize("stages,expected", [
    ("  generate: {n: 2}\n  pair: {method: ratings}\n", "stages.pair.method ratings needs stages.judge with mode ratings"),
    ("  generate: {n: 2}\n  judge: {models: [generator]}\n  pair: {method: verified}\n",
     "stages.judge (mode ratings) needs stages.pair with method ratings"),
    ("  generate: {n: 2}\n  judge: {models: [critic], mode: pairwise}\n  pair: {method: pairwise}\n",
     "stages.judge.models names 'critic'"),
    ("  generate: {n: 2}\n  judge: {models: [generator], aspects: [honesty, wit]}\n  pair: {method: ratings}\n",
     "stages.judge.aspects.1"),
    ("  generate: {n: 2}\n  pair: {method: verified, binarise: best_vs_worst}\n", "stages.pair.binarise: unknown field"),
])
def test_preference_recipe_errors_name_the_field(tmp_path, stages, expected):
    path = tmp_path / "r.yaml"
    path.write_text("name: r\nkind: preference\nseeds: {type: procedural, count: 2}\n"
                    "models:\n  generator: {model: embedded:smollm2-135m-instruct}\nstages:\n" + stages)
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert expected in str(err.value)


def test_prompt_seeds_load_and_bad_lines_are_named(tmp_path):
    recipe, _ = load_recipe(REPO / "recipes" / "ultrafeedback-ratings.yaml")
    seeds = load_seeds(recipe.seeds)
    assert len(seeds) == 24 and all(s.problem and s.gold_steps == [] for s in seeds)
    assert sum(bool(s.gold_answer) for s in seeds) >= 10  # reference answers where a question has one
    bad = tmp_path / "p.jsonl"
    bad.write_text(json.dumps({"prompt": "ok"}) + "\n" + json.dumps({"instruction": "no prompt field"}) + "\n")
    spec = recipe.seeds.model_copy(update={"path": bad})
    with pytest.raises(SeedError, match=r"p.jsonl:2: missing field 'prompt'"):
        load_seeds(spec)


def test_a_model_screen_refusal_keeps_a_clean_solution_from_being_chosen():
    seeds = [replace(SEEDS[0], gold_answer="3")]
    sols = [math_solution("q0", 0, GOOD, correct=True), math_solution("q0", 1, "The answer is 2.", correct=False)]
    stage = PairPreferences(PairStage(method="verified"), GenerateStage(prompt="solve_math"), 1)
    result = stage.run(seeds, sols, [], [], screened_out={"q0-s0": "critic c: first_wrong_step_disagrees"})
    assert result.records == [] and dict(result.report.dropped) == {"no_clean_correct_solution": 1}
    assert [(r.stage, r.reason) for r in result.rejects][0] == ("chosen_screen", "unclean_chosen:model_screen")
    assert dict(stage.screen_report.breakdown["flaws"]) == {"tried": 1, "model_screen": 1}


@pytest.mark.parametrize("pair,expected", [
    ("{method: verified, screen: {model: critic}}", "stages.pair.screen.model names 'critic'"),
    ("{method: ratings, screen: {model: generator}}", "stages.pair.screen screens the chosen solutions of verified"),
])
def test_a_chosen_screen_needs_a_known_critic_and_verified_pairs(tmp_path, pair, expected):
    judge = "  judge: {models: [generator]}\n" if "ratings" in pair else ""
    path = tmp_path / "r.yaml"
    path.write_text("name: r\nkind: preference\nseeds: {type: procedural, count: 2}\n"
                    "models:\n  generator: {model: embedded:smollm2-135m-instruct}\nstages:\n  generate: {n: 2}\n"
                    + judge + f"  pair: {pair}\n")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert expected in str(err.value)


def test_the_pairs_suite_refuses_a_chosen_solution_with_a_false_computation():
    seeds = [replace(SEEDS[0], gold_answer="3")]
    sols = [math_solution("q0", 0, GOOD, correct=True), math_solution("q0", 1, "The answer is 2.", correct=False)]
    pairs = run_pairs(PairStage(method="verified"), sols, seeds=seeds, prompt="solve_math").records
    df = records_to_table(pairs, TABLES["pairs"]).to_pandas()
    assert len(pairs) == 1 and validate_table("pairs", df).success
    bad = df.copy()
    bad.at[0, "chosen"] = [{"role": "assistant", "content": "She has 7 / 12 = 0.875 of it, 1 + 2 = 3.\nThe answer is 3."}]
    assert "chosen_work_holds" in validate_table("pairs", bad).summary
    backwards = df.copy()
    backwards.at[0, "rejected_answer"] = "3"
    assert "chosen_work_holds" in validate_table("pairs", backwards).summary
