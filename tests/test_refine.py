"""The `refinement` kind, run small on the embedded model through the real flow: critiques judged by
whether a refiner given them fixes an incorrect solution or breaks a correct one, with the
no-critique baseline. The 135M model almost never writes a critique that agrees with the labels or a
revision that fixes anything, so a capable critic and refiner are replayed from the response cache
for one solution (as the other recipe tests do); every other request is the embedded model's own.
Every outcome is re-derived here from the revision and the problem's gold answer or tests."""

from __future__ import annotations

import json
from pathlib import Path

from synth.answers import answers_match, read_answer
from synth.backends.base import Completion, Sample
from synth.cache import ResponseCache, request_key
from synth.code import checking_program, extract_code
from synth.engine import model_identity
from synth.recipe import load_recipe
from synth.sandbox import Limits, run_program
from synth.seeds import load_seeds
from synth.stages.refine import RefineSolutions, outcome_of, refine_jobs
from tests.test_math_recipes import build, check_common, shrink

PAPERS = ["arXiv:2501.14492", "arXiv:2502.03492"]  # RealCritic, CTRL


def _replay(data: Path, spec, request, texts: list[str]) -> None:
    cache = ResponseCache(data / "cache" / "responses.sqlite")
    cache.put_many([(request_key(spec.backend, model_identity(spec), request), model_identity(spec), Completion(
        samples=[Sample(text=t, finish_reason="stop", completion_tokens=max(1, len(t) // 4)) for t in texts],
        prompt_tokens=300))])
    cache.close()


def _refiner_replies(r, data: Path, critiques: list, code_critiques: list, replies: list[str]) -> list[str]:
    """The capable refiner's reply to each of these critiques (in order); returns the refinement ids."""
    stage = RefineSolutions(r.stages.refine, r.models, r.random_seed, r.stages.verify)
    jobs = refine_jobs(critiques, code_critiques, baseline=False)
    for job, text in zip(jobs, replies):
        _replay(data, r.models[r.stages.refine.model], stage.request(job), [text])
    return [j.refinement_id for j in jobs]


def _check_refinements(summary, tables) -> dict:
    """What holds for any refinement build: one revision per kept critique plus one baseline per
    critiqued solution; counts against the funnel; the releases made from the rows they claim."""
    rows = {r["refinement_id"]: r for r in tables["refinements"]}
    stage = next(f for f in summary.funnel if f["stage"] == "refine")
    kept = [c for name in ("critiques", "code_critiques") for c in tables.get(name, [])]
    targets = {c["target_id"] for c in kept}
    assert stage["n_in"] == len(kept) + len(targets) == len(rows) + sum(stage["dropped"].values())
    assert {r["target_id"] for r in rows.values() if r["critique_id"] is None} <= targets
    for r in rows.values():
        assert (r["outcome"], r["utility"]) == outcome_of(r["solution_correct"], r["revision_correct"])
        assert not (r["finish_reason"] == "length" and r["revision_correct"])  # a cut-off revision never counts
        assert (r["critique_id"] is None) == (r["critique"] == "") == r["refinement_id"].endswith("-baseline")
    fixed_or_kept = [r for r in rows.values() if r["critique_id"] and r["revision_correct"]]
    assert len(tables["refine_sft"]) == len(fixed_or_kept)
    for sft, r in zip(tables["refine_sft"], fixed_or_kept):
        assert sft["output"].startswith(r["critique"]) and sft["output"].endswith(r["revision"])
    for p in tables["critique_pairs"]:
        assert p["chosen"][0]["content"] != p["rejected"][0]["content"]
    usage = next(u for u in summary.usage if u["stage"] == "refine")
    assert usage["requests"] == stage["n_in"]
    return rows


def _card_rates(card: str, rows: dict) -> None:
    """The card's fix and break rates are the rows' own, with the critique and without."""
    assert "## Critique utility: revisions checked" in card
    for group, with_critique in (("with critique", True), ("without critique (baseline)", False)):
        sub = [r for r in rows.values() if (r["critique_id"] is not None) == with_critique]
        wrong = [r for r in sub if not r["solution_correct"]]
        if wrong:
            rate = 100 * sum(r["outcome"] == "fixed" for r in wrong) / len(wrong)
            assert f"| {group} | {len(wrong)} | " in card and f"| {rate:.1f}% |" in card, group


def test_a_revision_cut_off_is_never_a_fix_nor_kept_correct(tmp_path):
    """Blind read (refinement data, item 7): `The answer is 121.`, then `This answer is incorrect...`
    cut off at max_tokens, was labelled kept_correct. A revision that did not finish has no answer.
    The replies are in the response cache, so no backend is started."""
    from schemas import SeedProblem
    from synth.recipe import OpenAIModel, VerifyStage
    from synth.stages.refine import Job, RefineStage

    seed = SeedProblem("s", "test", "Ann has 100 + 21 apples. How many?", ["100 + 21 = 121", "The answer is 121."], "121")
    spec = OpenAIModel(backend="openai", model="refiner", base_url="http://127.0.0.1:9/v1")
    stage = RefineSolutions(RefineStage(model="r"), {"r": spec}, 1, VerifyStage())
    jobs = [Job("c1-refined", "s", "t1", seed.problem, "Step 1: 100 + 21 = 121", True, False, "c1", "All correct.", "m"),
            Job("c2-refined", "s", "t2", seed.problem, "Step 1: 100 + 21 = 120", False, False, "c2", "Step 1 is wrong.", "m")]
    replies = [("Step 1: 100 + 21 = 121\nThe answer is 121.\nThis answer is incorrect because", "length"),
               ("Step 1: 100 + 21 = 121\nThe answer is 121.", "stop")]
    cache = ResponseCache(tmp_path / "responses.sqlite")
    cache.put_many([(request_key(spec.backend, model_identity(spec), stage.request(j)), model_identity(spec),
                     Completion(samples=[Sample(text=t, finish_reason=f, completion_tokens=30)], prompt_tokens=90))
                    for j, (t, f) in zip(jobs, replies)])
    stage.cache = cache
    result, _ = stage.run(jobs, [seed])
    cache.close()
    cut, whole = result.records
    assert (cut.revision_status, cut.revision_answer, cut.revision_correct, cut.outcome) == ("no_answer", None, False, "broke")
    assert (whole.revision_answer, whole.revision_correct, whole.outcome) == ("121", True, "fixed")


def test_math_refinement_recipe(prefect_harness, tmp_path):
    from synth import labels
    from synth.stages.critique import CritiqueSteps
    from synth.stages.inject import InjectErrors

    recipe = shrink("refinement-math.yaml", tmp_path, **{
        "seeds.limit": 3, "stages.critique.n": 2, "stages.critique.max_explanation_chars": 24,
        "models.critic.sampling.max_tokens": 200, "models.refiner.sampling.max_tokens": 160})
    data = tmp_path / "data"
    r, _ = load_recipe(recipe)
    seeds = load_seeds(r.seeds)
    injections = InjectErrors(r.stages.inject, r.random_seed).run(seeds, []).records
    target = next(s for s in labels.from_injections(injections, True) if s.label_source == "injected")
    injection = next(i for i in injections if i.injection_id == target.label_id)
    # A capable critic: two different critiques of the first corrupted solution, both right.
    critic = CritiqueSteps(r.stages.critique, r.models, r.random_seed)
    k = target.first_error_step
    verdicts = [[{"explanation": ("Holds." if i < k else why), "correct": i < k} for i in range(len(target.steps))]
                for why in ("Wrong value used.", "This step is off.")]
    answers = [json.dumps({"steps": v, "final_answer_correct": False}) for v in verdicts]
    _replay(data, r.models[r.stages.critique.model], critic._request(target), answers)
    ident = model_identity(r.models[r.stages.critique.model])
    crit = [critic._record(f"{target.label_id}-c{j}", target, j, json.loads(a), ident) for j, a in enumerate(answers)]
    # A capable refiner: given the first critique, the gold solution; given the second, the solution unchanged.
    fixed_id, unfixed_id = _refiner_replies(r, data, crit, [], ["\n".join(injection.original_steps),
                                                                "\n".join(injection.corrupted_steps)])

    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "refinement", PAPERS)
    rows = _check_refinements(summary, tables)
    assert rows[fixed_id]["outcome"] == "fixed" and rows[unfixed_id]["outcome"] == "still_incorrect"
    assert f"{target.label_id}-baseline" in rows
    gold = {s.seed_id: s.gold_answer for s in seeds}
    truth = {c["critique_id"]: c["true_final_answer_correct"] for c in tables["critiques"]}
    for row in rows.values():  # every label re-derived: the revision's stated answer against gold
        if row["critique_id"]:
            assert row["solution_correct"] == truth[row["critique_id"]]
        reading = read_answer(row["revision"], finished=row["finish_reason"] != "length")
        right = reading.status in ("stated", "last_number") and answers_match(reading.answer, gold[row["seed_id"]])
        assert row["revision_correct"] == right, row["refinement_id"]
    pair = next(p for p in tables["critique_pairs"] if p["chosen"][0]["content"] == crit[0].critique)
    assert pair["rejected"][0]["content"] == crit[1].critique
    usage = next(u for u in summary.usage if u["stage"] == "refine")
    assert usage["cache_hits"] == 2
    _card_rates(card, rows)


def test_code_refinement_recipe(prefect_harness, tmp_path):
    from schemas import CodeCritique
    from synth.stages.code_critique import CritiqueCode, code_targets
    from synth.stages.code_inject import InjectCodeErrors

    recipe = shrink("refinement-code.yaml", tmp_path, **{
        "seeds.limit": 2, "stages.code_inject.max_per_source": 1, "models.critic.sampling.max_tokens": 96,
        "models.refiner.sampling.max_tokens": 160})
    data = tmp_path / "data"
    r, _ = load_recipe(recipe)
    seeds = load_seeds(r.seeds)
    injections = InjectCodeErrors(r.stages.code_inject, r.random_seed).run(seeds, []).records
    target = code_targets(["injected"], injections, [], seeds)[0]
    bug = next(i for i in injections if i.injection_id == target.target_id)
    texts = [f"Line {bug.changed_start} is wrong: {bug.detail}.\n\\conclusion{{F}}",
             "The function does not do what the problem asks.\n\\conclusion{F}"]
    critic = CritiqueCode(r.stages.code_critique, r.models, r.random_seed)
    _replay(data, r.models[r.stages.code_critique.model], critic.request(target), texts)
    ident = model_identity(r.models[r.stages.code_critique.model])
    crit = [CodeCritique(critique_id=f"{target.target_id}-c{j}", target_id=target.target_id, seed_id=target.seed_id,
                         problem=target.problem, code=target.code, label_source="injected",
                         error_type=target.error_type, passes_tests=False, critic_model=ident, sample_index=j,
                         critique=t, verdict=False) for j, t in enumerate(texts)]
    fixed_id, unfixed_id = _refiner_replies(r, data, [], crit, [f"```python\n{bug.original_code}```",
                                                                f"```python\n{bug.corrupted_code}```"])

    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "refinement", PAPERS)
    rows = _check_refinements(summary, tables)
    assert rows[fixed_id]["outcome"] == "fixed" and rows[unfixed_id]["outcome"] == "still_incorrect"
    by_seed = {s.seed_id: s for s in seeds}
    limits = Limits(timeout_s=10, memory_mb=512, cpu_seconds=10)
    for row in rows.values():  # every label re-derived: the revision's program against the tests
        seed = by_seed[row["seed_id"]]
        code = extract_code(row["revision"], header=seed.problem)
        passed = code is not None and run_program(checking_program(seed, code), limits).passed
        assert row["revision_correct"] == passed, row["refinement_id"]
    pair = next(p for p in tables["critique_pairs"] if p["chosen"][0]["content"] == texts[0])
    assert pair["rejected"][0]["content"] == texts[1]
    _card_rates(card, rows)
