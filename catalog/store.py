"""Registration of builds in the DuckDB catalog.

DuckDB allows one writing process per file: every operation opens its own short connection and
retries while another process holds the lock, and a build is registered in one transaction so a crash
leaves either the whole version or nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import duckdb

from synth.errors import SynthError

DDL = Path(__file__).with_name("schema.sql")  # schema version 1
MIGRATIONS = Path(__file__).with_name("migrations")  # NNN_name.sql, applied in order after version 1


def _migrations() -> list[tuple[int, Path]]:
    return sorted((int(p.name.split("_", 1)[0]), p) for p in MIGRATIONS.glob("[0-9][0-9][0-9]_*.sql"))


SCHEMA_VERSION = max([1] + [n for n, _ in _migrations()])


@dataclass(frozen=True)
class FileEntry:
    table: str
    path: str
    sha256: str
    rows: int
    bytes: int
    published: bool


@dataclass
class BuildRecord:
    build_id: str
    dataset: str
    kind: str
    description: str
    recipe_path: str
    recipe_yaml: str
    recipe_sha256: str
    requested_version: Optional[str]
    started_at: datetime
    finished_at: datetime
    build_dir: str
    files: list[FileEntry]
    funnel: list[dict[str, Any]]
    usage: list[dict[str, Any]]
    validations: list[dict[str, Any]]
    lineage: list[tuple[str, str, str]] = field(default_factory=list)
    flow_run_id: Optional[str] = None

    @property
    def fingerprint(self) -> str:
        """Content identity: the same rows in the same tables give the same fingerprint."""
        parts = sorted((f.table, f.sha256) for f in self.files if f.published)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()

    @property
    def validation_passed(self) -> bool:
        return all(v["success"] for v in self.validations)


@dataclass(frozen=True)
class Registered:
    dataset: str
    version: str
    fingerprint: str
    new: bool  # False when an identical version already existed
    validation_passed: bool
    parent_version: Optional[str]


def schema_name(dataset: str) -> str:
    """The DuckDB schema holding a dataset's views: its name with anything but letters and digits as _."""
    return "".join(c if c.isalnum() else "_" for c in dataset)


def view_name(table: str, version: str | None = None) -> str:
    """`pairs_v1_2_0` for a version, `pairs` for the latest."""
    return table if version is None else f"{table}_v{version.replace('.', '_')}"


def _bump(version: str, part: str) -> str:
    major, minor, patch = (int(x) for x in version.split("."))
    return f"{major}.{minor + 1}.0" if part == "minor" else f"{major}.{minor}.{patch + 1}"


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


