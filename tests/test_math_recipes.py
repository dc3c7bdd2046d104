"""Each error-injection and critique recipe of recipes/, run small on the embedded model through the
real Prefect flow, vLLM, Great Expectations and DuckDB; then every product is checked against what
the stages claim: labels re-derived, counts against the funnel, exports against their sources,
the staged folder through the `datasets` loader, and the card's citations."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from dataclasses import replace
from typing import Any

import pyarrow.parquet as pq
import yaml

from catalog import Catalog
from schemas import TABLES
from synth.answers import answers_match, extract_answer
from synth.inject.checks import failed_check
from synth.inject.steps import first_change, wrong_calc_steps
from synth.stages.mc_label import monotone_labels
from synth.pipeline import PUBLISH_ORDER
from synth.recipe import ERROR_TYPES
from schemas import ErrorInjection
from tests.conftest import REPO


def shrink(name: str, folder: Path, keep_filter: bool = False, **changes: Any) -> Path:
    """The recipe with fewer seeds, tokens and samples, and the session engine's settings (one vLLM
    engine per test session: models that differ only in sampling share it). Its filter stage is left
    out unless asked for, so counts can be checked stage by stage (tests/test_filters.py builds with
    filters)."""
    recipe = yaml.safe_load((REPO / "recipes" / name).read_text())
    if not keep_filter:
        recipe.get("stages", {}).pop("filter", None)
    seeds = recipe["seeds"]
    if seeds["type"] == "file":
        seeds["path"] = str((REPO / "recipes" / seeds["path"]).resolve())
    for m in recipe.get("models", {}).values():
        m["max_model_len"] = 1024
    for dotted, value in changes.items():
        node = recipe
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    recipe.pop("gates", None)
    path = folder / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def build(prefect_harness, recipe: Path, folder: Path):
    from flows.build import build_dataset

    summary = build_dataset(str(recipe), str(folder / "data"), progress=False)
    tables = {}
    for f in Path(summary.build_dir, "data").iterdir():
        t = pq.read_table(f / "train-00000-of-00001.parquet")
        assert t.schema.equals(TABLES[f.name].schema), f.name
        tables[f.name] = t.to_pylist()
    return summary, tables


def check_common(summary, tables: dict[str, list], kind: str, cited: list[str]) -> None:
    """What every build must satisfy: validated, funnel counts match the files, nothing dropped silently,
    published configs load with `datasets`, the card cites the methods."""
    import datasets

    assert summary.validation_passed, summary.validation_summary
    funnel = {f["stage"]: f for f in summary.funnel}
    assert len(tables["rejects"]) == sum(sum(f["dropped"].values()) for f in summary.funnel)
    assert all(r["reason"] and r["stage"] for r in tables["rejects"])
    filtered = any(f["stage"] == "format" for f in summary.funnel)  # the filter chain ran after the stages
    for stage, table in (("inject", "injections"), ("mc_label", "mc_labels"), ("critique", "critiques")):
        if stage in funnel and "inject_llm" not in funnel:
            if filtered:
                assert funnel[stage]["n_out"] >= len(tables[table]), stage
            else:
                assert funnel[stage]["n_out"] == len(tables[table]), stage
    info = Catalog(Path(summary.catalog)).version_info(summary.dataset, summary.version)
    published = [f["table_name"] for f in info["files"] if f["published"]]
    assert published and set(published) <= set(PUBLISH_ORDER[kind])
    card = (Path(summary.hub_dir) / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["configs"][0]["config_name"] == next(t for t in PUBLISH_ORDER[kind] if t in published)
    # `datasets` caches a local folder under its name alone (every staged `v1.0.0` would share one entry):
    # a cache of this build's own.
    cache = Path(summary.build_dir) / "hf-datasets-cache"
    for cfg in meta["configs"]:
        ds = datasets.load_dataset(str(summary.hub_dir), cfg["config_name"], split="train", cache_dir=str(cache))
        assert len(ds) == len(tables[cfg["config_name"]]) > 0
    for arxiv in cited:
        assert arxiv in card, arxiv
    return card


def check_labelled_exports(tables: dict[str, list], n_labelled: int) -> None:
    pb, ms, prm = tables["processbench"], tables["math_shepherd"], tables["prm_stepwise"]
    assert len(pb) == len(ms) == len(prm) == n_labelled
    for p, m, s in zip(pb, ms, prm):
        n = len(p["steps"])
        assert -1 <= p["label"] < n
        assert s["completions"] == p["steps"] and len(s["labels"]) == n
        # never good again after the first bad step
        assert s["labels"] == [i < p["label"] or p["label"] == -1 for i in range(n)]
        assert m["input"].count(" ки") == n and m["label"].count(" ки") == 0
        tags = [line.rsplit(" ", 1)[1] for line in m["label"].split("\n")]
        assert tags == ["+" if ok else "-" for ok in s["labels"]]


def check_injections(tables: dict[str, list], recompute: bool) -> list[ErrorInjection]:
    records = [ErrorInjection(**r) for r in tables["injections"]]
    assert records
    for r in records:
        assert failed_check(r, recompute=recompute) is None
        assert r.error_type in ERROR_TYPES
        change = first_change(r.original_steps, r.corrupted_steps)
        assert change is not None and change.corrupted == r.first_error_step
        before = r.corrupted_steps[:r.first_error_step]  # unchanged steps, in order (a missing step drops one)
        assert [x for x in r.original_steps if x in before] == before
        assert not answers_match(r.corrupted_answer, r.gold_answer)
        assert answers_match(r.original_answer, r.gold_answer)
        assert r.corrupted_answer == (extract_answer("\n".join(r.corrupted_steps)) or "")
    return records


def test_gsm8k_rule_injection_recipe(prefect_harness, tmp_path):
    # 60: a counting error needs a sum of three or more items (no item is counted twice for no reason)
    recipe = shrink("gsm8k-injected-errors.yaml", tmp_path, **{"seeds.limit": 60})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "error_injection", ["arXiv:2503.17439", "arXiv:2412.06559", "arXiv:2312.08935"])
    records = check_injections(tables, recompute=True)
    assert {r.method for r in records} == {"rule"} and {r.source_id for r in records} == {"gold"}
    assert len({r.error_type for r in records}) == 7  # every type applies somewhere in 60 GSM8K problems
    originals = {(r.seed_id) for r in records}
    check_labelled_exports(tables, len(records) + len(originals))
    pb = tables["processbench"]
    assert sum(p["label"] == -1 for p in pb) == len(originals)
    assert all(p["final_answer_correct"] == (p["label"] == -1) for p in pb)
    inject = next(f for f in summary.funnel if f["stage"] == "inject")
    assert sum(v["kept"] for v in inject["breakdown"].values() if "kept" in v) == len(records)
    assert "| calculation |" in card.split("## Injected errors")[1]  # the keep rate per type is in the card


def test_onpolicy_injection_recipe(built, prefect_harness, tmp_path):
    # The session build's problems, seeds and sampling: its response cache answers the generation.
    _, _, first_data = built
    (tmp_path / "data" / "cache").mkdir(parents=True)
    with sqlite3.connect(first_data / "cache" / "responses.sqlite") as src, \
            sqlite3.connect(tmp_path / "data" / "cache" / "responses.sqlite") as dst:
        src.backup(dst)
    recipe = shrink("onpolicy-injected-errors.yaml", tmp_path, **{
        "random_seed": 11, "seeds": {"type": "procedural", "count": 16, "random_seed": 3, "min_steps": 1, "max_steps": 1},
        "models.generator.sampling": {"temperature": 0.8, "max_tokens": 96}})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    assert summary.usage[0]["cache_hits"] == 16 and summary.usage[0]["backend_requests"] == 0
    check_common(summary, tables, "error_injection", ["arXiv:2503.17439"])
    records = check_injections(tables, recompute=True)
    correct = {s["solution_id"]: s for s in tables["solutions"] if s["is_correct"]}
    for r in records:  # the corrupted solutions are the model's own correct ones
        assert r.source_id in correct and r.original_steps == correct[r.source_id]["steps"]
        assert r.source_model == correct[r.source_id]["model"]


def _record_teacher_answer(recipe: Path, data: Path) -> str:
    """Puts one answer of a capable teacher in the build's response cache, for the first request the
    stage will send: the embedded 135M model almost never writes a usable injection (about 2% pass
    the checks), so without it the kept path would go untested. The answer is what a good teacher
    writes: the solution with one error of the requested type, carried to the end."""
    from fractions import Fraction

    from synth.backends.base import Completion, Sample
    from synth.cache import ResponseCache, request_key
    from synth.engine import model_identity
    from synth.inject.operators import OPERATORS, SourceSolution
    from synth.inject.propagate import propagate
    from synth.recipe import load_recipe
    from synth.seeds import load_seeds
    from synth.stages.inject import injection_sources
    from synth.stages.inject_llm import InjectErrorsLLM

    r, _ = load_recipe(recipe)
    stage = InjectErrorsLLM(r.stages.inject_llm, r.models, r.random_seed)
    jobs = stage.plan(injection_sources(["gold"], load_seeds(r.seeds), []))
    for src, error_type, answer in jobs:
        parsed = SourceSolution.parse(src.seed.problem, src.steps)
        edits = OPERATORS[error_type].candidates(parsed)
        if edits:
            steps = propagate(edits[0], set(parsed.question_values), Fraction(answer))
            break
    spec = r.models[r.stages.inject_llm.model]
    answer_json = json.dumps({"steps": steps, "error_step": edits[0].label + 1, "explanation": edits[0].detail})
    cache = ResponseCache(data / "cache" / "responses.sqlite")
    key = request_key(spec.backend, model_identity(spec), stage.request(src, error_type))
    cache.put_many([(key, model_identity(spec), Completion(
        samples=[Sample(text=answer_json, finish_reason="stop", completion_tokens=len(answer_json) // 4)],
        prompt_tokens=400))])
    cache.close()
    return f"{src.key}-{error_type}-llm"


def test_llm_typed_injection_recipe(prefect_harness, tmp_path):
    recipe = shrink("llm-typed-injection.yaml", tmp_path, **{
        "seeds.limit": 8, "stages.inject_llm.max_per_source": 2, "models.teacher.sampling.max_tokens": 256})
    recorded = _record_teacher_answer(recipe, tmp_path / "data")
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "error_injection", ["arXiv:2503.17439"])
    records = check_injections(tables, recompute=False)
    assert recorded in {r.injection_id for r in records}  # the good teacher answer is kept...
    kept = next(r for r in records if r.injection_id == recorded)
    assert kept.claimed_error_step == kept.first_error_step and kept.method.startswith("llm:embedded:smollm2")
    stage = next(f for f in summary.funnel if f["stage"] == "inject_llm")
    tried = sum(v.get("tried", 0) for v in stage["breakdown"].values())
    assert tried == 16 and stage["n_out"] == len(records)
    # ...and every other attempt, the embedded model's own, is kept or dropped with the check it failed.
    source_drops = ("source_answer_mismatch", "source_cut_off", "source_placeholder_answer", "source_no_stated_answer",
                    "source_goes_on_after_answer", "no_error_injected")  # per source, not per attempt
    assert tried == len(records) + sum(n for k, n in stage["dropped"].items() if k not in source_drops)
    usage = next(u for u in summary.usage if u["stage"] == "inject_llm")
    assert usage["cache_hits"] == 1 and usage["requests"] == 16
    assert "keep rate" in card


def test_automathcritique_recipe(prefect_harness, tmp_path):
    # Short explanations and more samples: the 135M critic agrees with the labels about one time in five.
    recipe = shrink("automathcritique.yaml", tmp_path, **{
        "seeds.limit": 4, "stages.critique.n": 8, "stages.critique.max_explanation_chars": 24,
        "models.critic.sampling.max_tokens": 200})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "critique", ["arXiv:2411.16579", "arXiv:2501.17703", "arXiv:2503.17439"])
    labels = {p["id"]: p for p in tables["processbench"]}
    crit = tables["critiques"]
    assert crit and len(tables["critique_sft"]) == len(crit)
    for c, sft in zip(crit, tables["critique_sft"]):
        truth = labels[c["target_id"]]
        assert c["first_error_step"] == c["true_first_error_step"] == truth["label"]
        assert c["final_answer_correct"] == c["true_final_answer_correct"] == truth["final_answer_correct"]
        assert [v["step"] for v in c["step_verdicts"]] == list(range(len(c["steps"])))
        assert c["hint_given"] and sft["output"] == c["critique"] and "Answer key" not in sft["input"]
        assert all(f"Step {i + 1}: {s}" in sft["input"] for i, s in enumerate(c["steps"]))
    stage = next(f for f in summary.funnel if f["stage"] == "critique")
    asked = sum(v["tried"] for v in stage["breakdown"].values())
    assert asked == 8 * stage["n_in"] == len(crit) + sum(stage["dropped"].values())
    assert "## Critique agreement" in card


def test_math_shepherd_and_deepcritic_recipes(prefect_harness, tmp_path):
    small = {"seeds.limit": 4, "stages.generate.n": 2, "stages.mc_label.rollouts": 2, "stages.mc_label.max_steps": 6,
             "models.generator.sampling.max_tokens": 64}
    summary, tables = build(prefect_harness, shrink("math-shepherd-mc.yaml", tmp_path, **small), tmp_path)
    check_common(summary, tables, "critique", ["arXiv:2312.08935"])
    solutions = {s["solution_id"]: s for s in tables["solutions"]}
    mc = tables["mc_labels"]
    assert mc and {m["solution_id"] for m in mc} <= set(solutions)
    for m in mc:
        s = solutions[m["solution_id"]]
        assert m["steps"] == s["steps"] and len(m["hard_labels"]) == len(m["steps"]) <= 6
        assert s["is_correct"] == m["final_answer_correct"] and (s["is_correct"] or not m["hard_labels"][-1])
        # One rule: good while every step so far reached the answer and wrote no false computation.
        assert m["hard_labels"] == monotone_labels([c > 0 for c in m["correct_rollouts"]], wrong_calc_steps(m["steps"]))
        assert all(0 < k <= 2 for k in m["scored_rollouts"])
        assert m["soft_labels"] == [c / k for c, k in zip(m["correct_rollouts"], m["scored_rollouts"])]
    check_labelled_exports(tables, len(mc))
    mc_stage = next(f for f in summary.funnel if f["stage"] == "mc_label")
    assert mc_stage["n_in"] == len(solutions) == len(mc) + sum(mc_stage["dropped"].values())
    mc_usage = next(u for u in summary.usage if u["stage"] == "mc_label")
    if not mc_stage["dropped"].get("unscored_step"):  # one rollout request per step but the last
        assert mc_usage["requests"] == sum(len(m["steps"]) - 1 for m in mc)

    # DeepCritic-style: the same generation and rollouts (from the response cache), then critiques
    # judged against the Monte Carlo labels.
    data = tmp_path / "data"
    summary2, tables2 = build(prefect_harness, shrink("deepcritic-mc-critique.yaml", tmp_path, **small, **{
        "random_seed": 11, "stages.critique.n": 8, "stages.critique.max_explanation_chars": 24,
        "models.critic.sampling.max_tokens": 200}), tmp_path)
    assert Path(summary2.catalog) == data / "catalog.duckdb"
    usage = {u["stage"]: u for u in summary2.usage}
    assert usage["generate"]["backend_requests"] == 0 and usage["mc_label"]["backend_requests"] == 0
    check_common(summary2, tables2, "critique", ["arXiv:2505.00662", "arXiv:2312.08935"])
    truth = {m["solution_id"]: m for m in tables2["mc_labels"]}
    for c in tables2["critiques"]:
        assert c["label_source"] == "monte_carlo"
        assert c["first_error_step"] == truth[c["target_id"]]["first_error_step"]
        assert c["final_answer_correct"] == truth[c["target_id"]]["final_answer_correct"]
        assert not c["hint_given"]


def test_step_labels_never_turn_back_to_correct():
    """Monte Carlo hard labels follow the injected labels' (and TRL's) rule: every step from the first
    wrong one on is wrong; a step writing a false computation is wrong whatever its rollouts reach."""
    assert monotone_labels([True, False, True, True], []) == [True, False, False, False]
    assert monotone_labels([True, True, True], [1]) == [True, False, False]
    assert monotone_labels([True, True], []) == [True, True]


def _mc_record(**changes: Any) -> dict:
    record = dict(solution_id="s", seed_id="q", problem="p", model="m", completer="m",
                  steps=["2 + 2 = 4", "4 * 3 = 12", "The answer is 12."], rollouts=4, correct_rollouts=[3, 0, 4],
                  scored_rollouts=[4, 2, 4], soft_labels=[0.75, 0.0, 1.0], hard_labels=[True, False, False],
                  first_error_step=1, final_answer_correct=True, gold_answer="12")
    return {**record, **changes}


def test_mc_suite_holds_labels_to_the_one_rule():
    import pandas as pd

    from synth.pipeline import validate_table

    good = pd.DataFrame([_mc_record()])
    assert validate_table("mc_labels", good).success
    for bad in (_mc_record(hard_labels=[True, False, True]),                   # correct again after a wrong step
                _mc_record(soft_labels=[0.75, 0.0, 1.0], scored_rollouts=[4, 4, 4], correct_rollouts=[3, 0, 3]),
                _mc_record(scored_rollouts=[4, 0, 4], correct_rollouts=[3, 0, 4]),  # a step with none scored
                _mc_record(steps=["2 + 2 = 5", "4 * 3 = 12", "The answer is 12."], correct_rollouts=[3, 1, 4],
                           soft_labels=[0.75, 0.5, 1.0], hard_labels=[True, True, True], first_error_step=-1)):
        assert "labels_consistent" in validate_table("mc_labels", pd.DataFrame([bad])).summary


def test_a_recipe_whose_labels_cannot_be_checked_is_refused(tmp_path):
    import pytest

    from synth.errors import RecipeError
    from synth.recipe import load_recipe

    recipe = yaml.safe_load((REPO / "recipes" / "math-shepherd-mc.yaml").read_text())
    recipe["stages"]["generate"]["prompt"] = "respond"
    if recipe["seeds"].get("path"):
        recipe["seeds"]["path"] = str((REPO / "recipes" / recipe["seeds"]["path"]).resolve())
    path = tmp_path / "mc-respond.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match=r"stages.mc_label .*needs a final answer to check.*respond"):
        load_recipe(path)


def test_a_revealed_hint_states_what_the_labels_say():
    from schemas import LabelledSolution
    from synth.stages.critique import known_error_hint

    mc = LabelledSolution(label_id="s", seed_id="q", problem="p", steps=["a", "b", "c"], first_error_step=1,
                          final_answer_correct=True, step_labels=[True, False, False], label_source="monte_carlo",
                          generator="m", gold_answer="12")
    assert "step 2 is the first wrong step" in known_error_hint(mc)
    assert known_error_hint(mc).endswith("The final answer is correct.")
    assert known_error_hint(replace(mc, final_answer_correct=False)).endswith("The final answer is wrong.")
