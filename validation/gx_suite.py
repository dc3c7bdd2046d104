"""Runs a table's expectation suite (found in validation/suites/) with real Great Expectations.

Suites are JSON in GX's own format, versioned with the code. A file holds one table's suite
(`<table>.json`), or a dataset kind's suites together (`{"suites": [...]}`, each naming its table in
`meta.table`: validation/suites/refinement.json), so a new kind adds one file and edits no list.

Some checks are about relations between columns or list lengths; those read derived columns, each
named in the suite's `meta.derived` and added by the function the caller passes (synth/suites.py),
so the suite stays declarative and this package imports nothing from synth.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

SUITES = Path(__file__).parent / "suites"


class SuiteFileError(ValueError):
    """A suite file that cannot be read as suites (bad JSON, a kind's suite naming no table, two
    suites for one table); names the file."""


def suite_index(folder: Path | None = None) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every table's suite and the file it is in, read from the folder's JSON files (all of them
    are read each time: well under a millisecond, and never stale)."""
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted((SUITES if folder is None else folder).glob("*.json")):
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise SuiteFileError(f"GX suite file {path} is not valid JSON: {e}") from e
        if not isinstance(doc, dict) or not isinstance(doc.get("suites", []), list):
            raise SuiteFileError(f"GX suite file {path} is neither a suite nor {{\"suites\": [...]}}")
        if "suites" in doc:
            suites = doc["suites"]
            tables = [(s.get("meta") or {}).get("table") for s in suites]
            if None in tables:
                raise SuiteFileError(f"GX suite file {path}: suite {tables.index(None) + 1} of its \"suites\" names no "
                                     "table (meta.table)")
        else:
            suites, tables = [doc], [path.stem]
        for table, suite in zip(tables, suites):
            if table in out:
                raise SuiteFileError(f"GX suites for table {table!r} in two places: {out[table][0]} and {path}")
            out[table] = (path, suite)
    return out


def suite_file(table: str) -> Path | None:
    """The file holding the table's suite (None: it has none)."""
    found = suite_index().get(table)
    return found[0] if found else None


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
    found = suite_index().get(table)
    if found is None:
        raise SuiteFileError(f"table {table!r} has no GX suite in {SUITES} (a file <table>.json, or a suite with "
                             f"meta.table = {table!r} in a kind's file)")
    suite = found[1]
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


def validate_table(table: str, df: pd.DataFrame, min_rows: int | None = None, docs_dir: Path | None = None,
                   derive: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
                   leave_out: frozenset[str] = frozenset()) -> SuiteResult:
    """Validates one table; when `docs_dir` is given, writes GX Data Docs (HTML) there. `derive` adds
    the derived columns the suite reads (the caller's: the table's release declares it, see
    synth.suites.validate_table), so this package never imports synth. `leave_out`: expectation
    types the caller checks over the whole dataset itself (a table validated one batch of rows at a
    time: synth/shard_checks.py)."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite

    suite_json = load_suite(table, min_rows)
    suite_json["expectations"] = [e for e in suite_json["expectations"] if e["type"] not in leave_out]
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