class Catalog:
    def __init__(self, path: str | Path, lock_timeout: float = 120.0):
        self.path = Path(path)
        self.lock_timeout = lock_timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as con:
            self._migrate(con)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        """Brings an older catalog file up to this code's schema, one recorded migration at a time."""
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(DDL.read_text())
            con.execute("INSERT INTO schema_migrations SELECT 1, now() WHERE NOT EXISTS "
                        "(SELECT 1 FROM schema_migrations WHERE version = 1)")
            applied = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
            for number, path in _migrations():
                if number not in applied:
                    con.execute(path.read_text())
                    con.execute("INSERT INTO schema_migrations VALUES (?, now())", [number])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection, waiting while another process writes (DuckDB's single-writer lock)."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only and self.path.exists())
            except duckdb.IOException as e:
                if "lock" not in str(e).lower() or time.monotonic() > deadline:
                    raise SynthError(f"catalog {self.path}: cannot open ({e})") from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def register(self, build: BuildRecord) -> Registered:
        fingerprint = build.fingerprint
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                registered = self._register(con, build, fingerprint)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return registered

    def _register(self, con: duckdb.DuckDBPyConnection, b: BuildRecord, fingerprint: str) -> Registered:
        con.execute(
            "INSERT INTO datasets SELECT ?, ?, ?, now() WHERE NOT EXISTS (SELECT 1 FROM datasets WHERE name = ?)",
            [b.dataset, b.kind, b.description, b.dataset])
        rows = con.execute(
            "SELECT version, fingerprint, recipe_sha256 FROM versions WHERE dataset = ?", [b.dataset]).fetchall()
        versions = sorted(rows, key=lambda r: _version_key(r[0]))
        latest = versions[-1] if versions else None
        same = next((r for r in versions if r[1] == fingerprint), None)
        passed = b.validation_passed
        if b.requested_version:
            existing = next((r for r in versions if r[0] == b.requested_version), None)
            if existing and existing[1] != fingerprint:
                raise SynthError(
                    f"{b.dataset}@{b.requested_version} is already registered with other content "
                    f"(versions are immutable); set publish.version to a new version or remove it to number automatically")
            version, new = b.requested_version, existing is None
        elif same is not None:
            version, new = same[0], False
        elif latest is None:
            version, new = "1.0.0", True
        else:
            version, new = _bump(latest[0], "minor" if latest[2] != b.recipe_sha256 else "patch"), True
        parent = None
        if new:
            parent = latest[0] if latest else None
            con.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [b.dataset, version, fingerprint, b.recipe_yaml, b.recipe_sha256, parent, b.build_id, passed,
                 b.finished_at])
            con.executemany(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [[b.dataset, version, f.table, f.path, f.sha256, f.rows, f.bytes, f.published] for f in b.files])
            newest = latest is None or _version_key(version) >= _version_key(latest[0])
            self._create_views(con, b.dataset, version, [(f.table, f.path) for f in b.files], newest)
            lineage = list(b.lineage) + ([("parent", f"{b.dataset}@{parent}", "")] if parent else [])
            if lineage:
                con.executemany("INSERT INTO lineage VALUES (?, ?, ?, ?, ?)",
                                [[b.dataset, version, k, s, d] for k, s, d in lineage])
        else:
            passed = con.execute("SELECT validation_passed FROM versions WHERE dataset = ? AND version = ?",
                                 [b.dataset, version]).fetchone()[0]
        status = "registered" if new else "duplicate"
        if not b.validation_passed:
            status = "failed_validation"
        con.execute(
            "INSERT INTO builds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [b.build_id, b.dataset, status, version, b.recipe_path, b.recipe_sha256, b.started_at, b.finished_at,
             (b.finished_at - b.started_at).total_seconds(), b.flow_run_id, b.build_dir])
        for pos, f in enumerate(b.funnel):
            con.execute("INSERT INTO funnel (build_id, position, stage, unit_in, unit_out, n_in, n_out, dropped, "
                        "labels, wall_seconds, breakdown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [b.build_id, pos, f["stage"], f["unit_in"], f["unit_out"], f["n_in"], f["n_out"],
                         json.dumps(f["dropped"]), json.dumps(f["labels"]), f["wall_seconds"],
                         json.dumps(f.get("breakdown", {}))])
        usage_cols = ("stage", "model", "backend", "requests", "cache_hits", "backend_requests", "parse_retries",
                      "failures", "samples", "prompt_tokens", "completion_tokens", "load_seconds", "wall_seconds")
        for u in b.usage:
            con.execute(f"INSERT INTO usage (build_id, {', '.join(usage_cols)}) "
                        f"VALUES (?, {', '.join('?' * len(usage_cols))})",
                        [b.build_id] + [u[c] for c in usage_cols])
        for v in b.validations:
            con.execute("INSERT INTO validations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [b.build_id, v["table"], v["suite"], v["success"], v["evaluated"], v["failed"],
                         v["summary"], json.dumps(v["failures"]), v.get("docs_path")])
        return Registered(b.dataset, version, fingerprint, new, passed, parent)

    @staticmethod
    def _create_views(con: duckdb.DuckDBPyConnection, dataset: str, version: str,
                      files: list[tuple[str, str]], newest: bool) -> None:
        """A view per table of the version (`<dataset>.<table>_v1_2_0`), and the latest-version views
        (`<dataset>.<table>`) pointed at it, so `synth catalog sql` reads the Parquet files in place."""
        schema = schema_name(dataset)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for table, path in files:
            src = "read_parquet(" + "'" + path.replace("'", "''") + "')"
            con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{view_name(table, version)}" AS SELECT * FROM {src}')
            if newest:
                con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{view_name(table)}" AS SELECT * FROM {src}')

    # ---- reading -----------------------------------------------------------------------------

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        with self.connect(read_only=True) as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, row)) for row in cur.fetchall()]

    def latest_version(self, dataset: str) -> Optional[str]:
        rows = self.query("SELECT version FROM versions WHERE dataset = ?", [dataset])
        return max((r["version"] for r in rows), key=_version_key, default=None)

    def version_info(self, dataset: str, version: str) -> dict[str, Any]:
        """Everything the dataset card says, read back from the catalog (never from memory)."""
        v = self.query("SELECT * FROM versions WHERE dataset = ? AND version = ?", [dataset, version])
        if not v:
            raise SynthError(f"{dataset}@{version} is not in the catalog {self.path}; list versions with: synth catalog ls")
        info = v[0]
        build_id = info["build_id"]
        info["dataset_row"] = self.query("SELECT * FROM datasets WHERE name = ?", [dataset])[0]
        info["build"] = self.query("SELECT * FROM builds WHERE build_id = ?", [build_id])[0]
        info["files"] = self.query("SELECT * FROM files WHERE dataset = ? AND version = ? ORDER BY table_name",
                                   [dataset, version])
        info["funnel"] = self.query("SELECT * FROM funnel WHERE build_id = ? ORDER BY position", [build_id])
        for f in info["funnel"]:
            f["dropped"], f["labels"] = json.loads(f["dropped"]), json.loads(f["labels"])
            f["breakdown"] = json.loads(f["breakdown"] or "{}")
        info["usage"] = self.query("SELECT * FROM usage WHERE build_id = ?", [build_id])
        info["validations"] = self.query("SELECT * FROM validations WHERE build_id = ? ORDER BY table_name",
                                         [build_id])
        info["lineage"] = self.query("SELECT * FROM lineage WHERE dataset = ? AND version = ?", [dataset, version])
        info["publications"] = self.query("SELECT * FROM publications WHERE dataset = ? AND version = ? "
                                          "ORDER BY published_at", [dataset, version])
        return info

    def resolve(self, ref: str) -> tuple[str, str]:
        """`NAME@VERSION` or `NAME` (its latest version) -> (name, version), or an error saying what exists."""
        name, _, version = ref.partition("@")
        if not version:
            version = self.latest_version(name) or ""
            if not version:
                known = ", ".join(sorted({r["dataset"] for r in self.list_versions()})) or "none"
                raise SynthError(f"no dataset {name!r} in the catalog {self.path} (datasets: {known}); "
                                 f"list versions with: synth catalog ls")
        return name, version

    def record_publication(self, dataset: str, version: str, repo_id: str, endpoint: str, commit_oid: str,
                           tag: str) -> None:
        with self.connect() as con:
            con.execute("INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?, now())",
                        [dataset, version, repo_id, endpoint, commit_oid, tag])

    def list_versions(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT v.dataset, v.version, v.created_at, v.validation_passed, v.fingerprint, "
            "(SELECT sum(rows) FROM files f WHERE f.dataset = v.dataset AND f.version = v.version AND f.published) AS rows "
            "FROM versions v ORDER BY v.dataset, v.created_at")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
