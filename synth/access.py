"""Trainers' access to built versions: load one as a `datasets.Dataset`, and compare two versions.

Everything is read from the catalog (paths, rows, funnel), never from a build's memory, and every
registered file is checked against its recorded size and sha256 before it is read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from catalog import Catalog
from synth.errors import SynthError
from synth.paths import data_dir as default_data_dir


def check_data_dir(data_dir: str | Path | None = None, use_cache: bool = True) -> None:
    """What a build will write to, opened before any stage runs: a damaged catalog or response cache
    fails here with the file and what to do, not after generation."""
    from synth.cache import ResponseCache
    from synth.cache import default_cache_path

    root = Path(data_dir).resolve() if data_dir else default_data_dir()
    if (root / "catalog.duckdb").exists():
        Catalog(root / "catalog.duckdb").check()  # raises a SynthError naming the file when damaged
    cache = default_cache_path(root)
    if use_cache and cache.exists():
        c = ResponseCache(cache)
        try:
            c.check()
        finally:
            c.close()


def open_catalog(data_dir: str | Path | None = None) -> Catalog:
    root = Path(data_dir).resolve() if data_dir else default_data_dir()
    path = root / "catalog.duckdb"
    if not path.exists():
        raise SynthError(f"no catalog at {path}; build something first: synth build recipes/quickstart.yaml "
                         f"(or pass data_dir / --data-dir, or set SYNTH_HOME)")
    catalog = Catalog(path)
    catalog.check()  # a damaged catalog is one clear error, whichever command reads it
    return catalog


def default_table(info: dict[str, Any]) -> str:
    """The version's default config: the first published table in its kind's order."""
    from synth.registry import publish_order

    published = {f["table_name"] for f in info["files"] if f["published"]}
    order = publish_order(info["dataset_row"]["kind"])
    return next(t for t in order if t in published)


def load(name: str, version: Optional[str] = None, table: Optional[str] = None,
         data_dir: str | Path | None = None, split: Optional[str] = None):
    """A built version's table as a `datasets.Dataset` (the latest version when none is given; the
    version's default config when no table is given). Unpublished tables (rejects, seeds,
    contamination) load too, by name."""
    import datasets

    catalog = open_catalog(data_dir)
    name, version = catalog.resolve(f"{name}@{version}" if version else name)
    info = catalog.version_info(name, version)
    table = table or default_table(info)
    files = [f["path"] for f in info["files"] if f["table_name"] == table]
    if not files:
        have = ", ".join(sorted(f["table_name"] for f in info["files"]))
        raise SynthError(f"{name}@{version} has no table {table!r} (tables: {have})")
    if split is not None:  # files are named <split>-00000-of-00001.parquet, as on the Hub
        splits = sorted({Path(p).name.split("-")[0] for p in files})
        files = [p for p in files if Path(p).name.split("-")[0] == split]
        if not files:
            raise SynthError(f"{name}@{version} table {table!r} has no split {split!r} (splits: {', '.join(splits)})")
    catalog.require_intact(name, version, [f for f in info["files"] if f["path"] in files])
    return datasets.Dataset.from_parquet(files, cache_dir=str(Path(files[0]).parent / ".hf-cache"))


def _row_hashes(path: str) -> set[str]:
    import pyarrow.parquet as pq

    return {hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()
            for r in pq.read_table(path, page_checksum_verification=True).to_pylist()}


def _schema(path: str) -> dict[str, str]:
    import pyarrow.parquet as pq

    return {f.name: str(f.type) for f in pq.read_schema(path)}


def diff(catalog: Catalog, a: str, b: str) -> dict[str, Any]:
    """What changed from version A to version B: rows per table, schema changes, funnel changes, and
    rows added and removed (by content hash of each row)."""
    (na, va), (nb, vb) = catalog.resolve(a), catalog.resolve(b)
    ia, ib = catalog.version_info(na, va), catalog.version_info(nb, vb)
    catalog.require_intact(na, va, ia["files"])
    catalog.require_intact(nb, vb, ib["files"])
    fa: dict[str, list[dict[str, Any]]] = {}
    fb: dict[str, list[dict[str, Any]]] = {}
    for info, by_table in ((ia, fa), (ib, fb)):  # a table written in splits has a file per split
        for f in info["files"]:
            by_table.setdefault(f["table_name"], []).append(f)
    tables = []
    for t in sorted(set(fa) | set(fb)):
        row: dict[str, Any] = {"table": t, "rows_a": sum(f["rows"] for f in fa[t]) if t in fa else None,
                               "rows_b": sum(f["rows"] for f in fb[t]) if t in fb else None}
        if t in fa and t in fb:
            sa, sb = _schema(fa[t][0]["path"]), _schema(fb[t][0]["path"])
            row["columns_added"] = sorted(set(sb) - set(sa))
            row["columns_removed"] = sorted(set(sa) - set(sb))
            row["types_changed"] = {c: [sa[c], sb[c]] for c in sorted(set(sa) & set(sb)) if sa[c] != sb[c]}
            if sorted(f["sha256"] for f in fa[t]) == sorted(f["sha256"] for f in fb[t]):
                row["rows_added"] = row["rows_removed"] = 0
            else:
                ha = set().union(*(_row_hashes(f["path"]) for f in fa[t]))
                hb = set().union(*(_row_hashes(f["path"]) for f in fb[t]))
                row["rows_added"], row["rows_removed"] = len(hb - ha), len(ha - hb)
        tables.append(row)

    def funnel(info: dict[str, Any]) -> dict[str, tuple[int, int, dict]]:
        out: dict[str, tuple[int, int, dict]] = {}
        for f in info["funnel"]:
            key = f["stage"] if f["stage"] not in out else f"{f['stage']} ({f['unit_in']})"
            out[key] = (f["n_in"], f["n_out"], f["dropped"])
        return out

    ga, gb = funnel(ia), funnel(ib)
    stages = []
    for s in list(dict.fromkeys([*ga, *gb])):
        x, y = ga.get(s), gb.get(s)
        if x != y:
            stages.append({"stage": s, "a": x[:2] if x else None, "b": y[:2] if y else None,
                           "dropped_a": x[2] if x else None, "dropped_b": y[2] if y else None})
    return {"a": f"{na}@{va}", "b": f"{nb}@{vb}", "same_content": ia["fingerprint"] == ib["fingerprint"],
            "recipe_changed": ia["recipe_sha256"] != ib["recipe_sha256"], "tables": tables, "funnel": stages}
