"""The catalog as trainers use it (synth.load, SQL views, show, diff), concurrent registration, and
publishing to a Hub: the real huggingface_hub client against a loopback server that keeps what was
committed. Builds use the rule-based injection recipe (no model), so they take seconds."""

from __future__ import annotations

import multiprocessing
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from catalog import BuildRecord, Catalog, FileEntry
from synth.cli import app
from synth.errors import SynthError
from tests.conftest import GSM8K_TRAIN, REPO
from tests.hub_server import FakeHub

TOKEN = "hf_synthtest_" + "x7" * 12


def recipe(folder: Path, limit: int, name: str = "r.yaml", **extra) -> Path:
    r = yaml.safe_load((REPO / "recipes" / "gsm8k-injected-errors.yaml").read_text())
    r["seeds"].update(path=str(GSM8K_TRAIN), limit=limit)
    r.pop("gates", None)
    r["stages"].pop("filter", None)
    r.update(extra)
    path = folder / name
    path.write_text(yaml.safe_dump(r, sort_keys=False))
    return path


def rows(data: Path, version: str, table: str, split: str | None = None) -> int:
    """Rows the catalog records for a table of a version (all its split files, or one split's)."""
    files = Catalog(data / "catalog.duckdb").query(
        "SELECT path, rows FROM files WHERE version = ? AND table_name = ?", [version, table])
    return sum(f["rows"] for f in files if split is None or Path(f["path"]).name.startswith(f"{split}-"))


@pytest.fixture(scope="module")
def two_versions(prefect_harness, tmp_path_factory):
    """1.0.0 from 20 problems, then 1.1.0 from 30 (a changed recipe: its parent is 1.0.0)."""
    from flows.build import build_dataset

    folder = tmp_path_factory.mktemp("catalog")
    data = folder / "data"
    first = build_dataset(str(recipe(folder, 20, "a.yaml")), str(data), progress=False)
    second = build_dataset(str(recipe(folder, 30, "b.yaml")), str(data), progress=False)
    return data, first, second


def test_versions_parent_and_load(two_versions):
    import synth

    data, first, second = two_versions
    assert (first.version, second.version) == ("1.0.0", "1.1.0")
    info = Catalog(data / "catalog.duckdb").version_info(second.dataset, "1.1.0")
    assert info["parent_version"] == "1.0.0"
    latest = synth.load(first.dataset, data_dir=data)  # latest version, default config
    assert len(latest) == rows(data, "1.1.0", "processbench") and "label" in latest.column_names
    old = synth.load(first.dataset, "1.0.0", table="injections", data_dir=data)
    assert len(old) == rows(data, "1.0.0", "injections")
    with pytest.raises(SynthError, match="has no table 'pairs'"):
        synth.load(first.dataset, table="pairs", data_dir=data)
    with pytest.raises(SynthError, match="no dataset 'nope'"):
        synth.load("nope", data_dir=data)


def test_sql_show_and_diff(two_versions):
    data, first, second = two_versions
    runner = CliRunner()
    schema = first.dataset  # one schema per dataset, named as the dataset
    out = runner.invoke(app, ["catalog", "sql", f'SELECT count(*) AS n FROM "{schema}".processbench',
                              "--data-dir", str(data), "--json"])
    assert out.exit_code == 0 and f'"n": {rows(data, "1.1.0", "processbench")}' in out.output
    out = runner.invoke(app, ["catalog", "sql", f'SELECT count(*) AS n FROM "{schema}".processbench_v1_0_0',
                              "--data-dir", str(data), "--json"])
    assert f'"n": {rows(data, "1.0.0", "processbench")}' in out.output
    out = runner.invoke(app, ["catalog", "sql", "SELECT * FROM nowhere", "--data-dir", str(data)])
    assert out.exit_code == 1 and "query failed" in out.output

    out = runner.invoke(app, ["catalog", "show", f"{first.dataset}@1.1.0", "--data-dir", str(data)])
    assert out.exit_code == 0 and second.fingerprint in out.output and "parent 1.0.0" in out.output
    assert "processbench_v1_1_0" in out.output

    out = runner.invoke(app, ["catalog", "diff", f"{first.dataset}@1.0.0", f"{first.dataset}@1.1.0",
                              "--data-dir", str(data)])
    assert out.exit_code == 0 and "recipe changed" in out.output
    from synth.access import diff

    d = diff(Catalog(data / "catalog.duckdb"), f"{first.dataset}@1.0.0", f"{first.dataset}@1.1.0")
    pb = next(t for t in d["tables"] if t["table"] == "processbench")
    assert pb["rows_added"] - pb["rows_removed"] == pb["rows_b"] - pb["rows_a"] > 0
    assert pb["columns_added"] == pb["columns_removed"] == [] and pb["types_changed"] == {}
    assert any(s["stage"] == "seeds" for s in d["funnel"])
    same = diff(Catalog(data / "catalog.duckdb"), f"{first.dataset}@1.0.0", f"{first.dataset}@1.0.0")
    assert same["same_content"] and all(t.get("rows_added") == 0 for t in same["tables"])


