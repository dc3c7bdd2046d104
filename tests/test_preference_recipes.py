"""Each preference recipe of recipes/, run small on the embedded model through the real Prefect flow,
vLLM (in-process and behind its OpenAI-compatible server), Great Expectations and DuckDB; then
the records are checked against their schemas and their counts against the funnel."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from math import comb
from statistics import mean

from schemas import Solution
from synth.process import process_flaws
from synth.stages.pair import rejectable
from tests.servers import SERVED_NAME
from tests.conftest import SHARED
from tests.test_math_recipes import build, check_common, shrink

SHARED_HUMANEVAL = SHARED / "data" / "humaneval" / "HumanEval.jsonl.gz"


def funnel_of(summary) -> dict[str, dict]:
    funnel = {f["stage"]: f for f in summary.funnel}
    for f in funnel.values():
        if f["stage"] not in ("generate", "pair"):  # these make several records of one input; the rest keep or drop it
            assert f["n_in"] - sum(f["dropped"].values()) == f["n_out"], f["stage"]
    return funnel


FILTER_BLOCKS = ("format", "length", "exact_dedup", "near_dedup", "decontaminate")


def check_pairs_against_sources(tables: dict[str, list], funnel: dict) -> list[dict]:
    """Pairs and their TRL export against the solutions they came from, and their count against the
    pair stage and the filters after it."""
    pairs, dpo = tables["pairs"], tables["dpo"]
    solutions = {s["solution_id"]: s for s in tables["solutions"]}
    filtered = sum(sum(funnel[b]["dropped"].values()) for b in FILTER_BLOCKS if b in funnel)
    assert len(pairs) == len(dpo) == funnel["pair"]["n_out"] - filtered > 0
    if "format" in funnel:
        assert funnel["format"]["n_in"] == funnel["pair"]["n_out"]
    problems = funnel["pair"]["n_in"] - sum(funnel["pair"]["dropped"].values())
    assert problems >= len({p["seed_id"] for p in pairs}) and (filtered or problems == len({p["seed_id"] for p in pairs}))
    for p, d in zip(pairs, dpo):
        chosen, rejected = solutions[p["chosen_solution_id"]], solutions[p["rejected_solution_id"]]
        assert chosen["seed_id"] == rejected["seed_id"] == p["seed_id"] and chosen != rejected
        assert p["chosen"] == [{"role": "assistant", "content": chosen["text"]}]
        assert p["rejected"] == [{"role": "assistant", "content": rejected["text"]}]
        assert (p["chosen_model"], p["rejected_model"]) == (chosen["model"], rejected["model"])
        assert (p["chosen_length"], p["rejected_length"]) == (len(chosen["text"]), len(rejected["text"]))
        assert d == {"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"], "seed_id": p["seed_id"]}
        assert d["prompt"][-1]["role"] == "user"
    assert sum(funnel["pair"]["breakdown"]["length"].values()) == funnel["pair"]["n_out"]
    return pairs


def test_ultrafeedback_ratings_recipe(prefect_harness, vllm_server, tmp_path):
    """Four completions per instruction, one of them from the OpenAI-compatible server, each rated
    alone by the judge on two aspects; binarized by mean rating, best against a random lower one."""
    server = {"backend": "openai", "base_url": vllm_server.base_url, "model": SERVED_NAME, "max_in_flight": 8,
              "sampling": {"temperature": 1.0, "max_tokens": 64}}
    recipe = shrink("ultrafeedback-ratings.yaml", tmp_path, **{
        "seeds.limit": 4, "models.wild": server,
        "models.precise.sampling.max_tokens": 64, "models.balanced.sampling.max_tokens": 64,
        "models.creative.sampling.max_tokens": 64, "models.judge.sampling.max_tokens": 96,
        "stages.judge.aspects": ["instruction_following", "helpfulness"], "stages.judge.max_rationale_chars": 100,
        "stages.pair.min_margin": 0.0})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "preference", ["arXiv:2310.01377", "arXiv:2310.16944", "arXiv:2305.18290"])
    funnel = funnel_of(summary)

    solutions = tables["solutions"]
    assert {s["model"] for s in solutions} >= {f"{SERVED_NAME}@unpinned"}  # a completion from the server
    # free-form responses are not answer-checked, even where the instruction has a reference answer
    assert len({s["model"] for s in solutions}) == 2 and {s["answer_status"] for s in solutions} == {"unverified"}
    assert Counter(s["seed_id"] for s in solutions).most_common(1)[0][1] <= 4

    # judge: every completion in, a rated completion out for each one whose judgments all parsed
    ratings = tables["ratings"]
    assert funnel["judge"]["n_in"] == len(solutions) and funnel["judge"]["n_out"] == len(ratings) > 0
    judge_usage = next(u for u in summary.usage if u["stage"] == "judge")
    assert judge_usage["requests"] == 2 * len(solutions)
    for r in ratings:
        assert sorted(x["aspect"] for x in r["ratings"]) == ["helpfulness", "instruction_following"]
        assert all(1 <= x["rating"] <= 5 and x["rationale"] for x in r["ratings"])
        assert r["score"] == mean(x["rating"] for x in r["ratings"])
    unparsable = [x for x in tables["rejects"] if x["stage"] == "judge"]
    assert all(x["reason"] == "unparsable_judgment" and x["detail"] for x in unparsable)

    # UltraFeedback export: every rated completion, under its instruction
    uf = tables["ultrafeedback"]
    assert sum(len(u["completions"]) for u in uf) == len(ratings)
    seed_of = {s["problem"]: s["seed_id"] for s in tables["seeds"]}
    rated_by_seed = defaultdict(list)
    for r in ratings:
        rated_by_seed[r["seed_id"]].append(r)
    assert len(uf) == len(rated_by_seed)
    for u in uf:
        group = rated_by_seed[seed_of[u["instruction"]]]
        assert u["models"] == [r["model"] for r in group] and len(u["completions"]) == len(group)
        for c, r in zip(u["completions"], group):
            assert c["response"] == r["text"] and c["fine-grained_score"] == r["score"]
            assert c["annotations"]["honesty"] is None  # not rated in this recipe
            assert int(c["annotations"]["helpfulness"]["Rating"]) == next(
                x["rating"] for x in r["ratings"] if x["aspect"] == "helpfulness")

    # binarization: chosen is the prompt's best-rated completion, alone at the top; rejected scores lower
    pairs = check_pairs_against_sources(tables, funnel)
    best = defaultdict(list)
    for r in ratings:
        best[r["seed_id"]].append(r["score"])
    for p in pairs:
        scores = best[p["seed_id"]]
        assert p["method"] == "ratings" and p["score_chosen"] == max(scores) and scores.count(max(scores)) == 1
        assert p["score_rejected"] < p["score_chosen"] and p["chosen_ratings"] and p["rejected_ratings"]
    ties = sum(1 for s in best.values() if len(s) >= 2 and sorted(s)[-1] == sorted(s)[-2])
    assert funnel["pair"]["dropped"].get("tied_best", 0) == ties

    longer = sum(p["chosen_length"] > p["rejected_length"] for p in pairs)
    assert f"chosen is the longer response in {longer} of {len(pairs)} pairs" in card
    assert "| judge | judgments asked | unparsable |" in card


def test_pairwise_recipe_judges_both_orders(prefect_harness, tmp_path):
    """Every compared pair is asked in both orders; only order-independent verdicts make pairs, and the
    flips are counted per judge and shown in the card."""
    recipe = shrink("pairwise-judged.yaml", tmp_path, **{
        "seeds.limit": 3, "stages.generate.n": 3, "stages.judge.max_pairs_per_prompt": 2,
        "models.generator.sampling.max_tokens": 256, "models.judge.sampling.max_tokens": 96,
        "stages.judge.max_rationale_chars": 100})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "preference", ["arXiv:2306.05685", "arXiv:2305.18290"])
    funnel = funnel_of(summary)
    judge = funnel["judge"]

    per_seed = Counter(s["seed_id"] for s in tables["solutions"])
    assert judge["n_in"] == sum(min(comb(k, 2), 2) for k in per_seed.values())
    usage = next(u for u in summary.usage if u["stage"] == "judge")
    judged = judge["n_in"] - judge["dropped"].get("identical_responses", 0)
    assert usage["requests"] == 2 * judged  # both orders

    outcomes = judge["breakdown"]["judge"]
    assert outcomes["tried"] == judged
    assert outcomes.get("consistent", 0) + outcomes.get("position_flip", 0) + outcomes.get("unparsable_output", 0) \
        == judged
    assert judge["dropped"].get("position_flip", 0) == outcomes.get("position_flip", 0)
    assert set(judge["dropped"]) <= {"position_flip", "unparsable_judgment", "identical_responses"}
    for r in (x for x in tables["rejects"] if x["reason"] == "position_flip"):
        vs = json.loads(r["payload"])["verdicts"]
        assert len(vs) == 2 and vs[0]["winner_position"] == vs[1]["winner_position"]
        assert vs[0]["winner_id"] != vs[1]["winner_id"]

    comparisons = tables["comparisons"]
    assert len(comparisons) == judge["n_out"] == outcomes.get("consistent", 0)
    for c in comparisons:
        orders = sorted((v["first_id"], v["second_id"]) for v in c["verdicts"])
        assert orders == sorted([(c["a_id"], c["b_id"]), (c["b_id"], c["a_id"])])
        assert {v["winner_id"] for v in c["verdicts"]} == {c["winner_id"]}
        assert {v["winner_position"] for v in c["verdicts"]} == {"A", "B"}  # same response, both positions

    pairs = check_pairs_against_sources(tables, funnel)
    won = {(c["winner_id"], c["loser_id"]) for c in comparisons}
    for p in pairs:
        assert p["method"] == "pairwise" and (p["chosen_solution_id"], p["rejected_solution_id"]) in won
        assert len(p["verdicts"]) == 2 and p["score_chosen"] is None

    flips = outcomes.get("position_flip", 0)
    rate = 100 * flips / (flips + outcomes.get("consistent", 0))
    assert f"| judge | {judged} | {outcomes.get('unparsable_output', 0)} | {outcomes.get('consistent', 0)} " \
           f"| {flips} | {rate:.1f}% |" in card


def test_verified_pairs_recipe(prefect_harness, tmp_path):
    """The recipe's stages on one-line problems in GSM8K's format (the small model solves almost no real
    GSM8K problem, so real ones would give no pairs to check), eight solutions each at two
    temperatures: pairs only where the answers check out both ways and chosen's work is clean (ten
    problems, as the small model writes few clean correct solutions)."""
    easy = tmp_path / "easy.jsonl"
    problems = [("Tom has 7 apples and buys 5 more. How many apples does he have?", "7+5=12", 12),
                ("A box holds 6 pens. How many pens are in 3 boxes?", "6*3=18", 18),
                ("Mia had 20 stickers and gave away 8. How many are left?", "20-8=12", 12),
                ("There are 15 birds and 9 fly away. How many birds remain?", "15-9=6", 6),
                ("Sam reads 4 pages a day for 5 days. How many pages does he read?", "4*5=20", 20),
                ("A class has 12 girls and 14 boys. How many children are in the class?", "12+14=26", 26),
                ("Ava has 9 pencils and loses 5. How many pencils does she have now?", "9-5=4", 4),
                ("Omar has 48 stickers and buys 19 more. How many stickers does he have now?", "48+19=67", 67),
                ("Ava has 40 cards and is given 2 more. How many cards does Ava have now?", "40+2=42", 42),
                ("Liam has 10 books and buys 10 more. How many books does Liam have now?", "10+10=20", 20)]
    easy.write_text("".join(json.dumps({"question": q, "answer": f"{calc.split('=')[0]} = <<{calc}>>{a}\n#### {a}"}) + "\n"
                            for q, calc, a in problems))
    recipe = shrink("gsm8k-verified-pairs.yaml", tmp_path, **{
        "seeds.path": str(easy), "seeds.limit": 10,
        "models.low_temp.sampling.max_tokens": 128, "models.high_temp.sampling.max_tokens": 128})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    check_common(summary, tables, "preference", ["arXiv:2404.19733", "arXiv:2110.14168", "arXiv:2305.18290"])
    funnel = funnel_of(summary)
    solutions = {s["solution_id"]: s for s in tables["solutions"]}
    # Chosen: a correct answer and clean work (synth/process.py); rejected: a stated wrong answer.
    clean = {i for i, s in solutions.items()
             if s["is_correct"] and not process_flaws(s["text"], s["finish_reason"], "solve_math")}
    assert funnel["chosen_screen"]["n_in"] == sum(s["is_correct"] for s in solutions.values())
    assert funnel["chosen_screen"]["n_out"] == len(clean)
    wrong = {i for i, s in solutions.items()
             if rejectable(Solution(**{k: s[k] for k in Solution.__dataclass_fields__ if k in s}))}
    seeds = {s["seed_id"] for s in solutions.values()}
    assert funnel["pair"]["n_out"] == sum(
        min(2, sum(solutions[i]["seed_id"] == seed for i in clean) * sum(solutions[i]["seed_id"] == seed for i in wrong))
        for seed in seeds)
    for p in check_pairs_against_sources(tables, funnel):
        assert p["chosen_solution_id"] in clean and p["rejected_solution_id"] in wrong
        assert p["method"] == "verified" and p["gold_answer"] and p["chosen_answer"]


def test_humaneval_verified_pairs_recipe(prefect_harness, tmp_path):
    """Code: completions run against the problems' tests in the sandbox; a passing program is chosen
    against a failing one. Six of HumanEval's shortest functions, so the small model passes some."""
    import gzip

    easy_ids = {"HumanEval/2", "HumanEval/23", "HumanEval/28", "HumanEval/34", "HumanEval/45", "HumanEval/53"}
    rows = [json.loads(line) for line in gzip.open(SHARED_HUMANEVAL, "rt")]
    easy = tmp_path / "easy.jsonl"
    easy.write_text("".join(json.dumps(r) + "\n" for r in rows if r["task_id"] in easy_ids))
    recipe = shrink("humaneval-verified-pairs.yaml", tmp_path, **{
        "seeds.path": str(easy), "seeds.limit": 6,
        "models.low_temp.sampling.max_tokens": 160, "models.high_temp.sampling.max_tokens": 160})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "preference", ["arXiv:2107.03374", "arXiv:2404.19733", "arXiv:2305.18290"])
    funnel = funnel_of(summary)
    solutions = {s["solution_id"]: s for s in tables["solutions"]}
    assert len(solutions) == 6 * 8
    failed = Counter(s["error_type"] for s in solutions.values() if s["error_type"])
    assert funnel["verify"]["breakdown"]["tests failed with"] == dict(failed)
    assert all(s["error_type"] and s["error_detail"] for s in solutions.values() if not s["is_correct"])
    for p in check_pairs_against_sources(tables, funnel):
        chosen, rejected = solutions[p["chosen_solution_id"]], solutions[p["rejected_solution_id"]]
        assert chosen["is_correct"] and not rejected["is_correct"] and p["method"] == "verified"
        assert p["chosen_answer"] == chosen["extracted_answer"] and "def " in p["chosen_answer"]
    assert "code" in card.split("---\n")[1]  # tagged as a code dataset


