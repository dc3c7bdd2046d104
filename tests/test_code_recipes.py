"""Code error and critique datasets with execution-verified labels: the typed bug operators on real
HumanEval solutions, and the two code recipes through the flow (the injection one needs no model;
the critique one runs the embedded critic, with one capable critic's answer replayed from the
response cache so the kept path runs)."""

from __future__ import annotations

import random
from collections import Counter

from schemas import CodeInjection
from synth.code import checking_program
from synth.inject.code_ops import CODE_ERROR_TYPES, changed_lines, mutate, normalize
from synth.recipe import FileSeeds
from synth.sandbox import Limits, run_program
from synth.seeds import load_seeds
from tests.conftest import SHARED
from tests.test_math_recipes import build, check_common, shrink

HUMANEVAL = SHARED / "data" / "humaneval" / "HumanEval.jsonl.gz"


def test_every_bug_type_applies_and_changes_one_place():
    seeds = load_seeds(FileSeeds(type="file", path=HUMANEVAL, format="humaneval", limit=40))
    applied: Counter = Counter()
    for s in seeds:
        code = normalize(s.gold_steps[0])
        for t in CODE_ERROR_TYPES:
            m = mutate(code, s.entry_point, t, random.Random(f"{s.seed_id}:{t}"))
            if m is None:
                continue
            applied[t] += 1
            assert m.code != code and m.error_type == t and m.detail
            start, end = changed_lines(code, m.code)
            assert 1 <= start <= end <= len(m.code.splitlines())
            if CODE_ERROR_TYPES[t] == "syntax" and t != "import":
                assert normalize(m.code) is None  # it no longer parses
    assert set(applied) == set(CODE_ERROR_TYPES)  # every type has a place in 40 problems


def test_code_injection_recipe(prefect_harness, tmp_path):
    recipe = shrink("humaneval-code-injection.yaml", tmp_path, **{"seeds.limit": 12})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "error_injection", ["arXiv:2407.06153", "arXiv:2107.03374"])
    records = [CodeInjection(**r) for r in tables["code_injections"]]
    stage = next(f for f in summary.funnel if f["stage"] == "code_inject")
    assert stage["n_out"] == len(records) > 20
    tried = sum(v["tried"] for v in stage["breakdown"].values())
    assert tried == 12 * len(CODE_ERROR_TYPES)
    outcomes = Counter()
    for v in stage["breakdown"].values():
        outcomes.update(v)
    assert outcomes["kept"] == len(records)
    assert outcomes["tried"] == outcomes["kept"] + outcomes["not_applicable"] + outcomes["tests_still_pass"]
    assert stage["dropped"].get("tests_still_pass", 0) == outcomes["tests_still_pass"]
    seeds = {s["seed_id"]: s for s in tables["seeds"]}
    limits = Limits(timeout_s=10, cpu_seconds=10)
    for r in records[:: max(1, len(records) // 8)]:  # re-run a sample: the label is what execution says
        from schemas import SeedProblem

        seed = SeedProblem(**seeds[r.seed_id])
        assert run_program(checking_program(seed, r.original_code), limits).passed
        again = run_program(checking_program(seed, r.corrupted_code), limits)
        assert not again.passed and again.error_type == r.test_error_type
        assert CODE_ERROR_TYPES[r.error_type] == r.category
        assert (r.changed_start, r.changed_end) == changed_lines(r.original_code, r.corrupted_code)
    assert "## Code bugs and their checks" in card and "| incomplete_structure | syntax |" in card
    assert "without OS isolation" not in card  # namespaces, the default


def _record_critic_answer(recipe, data) -> str:
    """One answer of a capable critic, replayed from the response cache for the first injected bug."""
    from synth.backends.base import Completion, Sample
    from synth.cache import ResponseCache, request_key
    from synth.engine import model_identity
    from synth.recipe import load_recipe
    from synth.stages.code_critique import CritiqueCode, code_targets
    from synth.stages.code_inject import InjectCodeErrors

    r, _ = load_recipe(recipe)
    seeds = load_seeds(r.seeds)
    injections = InjectCodeErrors(r.stages.code_inject, r.random_seed).run(seeds, []).records
    target = code_targets(["injected"], injections, [], seeds)[0]
    stage = CritiqueCode(r.stages.code_critique, r.models, r.random_seed)
    spec = r.models[r.stages.code_critique.model]
    bug = injections[0]
    text = (f"Checking the solution line by line. Line {bug.changed_start} is wrong: {bug.detail}, so the "
            f"function fails (running it raises {bug.test_error_type}).\n\\conclusion{{F}}")
    cache = ResponseCache(data / "cache" / "responses.sqlite")
    key = request_key(spec.backend, model_identity(spec), stage.request(target))
    cache.put_many([(key, model_identity(spec), Completion(
        samples=[Sample(text=text, finish_reason="stop", completion_tokens=60)] * r.stages.code_critique.n,
        prompt_tokens=300))])
    cache.close()
    return target.target_id


def test_code_critique_recipe(prefect_harness, tmp_path):
    recipe = shrink("humaneval-code-critique.yaml", tmp_path, **{
        "seeds.limit": 3, "stages.code_inject.max_per_source": 1, "models.critic.sampling.max_tokens": 96})
    recorded = _record_critic_answer(recipe, tmp_path / "data")
    summary, tables = build(prefect_harness, recipe, tmp_path)
    check_common(summary, tables, "critique", ["arXiv:2509.22824"])
    crit = tables["code_critiques"]
    assert {c["target_id"] for c in crit} >= {recorded}
    for c in crit:
        assert c["verdict"] == c["passes_tests"] and c["critique"].rstrip().endswith(("{T}", "{F}")) or \
            "\\conclusion{" in c["critique"]
    stage = next(f for f in summary.funnel if f["stage"] == "code_critique")
    assert stage["n_in"] == len(tables["code_injections"]) + len({(i["seed_id"], i["source_id"])
                                                                   for i in tables["code_injections"]})
    assert stage["n_in"] * 2 == len(crit) + sum(stage["dropped"].values())
    assert set(stage["dropped"]) <= {"no_verdict", "verdict_disagrees"}
    assert len(tables["critique_sft"]) == len(crit)
    assert all("\\conclusion{" in r["output"] and "## Solution" in r["input"] for r in tables["critique_sft"])


def test_process_only_isolation_is_stated_on_the_card(prefect_harness, tmp_path):
    """A recipe that opts out of namespaces (`isolation: process`) still builds, and its card says
    that its programs ran without OS isolation."""
    recipe = shrink("humaneval-code-injection.yaml", tmp_path, **{
        "seeds.limit": 2, "stages.code_inject.max_per_source": 2, "stages.code_inject.isolation": "process"})
    summary, tables = build(prefect_harness, recipe, tmp_path)
    card = check_common(summary, tables, "error_injection", ["arXiv:2407.06153"])
    assert "## Code ran without OS isolation" in card and "`isolation: process` for code_inject" in card
    assert tables["code_injections"]