def test_card_says_what_changed_and_every_config_loads(two_versions):
    import datasets

    data, first, second = two_versions
    card = (Path(second.hub_dir) / "README.md").read_text()
    assert "## Changes since the parent version" in card and f"From {first.dataset}@1.0.0" in card
    first_card = (Path(first.hub_dir) / "README.md").read_text()
    assert "This is the dataset's first version." in first_card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert {"license", "task_categories", "size_categories", "tags", "configs", "pretty_name"} <= set(meta)
    for section in ("## Record schema", "## Provenance", "## Funnel", "## Validation", "## Known limitations",
                    "## Citations"):
        assert section in card
    for cfg in meta["configs"]:
        ds = datasets.load_dataset(str(second.hub_dir), cfg["config_name"], split="train",
                                   cache_dir=str(Path(second.build_dir) / "hf-cache"))
        assert len(ds) == rows(data, "1.1.0", cfg["config_name"], "train")


def test_publish_to_a_hub(two_versions, monkeypatch):
    """Dry run stages only; a publish is one commit on main with the card and files, tagged; the
    token is used but written nowhere; a second version replaces the files and gets its own tag."""
    data, first, second = two_versions
    runner = CliRunner()
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with FakeHub(token=TOKEN) as hub:
        out = runner.invoke(app, ["publish", f"{first.dataset}@1.0.0", "--dry-run", "--data-dir", str(data)])
        assert out.exit_code == 0 and "nothing uploaded" in out.output and hub.requests == []
        out = runner.invoke(app, ["publish", f"{first.dataset}@1.0.0", "--repo", "org/errors", "--endpoint", hub.url,
                                  "--data-dir", str(data)])
        assert out.exit_code == 0, out.output
        folder = Path(first.hub_dir)
        local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        main = hub.files("org/errors", "main")
        assert {k: v for k, v in main.items() if k != ".gitattributes"} == local
        assert hub.files("org/errors", "v1.0.0") == main
        repo = hub.repos["org/errors"]
        assert set(repo.branches) == {"main"}  # the staging branch is gone
        pubs = Catalog(data / "catalog.duckdb").version_info(first.dataset, "1.0.0")["publications"]
        assert [(p["repo_id"], p["tag"], p["commit_oid"]) for p in pubs] == [("org/errors", "v1.0.0",
                                                                               repo.branches["main"])]
        assert all(h == f"Bearer {TOKEN}" for h in hub.auth_headers)
        # the same version again: the Hub is read back, found to hold it, and nothing is changed
        commits = len(repo.commits)
        out = runner.invoke(app, ["publish", f"{first.dataset}@1.0.0", "--repo", "org/errors", "--endpoint", hub.url,
                                  "--data-dir", str(data)])
        assert out.exit_code == 0, out.output
        assert "holds exactly the" in out.output and "main's head" in out.output
        assert len(repo.commits) == commits and set(repo.branches) == {"main"}
        assert len(Catalog(data / "catalog.duckdb").version_info(first.dataset, "1.0.0")["publications"]) == 1
        out = runner.invoke(app, ["publish", first.dataset, "--repo", "org/errors", "--endpoint", hub.url,
                                  "--data-dir", str(data)])  # the latest: 1.1.0
        assert out.exit_code == 0, out.output
        assert set(repo.tags) == {"v1.0.0", "v1.1.0"} and hub.files("org/errors", "v1.1.0") == hub.files("org/errors")
        assert hub.files("org/errors", "v1.0.0")["README.md"] != hub.files("org/errors")["README.md"]
    for path in data.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in out.output


