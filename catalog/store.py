"""Registration of builds in the DuckDB catalog.

DuckDB allows one writing process per file: every operation opens its own short connection and
retries while another process holds the lock, and a build is registered in one transaction so a crash
leaves either the whole version or nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import duckdb

from synth.errors import SynthError
from synth.paths import sha256_file

DDL = Path(__file__).with_name("schema.sql")  # schema version 1
MIGRATIONS = Path(__file__).with_name("migrations")  # NNN_name.sql, applied in order after version 1


def _migrations() -> list[tuple[int, Path]]:
    return sorted((int(p.name.split("_", 1)[0]), p) for p in MIGRATIONS.glob("[0-9][0-9][0-9]_*.sql"))




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
    build_dir: str = ""  # the folder holding the version's files (the first build's, for a duplicate)


# DuckDB's own schemas: a dataset named so would put its views among the catalog's tables.
RESERVED_SCHEMAS = frozenset({"main", "information_schema", "pg_catalog", "temp", "system"})


def schema_name(dataset: str) -> str:
    """The DuckDB schema holding a dataset's views: the dataset's name itself (quoted in SQL:
    `"quickstart-math-pairs".pairs`), so two datasets never share one. Recipe names are lower case
    (DuckDB compares identifiers case-insensitively), and DuckDB's own schema names are refused."""
    if dataset.lower() in RESERVED_SCHEMAS or '"' in dataset:
        raise SynthError(f"dataset name {dataset!r} cannot name a SQL schema (reserved by DuckDB: "
                         f"{', '.join(sorted(RESERVED_SCHEMAS))}); rename the recipe's `name`")
    return dataset


def _is_damage(e: Exception) -> bool:
    """A DuckDB error that says the file cannot be read (rather than that synth's SQL is wrong)."""
    return (isinstance(e, (duckdb.IOException, duckdb.InternalException, duckdb.FatalException,
                           duckdb.SerializationException)) or "corrupt" in str(e).lower())


