"""What checking registered files against the catalog costs (issue 17): a registered Parquet file
is read by pyarrow and by `catalog sql` with and without the sha256 check, interleaved in one
process, and the per-process digest cache is measured on a second read.

Prints, for a file of about --mb MB: sha256 throughput, the first checked read and a repeated one
against a plain read (ratios), `catalog sql` (one SELECT, locked down, file checked) against DuckDB
reading the same file directly, and `Catalog.check()` (the catalog read through before a build).

    .venv/bin/python bench/integrity.py [--mb 200] [--rounds 3] [--small]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from catalog import BuildRecord, Catalog, FileEntry  # noqa: E402
from catalog import store  # noqa: E402
from synth.paths import sha256_file  # noqa: E402


def make(folder: Path, mb: int) -> tuple[Catalog, str]:
    """A catalog with one version whose one table is a Parquet file of about `mb` MB."""
    rng = np.random.default_rng(0)
    rows = mb * 1024 * 1024 // 16
    table = pa.table({"a": rng.integers(0, 2**62, rows), "b": rng.random(rows)})
    path = folder / "builds" / "b" / "data" / "pairs" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path, compression="none", write_page_checksum=True)
    now = datetime(2026, 1, 1)
    cat = Catalog(folder / "catalog.duckdb")
    cat.register(BuildRecord(
        build_id="b", dataset="bench-set", kind="preference", description="", recipe_path="r", recipe_yaml="r",
        recipe_sha256="s", requested_version=None, started_at=now, finished_at=now, build_dir=str(path.parents[2]),
        files=[FileEntry("pairs", str(path), sha256_file(path), rows, path.stat().st_size, True)],
        funnel=[], usage=[], validations=[]))
    return cat, str(path)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", action="store_true", help="a 4 MB file, one round (the test suite runs this)")
    args = ap.parse_args(argv)
    mb, rounds = (4, 1) if args.small else (args.mb, args.rounds)
    with tempfile.TemporaryDirectory() as tmp:
        cat, path = make(Path(tmp), mb)
        f = cat.query("SELECT * FROM files")[0]
        size = Path(path).stat().st_size
        sql = 'SELECT count(*), sum(a % 7) FROM "bench-set".pairs'
        raw_sql = f"SELECT count(*), sum(a % 7) FROM read_parquet('{path}')"
        m: dict[str, list[float]] = {k: [] for k in ("plain", "checked_first", "checked_again", "sha256",
                                                      "sql_raw", "sql_checked", "catalog_check")}
        for _ in range(rounds):  # interleaved: the machine's speed drifts
            m["plain"].append(timed(lambda: pq.read_table(path)))
            store._DIGESTS.clear()
            m["checked_first"].append(timed(lambda: (cat.require_intact("bench-set", "1.0.0", [f]),
                                                    pq.read_table(path))))
            m["checked_again"].append(timed(lambda: (cat.require_intact("bench-set", "1.0.0", [f]),
                                                    pq.read_table(path))))
            m["sha256"].append(timed(lambda: sha256_file(Path(path))))
            m["sql_raw"].append(timed(lambda: duckdb.connect().execute(raw_sql).fetchall()))
            store._DIGESTS.clear()
            m["sql_checked"].append(timed(lambda: cat.user_query(sql)))
            m["catalog_check"].append(timed(cat.check))
        med = {k: statistics.median(v) for k, v in m.items()}
    print(f"file: {size / 1e6:.1f} MB, {rounds} round(s), medians")
    print(f"  sha256:                         {size / med['sha256'] / 1e6:8.0f} MB/s")
    print(f"  pyarrow read, plain:            {med['plain'] * 1000:8.1f} ms")
    print(f"  checked read, first in process: {med['checked_first'] * 1000:8.1f} ms "
          f"(x{med['checked_first'] / med['plain']:.2f} of plain)")
    print(f"  checked read, again:            {med['checked_again'] * 1000:8.1f} ms "
          f"(x{med['checked_again'] / med['plain']:.2f} of plain)")
    print(f"  catalog sql, checked + locked:  {med['sql_checked'] * 1000:8.1f} ms "
          f"(x{med['sql_checked'] / med['sql_raw']:.2f} of DuckDB reading the file directly)")
    print(f"  Catalog.check():                {med['catalog_check'] * 1000:8.1f} ms")
    return med


if __name__ == "__main__":
    main()