@pytest.mark.parametrize("failing", ["tag", "commit:main", "commit"])
def test_failed_publish_leaves_hub_and_catalog_as_they_were(two_versions, monkeypatch, tmp_path, failing):
    from synth.publish import publish

    data, first, _ = two_versions
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    catalog = Catalog(data / "catalog.duckdb")
    before = catalog.query("SELECT count(*) AS n FROM publications")[0]["n"]
    with FakeHub(token=TOKEN) as hub:
        hub.fail.add(failing)
        with pytest.raises(SynthError, match=r"tag v1.0.0 is absent, branch .* is gone, main is at \w+ \(unchanged\); "
                                             r"the catalog records no publication"):
            publish(catalog, f"{first.dataset}@1.0.0", "org/fails", tmp_path, endpoint=hub.url)
        repo = hub.repos["org/fails"]
        assert set(repo.branches) == {"main"} and repo.tags == {}
        assert set(hub.files("org/fails")) == {".gitattributes"}  # main as created, nothing of the version
    assert catalog.query("SELECT count(*) AS n FROM publications")[0]["n"] == before


def test_a_failed_version_is_not_published(prefect_harness, tmp_path):
    from flows.build import build_dataset
    from synth.errors import ValidationFailed
    from synth.publish import publish

    data = tmp_path / "data"
    path = recipe(tmp_path, 5, gates={"min_rows": {"injections": 100_000}})
    with pytest.raises(ValidationFailed):
        build_dataset(str(path), str(data), progress=False)
    catalog = Catalog(data / "catalog.duckdb")
    with pytest.raises(SynthError, match="failed validation"):
        publish(catalog, "gsm8k-injected-errors", "org/x", tmp_path, dry_run=True)


def _parquet(path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1]}), path)
    return str(path)


def _register_many(path: str, dataset: str, n: int) -> None:
    cat = Catalog(path)
    for i in range(n):
        f = _parquet(Path(path).parent / f"{dataset}-{i}.parquet")
        now = datetime(2026, 1, 1) + timedelta(seconds=i)
        cat.register(BuildRecord(
            build_id=f"{dataset}-{i}", dataset=dataset, kind="preference", description="", recipe_path="r",
            recipe_yaml=f"r{i}", recipe_sha256=f"sha{i}", requested_version=None, started_at=now, finished_at=now,
            build_dir="d", files=[FileEntry("pairs", f, f"h{dataset}{i}", 1, 1, True)],
            funnel=[], usage=[], validations=[]))


def test_two_processes_registering_at_once_both_land(tmp_path):
    """DuckDB takes one writer at a time: each process waits for the lock, so every registration lands."""
    path = str(tmp_path / "catalog.duckdb")
    Catalog(path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_register_many, args=(path, name, 15)) for name in ("one", "two")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    rows = Catalog(path).query("SELECT dataset, count(*) AS n FROM versions GROUP BY dataset ORDER BY dataset")
    assert rows == [{"dataset": "one", "n": 15}, {"dataset": "two", "n": 15}]
    assert Catalog(path).latest_version("one") == "1.14.0"


def test_a_crash_while_registering_leaves_nothing(tmp_path):
    path = tmp_path / "catalog.duckdb"
    now = datetime(2026, 1, 1)
    bad = BuildRecord(build_id="b", dataset="d", kind="preference", description="", recipe_path="r", recipe_yaml="r",
                      recipe_sha256="s", requested_version=None, started_at=now, finished_at=now, build_dir="d",
                      files=[FileEntry("pairs", _parquet(tmp_path / "p.parquet"), "h", 1, 1, True)], funnel=[], usage=[],
                      validations=[{"table": "pairs"}])  # missing fields: fails after versions and files are written
    with pytest.raises(KeyError):
        Catalog(path).register(bad)
    cat = Catalog(path)
    assert cat.query("SELECT count(*) AS n FROM versions")[0]["n"] == 0
    assert cat.query("SELECT count(*) AS n FROM files")[0]["n"] == 0
    assert cat.query("SELECT count(*) AS n FROM builds")[0]["n"] == 0
    assert cat.query("SELECT count(*) AS n FROM duckdb_views() WHERE schema_name = 'd'")[0]["n"] == 0
