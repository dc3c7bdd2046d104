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
    n, counts = row["rollouts"], list(row["correct_rollouts"])
    hard, soft = list(row["hard_labels"]), list(row["soft_labels"])
    first = next((i for i, ok in enumerate(hard) if not ok), -1)
    return (all(0 <= c <= n for c in counts) and all(abs(s - c / n) < 1e-9 for s, c in zip(soft, counts))
            and hard == [c > 0 for c in counts] and row["first_error_step"] == first)


_DERIVED: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "injections": _injections,
    "processbench": lambda df: df.assign(
        label_in_range=[-1 <= k < len(s) for k, s in zip(df["label"], df["steps"])],
        n_steps=df["steps"].map(len),
    ),
    "math_shepherd": lambda df: df.assign(
        tags_match=[i.count(" ки") == len(re.findall(r" [+-](?=\n|$)", lab)) for i, lab in zip(df["input"], df["label"])],
    ),
    "prm_stepwise": lambda df: df.assign(
        labels_match_steps=[len(lab) == len(c) >= 1 for lab, c in zip(df["labels"], df["completions"])],
    ),
    "mc_labels": lambda df: df.assign(
        lengths_agree=[len(s) == len(c) == len(so) == len(h) for s, c, so, h in
                       zip(df["steps"], df["correct_rollouts"], df["soft_labels"], df["hard_labels"])],
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
        responses_are_assistant=[len(c) == 1 and len(r) == 1 and c[0]["role"] == r[0]["role"] == "assistant"
                                 for c, r in zip(df["chosen"], df["rejected"])],
    ),
}


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