def _old_schema_name(dataset: str) -> str:
    """The schema of catalogs before migration 005 (not injective: `a-b` and `a_b` shared `a_b`)."""
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
                    if number == 5:
                        self._rebuild_views(con)
                    con.execute("INSERT INTO schema_migrations VALUES (?, now())", [number])
            con.execute("COMMIT")
        except duckdb.Error as e:
            con.execute("ROLLBACK")
            if _is_damage(e):
                raise self.damaged(e) from None
            raise
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def check(self) -> None:
        """Reads the whole catalog before a build runs (it is small: the data lives in Parquet), so a
        truncated or damaged file fails now rather than at registration: the file must be as long as
        its header says, and every table must read back with valid block checksums."""
        with self.connect(read_only=True) as con:
            try:
                block_size, used = con.execute(
                    "SELECT block_size, used_blocks FROM pragma_database_size()").fetchone()
                expected = 3 * 4096 + block_size * used  # DuckDB's file headers, then at least the used blocks
                size = self.path.stat().st_size
                wal = self.path.with_name(self.path.name + ".wal")
                pending = wal.exists() and wal.stat().st_size > 0  # replayed blocks may not be in the file yet
                if size < expected and not pending:
                    raise self.damaged(f"the file has {size:,} bytes, but {used} blocks of {block_size:,} bytes "
                                       f"are in use: it was cut short")
                tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                     "WHERE database_name = current_database()").fetchall()
                for schema, table in tables:
                    con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            except duckdb.Error as e:
                raise self.damaged(e) from None

    def damaged(self, e: object) -> SynthError:
        """The one message for a catalog file DuckDB cannot read: which file, and what to do."""
        return SynthError(
            f"catalog {self.path} is damaged or unreadable ({str(e).splitlines()[0]}). "
            f"Restore it from a backup, or move it away (mv {self.path} {self.path}.damaged) and build again: the "
            f"builds' Parquet files under {self.path.parent / 'builds'} are not touched")

    def _rebuild_views(self, con: duckdb.DuckDBPyConnection) -> None:
        """Every version's views made again from the files table (views are derived, files are the
        record): the old per-dataset schemas are dropped first, then one schema per dataset."""
        datasets = [r[0] for r in con.execute("SELECT name FROM datasets").fetchall()]
        for d in datasets:
            old = _old_schema_name(d)
            if old.lower() not in RESERVED_SCHEMAS:
                con.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
        rows = con.execute("SELECT dataset, version, table_name, path FROM files").fetchall()
        by_version: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for d, v, t, path in rows:
            by_version.setdefault((d, v), []).append((t, path))
        for d in datasets:
            if d.lower() in RESERVED_SCHEMAS:  # recipes can no longer use such a name; its views are left out
                continue
            versions = sorted((v for (dd, v) in by_version if dd == d), key=_version_key)
            for v in versions:
                self._create_views(con, d, v, by_version[(d, v)], v == versions[-1])

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection, waiting while another process writes (DuckDB's single-writer lock)."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only and self.path.exists())
            except duckdb.Error as e:
                if "lock" not in str(e).lower():
                    raise self.damaged(e) from None
                if time.monotonic() > deadline:
                    raise SynthError(f"catalog {self.path}: another process holds it for longer than "
                                     f"{self.lock_timeout:.0f} s ({e})") from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def register(self, build: BuildRecord) -> Registered:
        fingerprint = build.fingerprint
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                registered = self._register(con, build, fingerprint)
                con.execute("COMMIT")
            except duckdb.Error as e:
                con.execute("ROLLBACK")
                if _is_damage(e):
                    raise self.damaged(e) from None
                raise
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
        # A duplicate's own folder is removed after registration (synth/pipeline.py): its build row
        # names the folder that holds the version's files.
        build_dir = b.build_dir if new else con.execute(
            "SELECT b.build_dir FROM versions v JOIN builds b ON b.build_id = v.build_id "
            "WHERE v.dataset = ? AND v.version = ?", [b.dataset, version]).fetchone()[0]
        con.execute(
            "INSERT INTO builds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [b.build_id, b.dataset, status, version, b.recipe_path, b.recipe_sha256, b.started_at, b.finished_at,
             (b.finished_at - b.started_at).total_seconds(), b.flow_run_id, build_dir])
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
        return Registered(b.dataset, version, fingerprint, new, passed, parent, build_dir)

    @staticmethod
    def _create_views(con: duckdb.DuckDBPyConnection, dataset: str, version: str,
                      files: list[tuple[str, str]], newest: bool) -> None:
        """A view per table of the version (`<dataset>.<table>_v1_2_0`), and the latest-version views
        (`<dataset>.<table>`) pointed at it, so `synth catalog sql` reads the Parquet files in place."""
        schema = schema_name(dataset)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        by_table: dict[str, list[str]] = {}
        for table, path in files:  # a table written in splits has one file per split: the view reads them all
            by_table.setdefault(table, []).append(path)
        for table, paths in by_table.items():
            src = "read_parquet([" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "])"
            con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{view_name(table, version)}" AS SELECT * FROM {src}')
            if newest:
                con.execute(f'CREATE OR REPLACE VIEW "{schema}"."{view_name(table)}" AS SELECT * FROM {src}')

    # ---- reading -----------------------------------------------------------------------------

    def query(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        """synth's own reads of the catalog tables (never user SQL: see `user_query`)."""
        with self.connect(read_only=True) as con:
            try:
                cur = con.execute(sql, params or [])
                cols = [d[0] for d in cur.description]
                return [dict(zip(cols, row)) for row in cur.fetchall()]
            except duckdb.Error as e:
                if _is_damage(e):
                    raise self.damaged(e) from None
                raise

    def _execute(self, sql: str, params: list[Any] | None = None) -> None:
        with self.connect() as con:
            try:
                con.execute(sql, params or [])
            except duckdb.Error as e:
                if _is_damage(e):
                    raise self.damaged(e) from None
                raise

    # ---- integrity of registered files ---------------------------------------------------------

    def file_checks(self, dataset: Optional[str] = None, version: Optional[str] = None) -> list["FileCheck"]:
        """Every registered file (of a dataset, of a version) checked against its recorded size and
        sha256: `ok`, `missing` or `changed`."""
        where, params = [], []
        if dataset:
            where.append("dataset = ?")
            params.append(dataset)
        if version:
            where.append("version = ?")
            params.append(version)
        rows = self.query("SELECT dataset, version, table_name, path, sha256, bytes FROM files"
                          + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY dataset, version, table_name",
                          params)
        return [check_file(r["dataset"], r["version"], r["table_name"], r["path"], r["bytes"], r["sha256"])
                for r in rows]

    def require_intact(self, dataset: str, version: str, files: list[dict[str, Any]]) -> None:
        """Refuses to serve or publish a version whose files are not the registered bytes."""
        bad = [c for c in (check_file(dataset, version, f["table_name"], f["path"], f["bytes"], f["sha256"])
                           for f in files) if c.status != "ok"]
        if bad:
            raise SynthError(self.damage_message(bad))

    def damage_message(self, bad: list["FileCheck"]) -> str:
        first = bad[0]
        ref = f"{first.dataset}@{first.version}"
        recipe = self.query("SELECT b.recipe_path FROM versions v JOIN builds b ON b.build_id = v.build_id "
                            "WHERE v.dataset = ? AND v.version = ?", [first.dataset, first.version])
        rebuild = f"synth build {recipe[0]['recipe_path']}" if recipe else "synth build RECIPE"
        others = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        return (f"{ref}: the {first.table} file {first.path} is {first.status} ({first.detail}){others}; "
                f"it is not read, served or published. Restore it from a backup, or run the recipe again "
                f"({rebuild}): an identical build restores the registered files. "
                f"List every damaged file with: synth catalog verify {ref}")

    def restore_files(self, dataset: str, version: str, candidates: list[FileEntry]) -> list[str]:
        """Puts back registered files that are missing or changed, from another build's files with
        the registered sha256 (an identical rebuild); returns the paths restored."""
        by_hash = {c.sha256: c.path for c in candidates}
        restored = []
        for c in self.file_checks(dataset, version):
            src = by_hash.get(c.sha256)
            if c.status == "ok" or src is None or sha256_file(Path(src)) != c.sha256:
                continue
            dest = Path(c.path)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + f".restore-{os.getpid()}")
            tmp.write_bytes(Path(src).read_bytes())
            os.replace(tmp, dest)
            restored.append(c.path)
        return restored

    # ---- user SQL ----------------------------------------------------------------------------

    def user_query(self, sql: str) -> list[dict[str, Any]]:
        """`synth catalog sql`: one SELECT, on a read-only connection with DuckDB's external access
        off and its configuration locked, so it cannot write a file (COPY ... TO, EXPORT), attach a
        database or read one outside the catalog. The only files it may open are registered files,
        each checked against its recorded sha256 first: DuckDB names the first file a query needs
        when it is not allowed, which is checked and allowed in turn (binding opens every file of
        the views a query names before anything runs)."""
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as e:
            raise SynthError(f"query failed: {e}{self._schema_hint(str(e))}") from None
        kinds = [s.type.name for s in statements]
        if len(kinds) != 1 or kinds[0] not in ("SELECT", "EXPLAIN"):
            raise SynthError(f"catalog sql runs one read-only SELECT statement; got {', '.join(kinds) or 'nothing'}")
        allowed: list[str] = []
        while True:
            with self.connect(read_only=True) as con:
                con.execute("SET allowed_paths = [" + ", ".join("'" + p.replace("'", "''") + "'" for p in allowed) + "]")
                con.execute("SET temp_directory = ''")  # no spill files either
                con.execute("SET autoinstall_known_extensions = false")
                con.execute("SET autoload_known_extensions = false")
                con.execute("SET enable_external_access = false")
                con.execute("SET lock_configuration = true")
                try:
                    cur = con.execute(sql)
                    cols = [d[0] for d in cur.description]
                    return [dict(zip(cols, row)) for row in cur.fetchall()]
                except duckdb.PermissionException as e:
                    path = self._registered_file(e, allowed)
                except (duckdb.CatalogException, duckdb.ParserException, duckdb.BinderException) as e:
                    raise SynthError(f"query failed: {e}{self._schema_hint(str(e))}") from None
                except (duckdb.IOException, duckdb.InternalException, duckdb.FatalException) as e:
                    raise self.damaged(e) from None
                except duckdb.Error as e:
                    raise SynthError(f"query failed: {e}") from None
            allowed.append(path)

    def _registered_file(self, e: Exception, allowed: list[str]) -> str:
        """The registered, intact file a denied read asked for; anything else is refused."""
        m = re.search(r'Cannot access (?:file|directory) "(.+?)"', str(e))
        path = m.group(1) if m else None
        rows = self.query("SELECT dataset, version, table_name, path, sha256, bytes FROM files WHERE path = ?",
                          [path]) if path else []
        if not rows or path in allowed:
            raise SynthError(f"query refused: catalog sql reads the catalog and the registered files only, "
                             f"and writes nothing ({str(e).splitlines()[0]})")
        r = rows[0]
        c = check_file(r["dataset"], r["version"], r["table_name"], path, r["bytes"], r["sha256"])
        if c.status != "ok":
            raise SynthError(self.damage_message([c]))
        return path

    def _schema_hint(self, error: str) -> str:
        """Names the schema to use when a query names a dataset the way SQL cannot read it."""
        names = sorted({r["dataset"] for r in self.query("SELECT name AS dataset FROM datasets")})
        mentioned = [n for n in names if n in error or _old_schema_name(n) in error]
        if not mentioned and "schema" not in error.lower() and "syntax error" not in error.lower():
            return ""
        shown = mentioned or names[:5]
        if not shown:
            return ""
        return ("; each dataset's views are in a schema named exactly as the dataset, in double quotes: "
                + ", ".join(f'"{n}".<table>' for n in shown))

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
        self._execute("INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?, now())",
                      [dataset, version, repo_id, endpoint, commit_oid, tag])

    # ---- publish attempts (the recoverable publishing protocol of synth/publish.py) -------------

    def start_attempt(self, attempt_id: str, dataset: str, version: str, repo_id: str, endpoint: str, tag: str,
                      staging_branch: str) -> None:
        self._execute("INSERT INTO publish_attempts VALUES (?, ?, ?, ?, ?, ?, ?, 'started', NULL, NULL, NULL, "
                      "'recorded before any request', now(), now())",
                      [attempt_id, dataset, version, repo_id, endpoint, tag, staging_branch])

    def update_attempt(self, attempt_id: str, step: str, note: str, **commits: Optional[str]) -> None:
        sets = ", ".join(f"{k} = ?" for k in commits)
        self._execute(f"UPDATE publish_attempts SET step = ?, note = ?, updated_at = now()"
                      f"{', ' + sets if sets else ''} WHERE attempt_id = ?",
                      [step, note, *commits.values(), attempt_id])

    def attempts(self, dataset: str, version: str, repo_id: str, endpoint: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM publish_attempts WHERE dataset = ? AND version = ? AND repo_id = ? "
                          "AND endpoint = ? ORDER BY started_at", [dataset, version, repo_id, endpoint])

    def publications_of(self, dataset: str, version: str, repo_id: str, endpoint: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM publications WHERE dataset = ? AND version = ? AND repo_id = ? "
                          "AND endpoint = ?", [dataset, version, repo_id, endpoint])

    def referenced_paths(self) -> tuple[set[str], list[str]]:
        """What the catalog refers to on disk: the builds' folders, and every registered file."""
        dirs = {r["build_dir"] for r in self.query("SELECT DISTINCT build_dir FROM builds")}
        return dirs, [r["path"] for r in self.query("SELECT path FROM files")]

    def list_versions(self) -> list[dict[str, Any]]:
        return self.query(
            "SELECT v.dataset, v.version, v.created_at, v.validation_passed, v.fingerprint, "
            "(SELECT sum(rows) FROM files f WHERE f.dataset = v.dataset AND f.version = v.version AND f.published) AS rows "
            "FROM versions v ORDER BY v.dataset, v.created_at")

    # ---- human review (synth/view/): the only rows the viewer writes ---------------------------

    REVIEW_DECISIONS = ("accepted", "rejected", "relabelled", "comment")

    def add_review(self, dataset: str, version: str, table: str, record_id: str, content_sha256: str,
                   decision: str, reviewer: str, reason: str = "", label_field: Optional[str] = None,
                   old_value: Optional[str] = None, new_value: Optional[str] = None, comment: str = "") -> str:
        """Adds one review row (never updates one: a record's latest row is its review) and returns its
        id. Nothing else in the catalog, and nothing of the version's files, is written."""
        import secrets

        if decision not in self.REVIEW_DECISIONS:
            raise SynthError(f"review decision must be one of {', '.join(self.REVIEW_DECISIONS)}, got {decision!r}")
        if not self.query("SELECT 1 FROM versions WHERE dataset = ? AND version = ?", [dataset, version]):
            raise SynthError(f"{dataset}@{version} is not in the catalog {self.path}; nothing was reviewed")
        review_id = f"r-{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(6)}"
        self._execute("INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      [review_id, dataset, version, table, record_id, content_sha256, decision, reason,
                       label_field, old_value, new_value, comment, reviewer, utcnow()])
        return review_id

    def reviews(self, dataset: str, version: str, table: Optional[str] = None,
                record_id: Optional[str] = None) -> list[dict[str, Any]]:
        """A version's review rows, oldest first (the last row of a record is its review)."""
        where, params = ["dataset = ?", "version = ?"], [dataset, version]
        for col, value in (("table_name", table), ("record_id", record_id)):
            if value is not None:
                where.append(f"{col} = ?")
                params.append(value)
        return self.query(f"SELECT * FROM reviews WHERE {' AND '.join(where)} ORDER BY created_at, review_id", params)


