"""How fast the viewer serves a large config: a 1,000,000-row ProcessBench config is registered in a
fresh catalog (written as the build writes Parquet), and the viewer's pages are requested through the
app itself (FastAPI in process, the HTTP layer included; no browser):

- the first request of a fresh viewer (reads the version's catalog record and checks the file's
  sha256, once per process);
- in another fresh viewer whose version was opened first (as a person goes catalog, version,
  config): the first page, again, a page at the end, a filtered page, a text search with many
  matches and with none;
- one record by id.

Goal: the first page of a 1M-row config renders in under a second. `--small` (20,000 rows) is what
the test suite runs. Usage: .venv/bin/python bench/view.py [--rows N] [--small]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog import BuildRecord, Catalog, FileEntry  # noqa: E402
from schemas.tables import PROCESSBENCH_SCHEMA  # noqa: E402
from synth.paths import sha256_file  # noqa: E402


def write_config(path: Path, rows: int) -> None:
    """ProcessBench rows: 3-6 steps each, from a pool of step texts, label -1..5."""
    rng = np.random.default_rng(0)
    n_steps = rng.integers(3, 7, rows)
    offsets = np.concatenate([[0], np.cumsum(n_steps)]).astype(np.int32)
    a, b = rng.integers(1, 1000, int(offsets[-1])), rng.integers(1, 100, int(offsets[-1]))
    values = pa.array([f"She buys {x} boxes of {y} pens, so {x} * {y} = {x * y} pens in all." for x, y in zip(a, b)],
                      pa.string())  # every step its own text, as in real data (no dictionary of a few)
    labels = np.minimum(rng.integers(-1, 6, rows), n_steps - 1).astype(np.int32)
    table = pa.table({
        "id": pa.array([f"pb-{i:07d}" for i in range(rows)], pa.string()),
        "generator": pa.array(np.where(rng.random(rows) < 0.5, "gold", "embedded:smollm2-135m-instruct"), pa.string()),
        "problem": pa.array([f"Problem {i}: a farmer has {i % 500} apples and sells {i % 37}. How many are left?"
                             for i in range(rows)], pa.string()),
        "steps": pa.ListArray.from_arrays(pa.array(offsets), values),
        "final_answer_correct": pa.array(labels < 0),
        "label": pa.array(labels),
        "seed_id": pa.array([f"seed-{i // 3:07d}" for i in range(rows)], pa.string()),
    }, schema=PROCESSBENCH_SCHEMA)
    pq.write_table(table, path, compression="zstd", write_page_checksum=True)  # as pipeline.write_step does


def register(root: Path, rows: int) -> Path:
    data = root / "builds" / "bench" / "data" / "processbench"
    data.mkdir(parents=True)
    path = data / "train-00000-of-00001.parquet"
    write_config(path, rows)
    now = datetime(2026, 1, 1)
    cat = Catalog(root / "catalog.duckdb")
    cat.register(BuildRecord(
        build_id="bench", dataset="bench-view", kind="error_injection", description="viewer bench",
        recipe_path="bench/view.py", recipe_yaml="name: bench-view\n", recipe_sha256="bench",
        requested_version=None, started_at=now, finished_at=now, build_dir=str(root / "builds" / "bench"),
        files=[FileEntry("processbench", str(path), sha256_file(path), rows, path.stat().st_size, True)],
        funnel=[], usage=[], validations=[]))
    return root / "catalog.duckdb"


def timed(client, url: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = client.get(url)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"{url}: HTTP {r.status_code}\n{r.text[:2000]}")
    return elapsed, r.text


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--small", action="store_true", help="20,000 rows (what the test suite runs)")
    args = ap.parse_args(argv)
    rows = 20_000 if args.small else args.rows
    from fastapi.testclient import TestClient

    from synth.view.app import create_app

    with tempfile.TemporaryDirectory(prefix="bench-view-") as tmp:
        t0 = time.perf_counter()
        catalog = register(Path(tmp), rows)
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet"))
        print(f"{rows:,} rows of processbench written and registered in {time.perf_counter() - t0:.1f} s "
              f"({size / 1e6:.1f} MB of Parquet)")
        base = "/d/bench-view/1.0.0/t/processbench"
        figures: dict[str, float] = {"rows": rows}
        # A fresh app, nothing read yet: the first request reads the version's catalog record and checks
        # the file's sha256 (once per process), then renders the page.
        client = TestClient(create_app(catalog), base_url="http://127.0.0.1")
        figures["first_request_cold_s"], text = timed(client, base)
        assert f"of {rows:,}" in text, "the row count is not on the page"
        print(f"{'first request, nothing read yet (catalog record + sha256 included)':<66} "
              f"{figures['first_request_cold_s'] * 1000:8.1f} ms")
        # Another fresh app, as a person uses it: the version's page was opened first (its catalog
        # record read, its files checked), then the config's first page.
        client = TestClient(create_app(catalog), base_url="http://127.0.0.1")
        viewer = client.app.state.viewer
        t0 = time.perf_counter()
        viewer.data("bench-view", "1.0.0").files("processbench")
        figures["open_version_s"] = time.perf_counter() - t0
        print(f"{'open the version (catalog record; file digest cached in process)':<66} "
              f"{figures['open_version_s'] * 1000:8.1f} ms")
        cases = [("first_page_s", base, "first page of the config"),
                 ("first_page_again_s", base, "first page again"),
                 ("deep_page_s", f"{base}?offset={rows - 50}&limit=25", f"page at row {rows - 50:,}"),
                 ("filtered_s", f"{base}?f.label=2", "filtered page (label = 2, with its count)"),
                 ("search_s", f"{base}?q=boxes%20of%207%20pens", "text search, many matches (counted up to 10,000)"),
                 ("search_none_s", f"{base}?q=no%20such%20words", "text search, no match (reads every row's text)"),
                 ("record_s", f"{base}/r/pb-{rows // 2:07d}", "one record by id")]
        for key, url, what in cases:
            elapsed, text = timed(client, url)
            if key.startswith(("first_page", "deep_page")):
                assert f"of {rows:,}" in text, f"{url}: the row count is not on the page"
            figures[key] = elapsed
            print(f"{what:<66} {elapsed * 1000:8.1f} ms")
        goal = "met" if figures["first_page_s"] < 1 else "NOT met"
        print(f"first page of a {rows:,} rows config: {figures['first_page_s']:.3f} s (goal < 1 s: {goal}); "
              f"{figures['first_request_cold_s']:.3f} s as the first request of a fresh viewer")
    return figures


if __name__ == "__main__":
    main()
