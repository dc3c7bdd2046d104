"""What the viewer reads: a version's tables, paged and filtered by DuckDB over its registered
Parquet files (never loaded whole into Python), each file checked against the catalog first.

The DuckDB connection is in memory, may open only the version's registered files, and has external
access and its configuration locked: a filter typed into the browser cannot read or write anything else.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any, Optional

import duckdb

from catalog import Catalog
from synth.errors import SynthError

# The column that names a record of a table: reviews are made on tables that have one. The export
# configs without one (dpo, math_shepherd, prm_stepwise, critique_sft, ultrafeedback) are made from
# these records and are rebuilt from them when reviews are applied.
ID_COLUMNS: dict[str, str] = {
    "injections": "injection_id", "processbench": "id", "mc_labels": "solution_id", "critiques": "critique_id",
    "pairs": "pair_id", "code_injections": "injection_id", "code_critiques": "critique_id",
    "solutions": "solution_id", "ratings": "solution_id", "comparisons": "comparison_id", "seeds": "seed_id",
    "rejects": "record_id",
}

# Columns offered as filters with their values listed (small sets of values), per table.
FACETS: dict[str, tuple[str, ...]] = {
    "injections": ("error_type", "method", "first_error_step", "source_model"),
    "processbench": ("label", "final_answer_correct", "generator"),
    "mc_labels": ("first_error_step", "final_answer_correct", "model"),
    "critiques": ("label_source", "error_type", "hint_given", "first_error_step", "critic_model"),
    "pairs": ("method", "chosen_model", "rejected_model"),
    "code_injections": ("error_type", "category", "test_error_type"),
    "code_critiques": ("label_source", "error_type", "passes_tests", "verdict"),
    "solutions": ("answer_status", "model", "finish_reason", "error_type"),
    "rejects": ("stage", "reason"),
    "math_shepherd": ("task",),
    "contamination": ("benchmark", "collection"),
}
SEARCH_COUNT_CAP = 10_000
FACET_ROW_LIMIT = 200_000  # above this, facet values are not counted (a scan per column); filters stay


class NotFound(SynthError):
    """An unknown dataset, version, config or record: the viewer shows a page saying what exists."""


@dataclass(frozen=True)
class Page:
    table: str
    columns: list[tuple[str, str]]  # (name, DuckDB type)
    rows: list[dict[str, Any]]
    keys: list[Optional[str]]  # each row's record key (its id, or None where the table has no id column)
    total: int  # rows matching the filters
    offset: int
    limit: int
    filters: dict[str, str]
    q: str
    capped: bool = False  # a search with more matches than SEARCH_COUNT_CAP: `total` is the cap


def record_hash(row: dict[str, Any]) -> str:
    """A record's content hash: the same as `synth catalog diff` uses for rows (synth/access.py)."""
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class VersionData:
    """One registered version, as the viewer reads it."""

    def __init__(self, catalog: Catalog, dataset: str, version: str):
        self.catalog = catalog
        try:
            self.info = catalog.version_info(dataset, version)
        except SynthError:
            rows = catalog.query("SELECT version FROM versions WHERE dataset = ?", [dataset])
            if not rows:
                known = ", ".join(sorted({r["dataset"] for r in catalog.list_versions()})) or "none"
                raise NotFound(f"no dataset {dataset!r} in the catalog (datasets: {known})") from None
            if version not in {r["version"] for r in rows}:
                raise NotFound(f"{dataset} has no version {version!r} (versions: "
                               f"{', '.join(sorted(r['version'] for r in rows))})") from None
            raise
        self.dataset, self.version = dataset, version
        self.kind = self.info["dataset_row"]["kind"]
        self._facets: dict[str, dict[str, list[tuple[Any, int]]]] = {}
        self._columns: dict[str, list[tuple[str, str]]] = {}
        self._db: Optional[duckdb.DuckDBPyConnection] = None
        self._lock = threading.Lock()

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    def tables(self) -> list[dict[str, Any]]:
        """Each table with its rows (summed over split files), published first in the kind's order."""
        from synth.registry import KINDS

        by: dict[str, dict[str, Any]] = {}
        for f in self.info["files"]:
            t = by.setdefault(f["table_name"], {"table": f["table_name"], "rows": 0, "bytes": 0,
                                                "published": f["published"], "splits": []})
            t["rows"] += f["rows"]
            t["bytes"] += f["bytes"]
            t["splits"].append(f["path"].rsplit("/", 1)[-1].split("-")[0])
        order = KINDS[self.kind].publishes if self.kind in KINDS else ()
        return sorted(by.values(), key=lambda t: (not t["published"],
                                                  order.index(t["table"]) if t["table"] in order else 99, t["table"]))

    def files(self, table: str) -> list[dict[str, Any]]:
        """The table's registered files in path order (splits), checked against their sha256."""
        files = sorted((f for f in self.info["files"] if f["table_name"] == table), key=lambda f: f["path"])
        if not files:
            have = ", ".join(t["table"] for t in self.tables())
            raise NotFound(f"{self.ref} has no config {table!r} (configs: {have})")
        self.catalog.require_intact(self.dataset, self.version, files)
        return files

    def _connect(self, paths: list[str]) -> duckdb.DuckDBPyConnection:
        """A cursor on the version's own in-memory DuckDB, made once: it may read the version's
        registered files and nothing else, and its configuration cannot be changed back."""
        with self._lock:
            if self._db is None:
                allowed = sorted(f["path"] for f in self.info["files"])
                db = duckdb.connect(":memory:")
                db.execute("SET allowed_paths = [" + ", ".join("'" + p.replace("'", "''") + "'" for p in allowed) + "]")
                db.execute("SET temp_directory = ''")
                db.execute("SET autoinstall_known_extensions = false")
                db.execute("SET autoload_known_extensions = false")
                db.execute("SET enable_external_access = false")
                db.execute("SET lock_configuration = true")
                self._db = db
            return self._db.cursor()

    @staticmethod
    def _source(paths: list[str]) -> str:
        return "read_parquet([" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "])"

    def columns(self, con: duckdb.DuckDBPyConnection, src: str) -> list[tuple[str, str]]:
        if src not in self._columns:
            self._columns[src] = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()]
        return self._columns[src]

    def _where(self, columns: list[tuple[str, str]], filters: dict[str, str], q: str) -> tuple[str, list[Any]]:
        """Equality filters on named columns (values bound as parameters, cast to the column's type)
        and a case-insensitive text search over every column."""
        types = dict(columns)
        clauses, params = [], []
        for col, value in filters.items():
            if col not in types:
                raise NotFound(f"config has no column {col!r} to filter on (columns: {', '.join(types)})")
            clauses.append(f"CAST({_quote(col)} AS VARCHAR) = ?" if types[col] != "BOOLEAN"
                           else f"{_quote(col)} = TRY_CAST(? AS BOOLEAN)")
            params.append(value)
        if q:  # text columns, and lists of text (steps, completions) joined
            texts = [f"{_quote(c)} ILIKE ?" if t == "VARCHAR" else f"array_to_string({_quote(c)}, ' ') ILIKE ?"
                     for c, t in columns if t in ("VARCHAR", "VARCHAR[]")]
            texts += [f"CAST({_quote(c)} AS VARCHAR) ILIKE ?" for c, t in columns
                      if t.startswith("STRUCT") or (t.endswith("[]") and t != "VARCHAR[]")]
            clauses.append("(" + " OR ".join(texts or ["false"]) + ")")
            params += [f"%{q}%"] * len(texts)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def page(self, table: str, offset: int = 0, limit: int = 25, filters: Optional[dict[str, str]] = None,
             q: str = "") -> Page:
        filters = {k: v for k, v in (filters or {}).items() if v != ""}
        files = self.files(table)
        paths = [f["path"] for f in files]
        src = self._source(paths)
        with self._connect(paths) as con:
            columns = self.columns(con, src)
            where, params = self._where(columns, filters, q)
            capped = False
            if q:  # a search counts its matches up to a cap: a full count would scan every row's text
                total = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {src}{where} LIMIT {SEARCH_COUNT_CAP + 1})",
                                    params).fetchone()[0]
                capped = total > SEARCH_COUNT_CAP
                total = min(total, SEARCH_COUNT_CAP)
            elif where:
                total = con.execute(f"SELECT count(*) FROM {src}{where}", params).fetchone()[0]
            else:
                total = sum(f["rows"] for f in files)  # from the catalog: no scan for the unfiltered count
            cur = con.execute(f"SELECT * FROM {src}{where} LIMIT ? OFFSET ?", params + [limit, offset])
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
        id_col = ID_COLUMNS.get(table)
        keys = [str(r[id_col]) if id_col and id_col in r else None for r in rows]
        return Page(table, columns, rows, keys, total, offset, limit, filters, q, capped)

    def facets(self, table: str) -> dict[str, list[tuple[Any, int]]]:
        """Values and counts of the table's facet columns (small tables only: each is a scan)."""
        files = self.files(table)
        if table in self._facets:
            return self._facets[table]
        if sum(f["rows"] for f in files) > FACET_ROW_LIMIT:
            return {}
        paths = [f["path"] for f in files]
        src = self._source(paths)
        out: dict[str, list[tuple[Any, int]]] = {}
        with self._connect(paths) as con:
            present = {c for c, _ in self.columns(con, src)}
            for col in FACETS.get(table, ()):
                if col in present:
                    out[col] = [(v, n) for v, n in con.execute(
                        f"SELECT {_quote(col)}, count(*) FROM {src} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 40").fetchall()]
        self._facets[table] = out
        return out

    def record(self, table: str, key: str) -> dict[str, Any]:
        """One record by its id (tables with an id column) or by its row number (`row-N`, the others)."""
        files = self.files(table)
        paths = [f["path"] for f in files]
        src = self._source(paths)
        id_col = ID_COLUMNS.get(table)
        with self._connect(paths) as con:
            if key.startswith("row-") and key[4:].isdigit():
                cur = con.execute(f"SELECT * FROM {src} LIMIT 1 OFFSET ?", [int(key[4:])])
            elif id_col:
                cur = con.execute(f"SELECT * FROM {src} WHERE {_quote(id_col)} = ? LIMIT 1", [key])
            else:
                raise NotFound(f"{self.ref} config {table!r} has no id column: open its records as row-N")
            names = [d[0] for d in cur.description]
            row = cur.fetchone()
        if row is None:
            raise NotFound(f"{self.ref} config {table!r} has no record {key!r}")
        return dict(zip(names, row))

    def records_by_id(self, table: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Several records of an id table at once (the reviews' records, for apply and the review list)."""
        id_col = ID_COLUMNS[table]
        if not ids:
            return {}
        files = self.files(table)
        paths = [f["path"] for f in files]
        src = self._source(paths)
        with self._connect(paths) as con:
            cur = con.execute(f"SELECT * FROM {src} WHERE {_quote(id_col)} IN (SELECT unnest(?))", [ids])
            names = [d[0] for d in cur.description]
            return {str(r[names.index(id_col)]): dict(zip(names, r)) for r in cur.fetchall()}