@dataclass(frozen=True)
class FileCheck:
    dataset: str
    version: str
    table: str
    path: str
    sha256: str
    status: str  # ok | missing | changed
    detail: str


# sha256 of files already read in this process, by path, with the stat they had then: a file is hashed
# again only when its inode, size, mtime or ctime changed (ctime cannot be set back by a user).
_DIGESTS: dict[str, tuple[tuple[int, ...], str]] = {}


def _stat_key(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digest(path: str) -> str:
    """sha256 of a file, computed once per process while the file is unchanged."""
    key = _stat_key(os.stat(path))
    cached = _DIGESTS.get(path)
    if cached and cached[0] == key:
        return cached[1]
    digest = sha256_file(Path(path))
    if _stat_key(os.stat(path)) == key:  # not cached when it changed while being read
        _DIGESTS[path] = (key, digest)
    return digest


def check_file(dataset: str, version: str, table: str, path: str, size: int, sha256: str) -> FileCheck:
    """Whether a registered file still holds the registered bytes (size first, then sha256)."""
    def result(status: str, detail: str) -> FileCheck:
        return FileCheck(dataset, version, table, path, sha256, status, detail)

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return result("missing", "no such file")
    if st.st_size != size:
        return result("changed", f"{st.st_size} bytes, the catalog records {size}")
    digest = file_digest(path)
    if digest != sha256:
        return result("changed", f"sha256 {digest[:16]}…, the catalog records {sha256[:16]}…")
    return result("ok", f"{size} bytes, sha256 {sha256[:16]}…")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