def test_a_critic_screens_the_chosen_solutions_of_verified_pairs():
    """`stages.pair.screen`: the embedded model as critic judges the one candidate that passed the rule
    checks (the one with a false computation is never sent); whatever it says, the solution is either
    choosable or refused with the critic's reason, and the pair follows from that."""
    from schemas import SeedProblem, Solution
    from synth.recipe import ChosenScreen, GenerateStage, PairStage, Sampling, VLLMModel
    from synth.stages.pair import PairPreferences, ScreenChosen

    def sol(i: int, text: str, correct: bool) -> Solution:
        return Solution(solution_id=f"q-s{i}", seed_id="q", problem="Tom has 7 apples and buys 5 more. How many?",
                        model="m", sample_index=i, text=text, steps=text.splitlines(),
                        extracted_answer="12" if correct else "11", gold_answer="12",
                        answer_status="correct" if correct else "incorrect", is_correct=correct,
                        finish_reason="stop", prompt_tokens=5, completion_tokens=5)

    sols = [sol(0, "Tom has 7 + 5 = 12 apples.\nThe answer is 12.", True),
            sol(1, "Half is 7 / 2 = 3.4, so 7 + 5 = 12.\nThe answer is 12.", True),
            sol(2, "Tom has 7 + 4 = 11 apples.\nThe answer is 11.", False)]
    pair = PairStage(method="verified", screen=ChosenScreen(model="critic", max_explanation_chars=24))
    models = {"critic": VLLMModel(max_model_len=1024, sampling=Sampling(temperature=0.0, max_tokens=200))}
    screened, usage, refused = ScreenChosen(pair, GenerateStage(), models, 1, progress=False).run(sols)
    assert screened.report.n_in == 1 and len(usage) == 1
    assert set(screened.records) | set(refused) == {"q-s0"} and not set(screened.records) & set(refused)
    assert all(why.startswith("critic critic: ") for why in refused.values())
    seed = SeedProblem(seed_id="q", source="test", problem=sols[0].problem, gold_steps=[], gold_answer="12")
    pairing = PairPreferences(pair, GenerateStage(), 1)
    result = pairing.run([seed], sols, [], [], screened_out=refused)
    reasons = {r.record_id: r.reason for r in result.rejects if r.stage == "chosen_screen"}
    assert reasons["q-s1"] == "unclean_chosen:false_computation"
    if refused:
        assert result.records == [] and reasons["q-s0"] == "unclean_chosen:model_screen"
    else:
        assert [(p.chosen_solution_id, p.rejected_solution_id) for p in result.records] == [("q-s0", "q-s2")]
