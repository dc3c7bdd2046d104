"""Runs a table's expectation suite (validation/suites/<table>.json) with real Great Expectations.

Suites are JSON in GX's own format, versioned with the code. Some checks are about relations
between columns or list lengths; those read derived columns added here, each named in the suite's
`meta.derived`, so the suite stays declarative.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

SUITES = Path(__file__).parent / "suites"

def _injections(df: pd.DataFrame) -> pd.DataFrame:
    from synth.answers import answers_match
    from synth.inject.steps import first_change

    def first(o, c):
        change = first_change(list(o), list(c))
        return change.corrupted if change else -1

    return df.assign(
        label_in_range=[0 <= k < len(c) for k, c in zip(df["first_error_step"], df["corrupted_steps"])],
        label_is_first_change=[first(o, c) == k for o, c, k in
                               zip(df["original_steps"], df["corrupted_steps"], df["first_error_step"])],
        answer_differs=[not answers_match(a, g) for a, g in zip(df["corrupted_answer"], df["gold_answer"])],
    )


def _mc_consistent(row) -> bool:
    """The labels are what the counts say, under one rule: a step is good when it and every step
    before it reached the answer and wrote no false computation."""
    from synth.inject.steps import wrong_calc_steps

    n, counts, scored = row["rollouts"], list(row["correct_rollouts"]), list(row["scored_rollouts"])
    hard, soft = list(row["hard_labels"]), list(row["soft_labels"])
    first = next((i for i, ok in enumerate(hard) if not ok), -1)
    wrong = set(wrong_calc_steps(list(row["steps"])))
    expected, ok = [], True
    for i, c in enumerate(counts):
        ok = ok and c > 0 and i not in wrong
        expected.append(ok)
    return (all(0 <= c <= k <= n and k > 0 for c, k in zip(counts, scored))
            and all(abs(s - c / k) < 1e-9 for s, c, k in zip(soft, counts, scored))
            and hard == expected and row["first_error_step"] == first)


_DERIVED: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "injections": _injections,
    "processbench": lambda df: df.assign(
        label_in_range=[-1 <= k < len(s) for k, s in zip(df["label"], df["steps"])],
        n_steps=df["steps"].map(len),
        no_error=df["label"].eq(-1).astype(float),
        duplicate=_duplicated([(p, tuple(s)) for p, s in zip(df["problem"], df["steps"])]),
    ),
    "math_shepherd": lambda df: df.assign(
        tags_match=[i.count(" ки") == len(re.findall(r" [+-](?=\n|$)", lab)) for i, lab in zip(df["input"], df["label"])],
    ),
    "prm_stepwise": lambda df: df.assign(
        labels_match_steps=[len(lab) == len(c) >= 1 for lab, c in zip(df["labels"], df["completions"])],
    ),
    "mc_labels": lambda df: df.assign(
        lengths_agree=[len(s) == len(c) == len(k) == len(so) == len(h) for s, c, k, so, h in
                       zip(df["steps"], df["correct_rollouts"], df["scored_rollouts"], df["soft_labels"],
                           df["hard_labels"])],
        labels_consistent=[_mc_consistent(r) for _, r in df.iterrows()],
    ),
    "critiques": lambda df: df.assign(
        verdicts_match_steps=[[v["step"] for v in vs] == list(range(len(s))) for vs, s in
                              zip(df["step_verdicts"], df["steps"])],
        agrees=(df["first_error_step"].eq(df["true_first_error_step"])
                & df["final_answer_correct"].eq(df["true_final_answer_correct"])),
    ),
    "solutions": lambda df: df.assign(
        n_steps=df["steps"].map(len),
        status_is_correct=df["answer_status"].eq("correct"),
        no_answer=df["answer_status"].eq("no_answer").astype(float),
    ),
    "pairs": lambda df: df.assign(
        same_solution=df["chosen_solution_id"].eq(df["rejected_solution_id"]),
        same_text=[c[-1]["content"] == r[-1]["content"] for c, r in zip(df["chosen"], df["rejected"])],
        prompt_ends_with_user=df["prompt"].map(lambda m: len(m) > 0 and m[-1]["role"] == "user"),
        responses_are_assistant=[_single_assistant(c) and _single_assistant(r) for c, r in zip(df["chosen"], df["rejected"])],
        evidence_matches_method=[_pair_evidence(r) for _, r in df.iterrows()],
        ratings_in_range=[all(x["rating"] in (1, 2, 3, 4, 5) for x in [*c, *r])
                          for c, r in zip(df["chosen_ratings"], df["rejected_ratings"])],
        chosen_scores_higher=[pd.isna(c) or pd.isna(r) or c > r for c, r in zip(df["score_chosen"], df["score_rejected"])],
        chosen_work_holds=[_chosen_work_holds(r) for _, r in df.iterrows()],
    ),
    "dpo": lambda df: df.assign(
        prompt_ends_with_user=df["prompt"].map(lambda m: len(m) > 0 and m[-1]["role"] == "user"),
        responses_are_assistant=[_single_assistant(c) and _single_assistant(r) for c, r in zip(df["chosen"], df["rejected"])],
        same_text=[c[-1]["content"] == r[-1]["content"] for c, r in zip(df["chosen"], df["rejected"])],
        duplicate=_duplicated([(_text(p), _text(c), _text(r)) for p, c, r in zip(df["prompt"], df["chosen"], df["rejected"])]),
    ),
    "ratings": lambda df: df.assign(
        ratings_in_range=df["ratings"].map(lambda rs: len(rs) > 0 and all(r["rating"] in (1, 2, 3, 4, 5) for r in rs)),
        scores_are_means=[_scores_are_means(r) for _, r in df.iterrows()],
        rationales_present=df["ratings"].map(lambda rs: all(r["rationale"].strip() for r in rs)),
        one_rating_per_judge_aspect=df["ratings"].map(_one_per_judge_aspect),
    ),
    "comparisons": lambda df: df.assign(
        both_orders=[_both_orders(r) for _, r in df.iterrows()],
        verdicts_agree=[all(v["winner_id"] == r["winner_id"]
                            and v["winner_id"] == (v["first_id"] if v["winner_position"] == "A" else v["second_id"])
                            for v in r["verdicts"]) for _, r in df.iterrows()],
        winner_is_a_or_b=[{w, lo} == {a, b} for w, lo, a, b in zip(df["winner_id"], df["loser_id"], df["a_id"], df["b_id"])],
    ),
    "code_injections": lambda df: df.assign(
        category_matches_type=[_code_category(t) == c for t, c in zip(df["error_type"], df["category"])],
        code_changed=df["original_code"].ne(df["corrupted_code"]),
        span_in_code=[a <= b <= max(len(c.splitlines()), 1) for a, b, c in
                      zip(df["changed_start"], df["changed_end"], df["corrupted_code"])],
    ),
    "code_critiques": lambda df: df.assign(
        agrees=df["verdict"].eq(df["passes_tests"]),
        has_conclusion=[_verdict(c) == v for c, v in zip(df["critique"], df["verdict"])],
    ),
    "ultrafeedback": lambda df: df.assign(
        models_match=[list(m) == [c["model"] for c in cs] for m, cs in zip(df["models"], df["completions"])],
        ratings_valid=df["completions"].map(lambda cs: all(_uf_completion_valid(c) for c in cs)),
        n_completions=df["completions"].map(len),
    ),
}


def _code_category(error_type: str) -> str:
    from synth.inject.code_ops import CODE_ERROR_TYPES

    return CODE_ERROR_TYPES.get(error_type, "")


def _verdict(critique: str):
    from synth.stages.code_critique import verdict_of

    return verdict_of(critique)


def _text(messages) -> str:
    return "\n".join(m["content"] for m in messages)


def _duplicated(keys: list) -> list[float]:
    seen: set = set()
    out = []
    for k in keys:
        out.append(float(k in seen))
        seen.add(k)
    return out


def _single_assistant(messages) -> bool:
    return len(messages) == 1 and messages[0]["role"] == "assistant" and bool(messages[0]["content"].strip())


def _chosen_work_holds(row) -> bool:
    from synth.answers import answers_match
    from synth.process import false_computations

    def text(v):
        return None if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)

    gold = text(row["gold_answer"])
    if row["method"] != "verified" or not gold:
        return True
    return (answers_match(text(row["chosen_answer"]), gold) and not answers_match(text(row["rejected_answer"]), gold)
            and not false_computations(row["chosen"][-1]["content"]))


def _pair_evidence(row) -> bool:
    ratings, verdicts = len(row["chosen_ratings"]) + len(row["rejected_ratings"]), list(row["verdicts"])
    if row["method"] == "verified":
        return (not ratings and not verdicts and row["chosen_answer"] is not None
                and row["score_chosen"] == 1.0 and row["score_rejected"] == 0.0)
    if row["method"] == "ratings":
        return (len(row["chosen_ratings"]) > 0 and len(row["rejected_ratings"]) > 0 and not verdicts
                and not pd.isna(row["score_chosen"]) and not pd.isna(row["score_rejected"]))
    return (not ratings and len(verdicts) >= 2 and len(verdicts) % 2 == 0
            and all(v["winner_id"] == row["chosen_solution_id"] for v in verdicts))


def _one_per_judge_aspect(ratings) -> bool:
    keys = [(r["judge"], r["aspect"]) for r in ratings]
    judges = {j for j, _ in keys}
    aspects = {j: {a for jj, a in keys if jj == j} for j in judges}
    return len(keys) == len(set(keys)) and len({frozenset(v) for v in aspects.values()}) == 1


def _scores_are_means(row) -> bool:
    by_aspect: dict[str, list[int]] = {}
    for r in row["ratings"]:
        by_aspect.setdefault(r["aspect"], []).append(r["rating"])
    scores = {a: v for a, v in row["aspect_scores"].items() if v is not None}
    means = {a: sum(v) / len(v) for a, v in by_aspect.items()}
    return (set(scores) == set(means) and all(abs(scores[a] - means[a]) < 1e-9 for a in means)
            and abs(row["score"] - sum(means.values()) / len(means)) < 1e-9)


def _both_orders(row) -> bool:
    by_judge: dict[str, list[tuple[str, str]]] = {}
    for v in row["verdicts"]:
        by_judge.setdefault(v["judge"], []).append((v["first_id"], v["second_id"]))
    want = sorted([(row["a_id"], row["b_id"]), (row["b_id"], row["a_id"])])
    return bool(by_judge) and all(sorted(orders) == want for orders in by_judge.values())


def _uf_completion_valid(c) -> bool:
    present = [a for a in c["annotations"].values() if a is not None]
    try:
        ratings = [float(a["Rating"]) for a in present]
    except ValueError:
        return False
    return (bool(present) and all(1 <= r <= 5 and a["Rationale"].strip() for r, a in zip(ratings, present))
            and abs(c["fine-grained_score"] - sum(ratings) / len(ratings)) < 1e-4)  # Rating is written with %g


@dataclass
class SuiteResult:
    table: str
    suite: str
    success: bool
    evaluated: int
    failed: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        head = f"{self.table}: {self.evaluated - self.failed}/{self.evaluated} expectations passed ({self.suite})"
        lines = [head]
        for f in self.failures:
            args = ", ".join(f"{k}={v}" for k, v in f["kwargs"].items() if k != "batch_id")
            seen = f"observed {f['observed']}" if f.get("observed") is not None else ""
            if f.get("unexpected_count"):
                seen = f"{f['unexpected_count']} unexpected, e.g. {f['examples']}"
            lines.append(f"  FAILED {f['type']}({args}): {seen}".rstrip(": "))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "suite": self.suite, "success": self.success,
                "evaluated": self.evaluated, "failed": self.failed, "failures": self.failures}


def load_suite(table: str, min_rows: int | None = None) -> dict[str, Any]:
    path = SUITES / f"{table}.json"
    suite = json.loads(path.read_text())
    if min_rows is not None:
        for e in suite["expectations"]:
            if e["type"] == "expect_table_row_count_to_be_between":
                e["kwargs"]["min_value"] = max(min_rows, e["kwargs"].get("min_value", 0))
    return suite


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


def validate_table(table: str, df: pd.DataFrame, min_rows: int | None = None,
                   docs_dir: Path | None = None) -> SuiteResult:
    """Validates one table; when `docs_dir` is given, writes GX Data Docs (HTML) there."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    suite_json = load_suite(table, min_rows)
    derive = _DERIVED.get(table)
    if derive is not None:
        df = derive(df)
    ctx = _context()
    suite = ctx.suites.add(ExpectationSuite(**suite_json))
    batch_def = ctx.data_sources.add_pandas("synth").add_dataframe_asset(table).add_batch_definition_whole_dataframe("all")
    definition = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{table}-gate", data=batch_def, suite=suite))
    if docs_dir is not None:
        ctx.add_data_docs_site(
            site_name="synth",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        checkpoint = ctx.checkpoints.add(gx.Checkpoint(
            name=f"{table}-checkpoint", validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["synth"])],
        ))
        run = checkpoint.run(batch_parameters={"dataframe": df})
        res = next(iter(run.run_results.values()))
    else:
        res = definition.run(batch_parameters={"dataframe": df})
    failures = []
    for r in res.results:
        if r.success:
            continue
        cfg = r.expectation_config
        result = r.result or {}
        failures.append({
            "type": cfg.type,
            "kwargs": {k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
            "observed": result.get("observed_value"),
            "unexpected_count": result.get("unexpected_count"),
            "examples": [str(x)[:80] for x in (result.get("partial_unexpected_list") or [])[:3]],
            "error": (r.exception_info or {}).get("exception_message") if isinstance(r.exception_info, dict) else None,
        })
    stats = res.statistics
    return SuiteResult(table=table, suite=suite_json["name"], success=bool(res.success),
                       evaluated=int(stats["evaluated_expectations"]),
                       failed=int(stats["unsuccessful_expectations"]), failures=failures)
