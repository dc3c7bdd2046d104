"""A version's GX suites, checked one batch of rows at a time plus once over the whole dataset.

A suite (in validation/suites/: validation/gx_suite.py) holds two kinds of expectations:

- row-level ones (a value in a set, a derived column true, the columns present): GX runs them on
  each row group of each file (in the build process and a helper process per further core; memory
  holds a slice of one row group per process), and a row failing in any batch fails the
  expectation, its unexpected rows summed over the batches. The whole suite runs on a row group's
  first slice; on the others GX gets only the columns its value expectations read (`STRUCTURE`);
- dataset-level ones (`DATASET_LEVEL`: row count, unique values, a column's mean such as the label
  balance or the duplicate rate): computed over all the files at once, with DuckDB reading the
  Parquet files (uniqueness and duplicates by its hash aggregates, which spill to disk rather than
  grow without bound) or from per-batch sums, never from one batch alone, so no check is weaker
  than when the table was validated as one frame.

The result per table is the same `SuiteResult` as GX's whole-table run gives (evaluated, failed,
failures with unexpected counts and examples), so the catalog, the card and the gate are unchanged.
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

DATASET_LEVEL = frozenset({"expect_table_row_count_to_be_between", "expect_column_values_to_be_unique",
                           "expect_column_mean_to_be_between"})
# Derived columns that compare a row with the rows before it (synth/suites.py's `duplicate`): over
# many files they are counted by DuckDB on the columns they compare, never per batch.
CROSS_ROW = {("processbench", "duplicate"): ("problem", "steps"),
             ("dpo", "duplicate"): ("prompt", "chosen", "rejected")}


@dataclass(frozen=True)
class Batch:
    """One row group of one file, by reference (what a worker process is given)."""

    table: str
    path: str
    row_group: Optional[int]  # None: the file has no row group (no rows)
    docs_dir: Optional[str] = None  # GX Data Docs are written for the first batch of each table


def _mean_columns(suite: dict[str, Any]) -> list[str]:
    return [e["kwargs"]["column"] for e in suite["expectations"] if e["type"] == "expect_column_mean_to_be_between"]


# Expectations on which columns a frame has, not on their values: every slice of a row group has the
# same columns, so they are checked on its first slice only.
STRUCTURE = frozenset({"expect_table_columns_to_match_set", "expect_table_columns_to_match_ordered_list",
                       "expect_table_column_count_to_equal", "expect_table_column_count_to_be_between",
                       "expect_column_to_exist"})
_COLUMN_KEYS = ("column", "column_A", "column_B", "column_list")


def value_columns(suite: dict[str, Any]) -> Optional[list[str]]:
    """The columns the suite's row-level value expectations read (None: one names its columns in a way
    this does not know, so every column is kept). GX is given only these after a row group's first
    slice: a frame of long texts and lists of steps costs GX 2-6x more per row than the few columns it
    checks (it pickles the whole frame to fingerprint the batch), for nothing it reads."""
    out: list[str] = []
    for e in suite["expectations"]:
        if e["type"] in DATASET_LEVEL or e["type"] in STRUCTURE:
            continue
        named = [e["kwargs"][k] for k in _COLUMN_KEYS if k in e["kwargs"]]
        if not named:
            return None
        for c in named:
            out += [c] if isinstance(c, str) else list(c)
    return list(dict.fromkeys(out))


SLICE = 10_000  # rows GX holds as one pandas frame: a worker's memory holds this many, not a row group


def check_batch(batch: Batch) -> list[dict[str, Any]]:
    """The row-level expectations on one batch, `SLICE` rows at a time (each row is checked on its
    own, so slices give the batch's result), and the sums the dataset-level means need."""
    from synth.shard_files import fewer_collections

    # What the process held before the batch (a build process: a chunk's records, ~700k objects) is
    # frozen out of the collections, so the full one after each slice walks only what GX made: 2.4x
    # less CPU per row there than walking the whole heap each slice, and unlike collecting only the
    # young generations, nothing GX made outlives its slice (26 MB less peak per worker). The whole
    # heap is collected once first: garbage left since the last batch would otherwise be frozen with
    # it and kept for good (two validation workers grew to 1,585 MB over 67 injections batches without
    # it, and to 1,577 MB collecting only the young generations; 941 MB with it, 923 MB before freezing).
    #
    # Where the caller froze its heap already (`_run`, in the build process), nothing more is frozen
    # here: GX keeps its last context alive until the next one replaces it, so whatever a batch froze
    # would turn to garbage in the next batch, past the collector's reach (the build process grew by
    # 170 MB over 40 batches, to 2.2 GB at the end of a 2M-seed build).
    owner = gc.get_freeze_count() == 0
    gc.collect()
    if owner:
        gc.freeze()
    try:
        with fewer_collections():  # a quarter less CPU per row (measured on processbench and injections batches)
            return _check_batch(batch)
    finally:
        if owner:
            gc.unfreeze()


def _check_batch(batch: Batch) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    from synth import registry
    from validation import validate_table
    from validation.gx_suite import load_suite

    import pyarrow as pa

    f = pq.ParquetFile(batch.path, page_checksum_verification=True)
    if batch.row_group is None:  # no rows: the columns are still checked
        parts: Any = [f.read()]
    else:  # read SLICE rows at a time: the row group is never whole in memory
        parts = (pa.Table.from_batches([b]) for b in f.iter_batches(batch_size=SLICE, row_groups=[batch.row_group]))
    derive = registry.derive(batch.table)
    suite = load_suite(batch.table)
    means, checked = _mean_columns(suite), value_columns(suite)
    out = []
    for k, part in enumerate(parts):
        df = part.to_pandas()
        del part
        if derive is not None:
            df = derive(df)
        sums = {}
        for col in means:
            if (batch.table, col) not in CROSS_ROW and col in df.columns:
                values = df[col].astype(float)
                sums[col] = (float(values.sum()), int(values.count()))
        docs = Path(batch.docs_dir) if batch.docs_dir and k == 0 else None
        if k and checked is not None:  # the columns were checked on the first slice: only values now
            df = df[[c for c in df.columns if c in checked]]
            r = validate_table(batch.table, df, leave_out=DATASET_LEVEL | STRUCTURE)
        else:
            r = validate_table(batch.table, df, docs_dir=docs, leave_out=DATASET_LEVEL)
        out.append({"table": batch.table, "failures": r.failures, "sums": sums, "rows": len(df)})
        del df, r
        gc.collect()  # each run leaves a GX context in reference cycles: freed here, not batches later
    return out


def batches(table: str, paths: list[str], docs_dir: Optional[Path]) -> list[Batch]:
    import pyarrow.parquet as pq

    out: list[Batch] = []
    for p in paths:
        n = pq.ParquetFile(p).num_row_groups
        for g in range(n) if n else [None]:
            out.append(Batch(table, p, g, str(docs_dir) if docs_dir and not out else None))
    return out


def _between(value: Optional[float], kwargs: dict[str, Any]) -> bool:
    if value is None:
        return False
    lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def dataset_checks(table: str, paths: list[str], suite: dict[str, Any], sums: dict[str, tuple[float, int]],
                   temp_dir: Path) -> list[tuple[dict[str, Any], Optional[dict[str, Any]]]]:
    """Each dataset-level expectation of the suite with its failure (None: it holds), over all files."""
    import duckdb

    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{temp_dir.as_posix()}'")
    con.execute("SET memory_limit = '256MB'")  # it spills to temp_dir beyond this: memory stays flat
    con.execute("SET preserve_insertion_order = false")
    src = "read_parquet([" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "])"
    n = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
    out = []
    for e in suite["expectations"]:
        if e["type"] not in DATASET_LEVEL:
            continue
        kw = {k: v for k, v in e["kwargs"].items() if k != "batch_id"}
        failure = {"type": e["type"], "kwargs": kw, "observed": None, "unexpected_count": None, "examples": [],
                   "error": None}
        ok = True
        if e["type"] == "expect_table_row_count_to_be_between":
            ok = _between(n, kw)
            failure["observed"] = n
        elif e["type"] == "expect_column_values_to_be_unique":
            col = '"' + kw["column"].replace('"', '""') + '"'
            dup, examples = con.execute(
                f"SELECT coalesce(sum(c), 0), list(v ORDER BY c DESC)[1:3] FROM (SELECT {col} AS v, count(*) AS c "
                f"FROM {src} WHERE {col} IS NOT NULL GROUP BY {col} HAVING count(*) > 1)").fetchone()
            ok = dup == 0
            failure.update(unexpected_count=int(dup), examples=[str(x)[:80] for x in (examples or [])])
        else:
            col = kw["column"]
            keys = CROSS_ROW.get((table, col))
            if keys is not None:
                cols = ", ".join('"' + k + '"' for k in keys)
                distinct = con.execute(f"SELECT count(DISTINCT ({cols})) FROM {src}").fetchone()[0]
                mean = (n - distinct) / n if n else None
            else:
                if col not in sums:
                    from validation.gx_suite import suite_file

                    raise ValueError(f"{suite_file(table)} (suite of {table}): the mean of {col!r} is neither a column "
                                     f"of the batches nor a cross-row column synth/shard_checks.py knows")
                total, count = sums[col]
                mean = total / count if count else None
            ok = _between(mean, kw)
            failure["observed"] = mean
        out.append((e, None if ok else failure))
    con.close()
    return out


# Below this many rows the suites run in the build's own process: starting a worker (Python, pandas
# and GX imported: about 5 s and 330 MB each) costs more than the second core saves (GX checks a row
# in about 10 us: a million rows is 10 s on one core).
IN_PROCESS_ROWS = 1_000_000


def validate_files(files: list, min_rows: dict[str, int], docs: Path, workers: int = 1,
                   in_process_rows: int = IN_PROCESS_ROWS) -> list[dict[str, Any]]:
    """The GX suite of every published table over all its files (every split together); in `workers`
    processes once the files hold `in_process_rows` rows or more."""
    by_table: dict[str, list[str]] = {}
    for f in files:
        if f.published:
            by_table.setdefault(f.table, []).append(f.path)
    jobs = [b for table, paths in by_table.items() for b in batches(table, paths, docs)]
    if sum(f.rows for f in files if f.published) < in_process_rows:
        workers = 1
    results = _run(jobs, workers)
    out = []
    for table, paths in by_table.items():
        out.append(combine(table, paths, [r for r in results if r["table"] == table], min_rows.get(table), docs))
    return out


def combine(table: str, paths: list[str], results: list[dict[str, Any]], min_rows: Optional[int],
            docs: Path) -> dict[str, Any]:
    """One table's result, as the catalog stores it: the batches' row-level failures merged (their
    unexpected rows summed, the first examples kept), then the dataset-level checks, in suite order."""
    from validation import SuiteResult
    from validation.gx_suite import load_suite

    suite = load_suite(table, min_rows)
    sums: dict[str, tuple[float, int]] = {}
    merged: dict[str, dict[str, Any]] = {}
    for r in results:
        for col, (total, count) in r["sums"].items():
            t, c = sums.get(col, (0.0, 0))
            sums[col] = (t + total, c + count)
        for f in r["failures"]:
            key = json.dumps([f["type"], f["kwargs"]], sort_keys=True, default=str)
            if key not in merged:
                merged[key] = dict(f, examples=list(f.get("examples") or []))
                continue
            m = merged[key]
            if f.get("unexpected_count") is not None:
                m["unexpected_count"] = (m.get("unexpected_count") or 0) + f["unexpected_count"]
            m["examples"] = (m["examples"] + list(f.get("examples") or []))[:3]
    for _expectation, failure in dataset_checks(table, paths, suite, sums, docs.parent / "duckdb-tmp"):
        if failure is not None:
            merged[json.dumps([failure["type"], failure["kwargs"]], sort_keys=True, default=str)] = failure
    order = {json.dumps([e["type"], {k: v for k, v in e["kwargs"].items() if k != "batch_id"}], sort_keys=True,
                        default=str): i for i, e in enumerate(suite["expectations"])}
    failures = sorted(merged.values(), key=lambda f: order.get(
        json.dumps([f["type"], f["kwargs"]], sort_keys=True, default=str), len(order)))
    r = SuiteResult(table=table, suite=suite["name"], success=not failures, evaluated=len(suite["expectations"]),
                    failed=len(failures), failures=failures)
    d = r.as_dict()
    d["summary"] = r.summary
    d["docs_path"] = str(docs / "index.html")
    return d


def _run(jobs: list[Batch], workers: int) -> list[dict[str, Any]]:
    """The batches' results in job order. With `workers` > 1, this process checks batches too, beside
    `workers - 1` worker processes: the build process waits for them anyway, and a worker of its own
    (Python, pandas and GX: about 490 MB while it checks) cost more memory than GX in this process
    (about 320 MB: it has Python and pandas already)."""
    gc.collect()
    gc.freeze()  # what this process holds is not walked by each batch's collections
    try:
        here = _Here()
        if workers <= 1 or len(jobs) <= 1:
            return [r for b in jobs for r in here(b)]
        return _run_beside(jobs, workers - 1, here)
    finally:
        gc.unfreeze()


class _Here:
    """Batches checked in this process (the build process, its heap frozen by `_run`, or a helper).
    The first batch loads GX's modules and registries (270k objects); they are frozen after it too,
    or every later slice's collection walks them (35% more time per batch). At most the first
    batch's GX context is kept."""

    def __init__(self) -> None:
        self.warm = False

    def __call__(self, job: Batch) -> list[dict[str, Any]]:
        out = check_batch(job)
        if not self.warm:
            gc.collect()
            gc.freeze()
            self.warm = True
        return out


_HELPER = _Here()


def _check_in_helper(job: Batch) -> list[dict[str, Any]]:
    """A helper process's batches, warm as the build process's are: what it holds once GX is loaded
    is frozen after its first batch, so each later batch's first collection walks only what that
    batch made. Checked cold (everything walked at the start of every batch), a helper spent a
    quarter more CPU per batch after the first (0.63 s against 0.47 s on 50,000-row batches)."""
    return _HELPER(job)


def _run_beside(jobs: list[Batch], helpers: int, here: _Here) -> list[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from synth.shard_files import die_with_parent

    results: dict[int, list[dict[str, Any]]] = {}
    todo = list(enumerate(jobs))
    todo.reverse()  # popped from the end: in job order
    futures: dict[Any, int] = {}
    with ProcessPoolExecutor(max_workers=helpers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent, initargs=(os.getpid(),)) as pool:

        def refill() -> None:  # each helper has its next batch queued while it checks one
            for f in [f for f in futures if f.done()]:
                results[futures.pop(f)] = f.result()
            while todo and len(futures) < 2 * helpers:
                i, job = todo.pop()
                futures[pool.submit(_check_in_helper, job)] = i

        refill()
        while todo:
            i, job = todo.pop()
            results[i] = here(job)
            refill()
        for f, i in list(futures.items()):
            results[i] = f.result()
    return [r for i in range(len(jobs)) for r in results[i]]
