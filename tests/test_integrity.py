"""Integrity end to end (issue 17), each fault through the real CLI: a flipped byte in a data page or
in the footer of a registered Parquet file, a missing file, a Hub stand-in killed (SIGKILL) just
before and just after the main commit of a publish, then the retry; a damaged catalog and response
cache; SQL that tries to write or read outside the catalog; two dataset names that once shared a
SQL schema; a build killed with SIGKILL and `synth gc`; concurrent stagings of one version.
Builds use the rule-based injection recipe (no model), so they take seconds."""

from __future__ import annotations

import json
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from catalog import Catalog
from synth.cli import app
from synth.errors import SynthError
from tests.conftest import REPO
from tests.hub_server import FakeHub, git_blob_id
from tests.test_catalog_publish import TOKEN, recipe

runner = CliRunner()


def named(path: Path, dataset: str) -> Path:
    """The recipe at `path` building the dataset `dataset`."""
    import yaml

    r = yaml.safe_load(path.read_text())
    r["name"] = dataset
    path.write_text(yaml.safe_dump(r, sort_keys=False))
    return path


def cli(*args: str):
    out = runner.invoke(app, list(args))
    # every fault is a clean error: a Typer exit, never an exception escaping with a traceback
    assert out.exception is None or isinstance(out.exception, SystemExit), out.output
    return out


@pytest.fixture(scope="module")
def built(prefect_harness, tmp_path_factory):
    """One registered version (1.0.0) of gsm8k-injected-errors from 20 problems."""
    from flows.build import build_dataset

    folder = tmp_path_factory.mktemp("integrity")
    data = folder / "data"
    summary = build_dataset(str(recipe(folder, 20, "a.yaml")), str(data), progress=False)
    return data, summary, folder / "a.yaml"


def _file(data: Path, table: str = "processbench") -> dict:
    rows = Catalog(data / "catalog.duckdb").query(
        "SELECT * FROM files WHERE table_name = ? AND path LIKE '%/train-%' AND version = '1.0.0'", [table])
    return rows[0]


def _flip(path: Path, offset: int) -> bytes:
    data = bytearray(path.read_bytes())
    original = bytes(data)
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    return original


def _refused_everywhere(data: Path, dataset: str, path: str, state: str) -> None:
    """Every way of reading or publishing the version refuses, naming the file and the version."""
    import synth

    with pytest.raises(SynthError, match=f"{dataset}@1.0.0: the processbench file {path} is {state}"):
        synth.load(dataset, "1.0.0", table="processbench", data_dir=data)
    for args in ([
        "catalog", "sql", f'SELECT count(*) FROM "{dataset}".processbench_v1_0_0'],
            ["publish", f"{dataset}@1.0.0", "--dry-run"], ["catalog", "verify", dataset],
            ["catalog", "diff", f"{dataset}@1.0.0", f"{dataset}@1.0.0"]):
        out = cli(*args, "--data-dir", str(data))
        assert out.exit_code == 1 and path in out.output and f"{dataset}@1.0.0" in out.output, (args, out.output)
    with FakeHub(token=TOKEN) as hub:
        out = cli("publish", f"{dataset}@1.0.0", "--repo", "org/x", "--endpoint", hub.url, "--data-dir", str(data))
        assert out.exit_code == 1 and path in out.output
        assert hub.requests == []  # refused before the first request
    out = cli("catalog", "show", f"{dataset}@1.0.0", "--data-dir", str(data))
    assert out.exit_code == 0 and state.upper() in out.output
    out = cli("catalog", "sql", "SELECT count(*) AS n FROM files", "--data-dir", str(data), "--json")
    assert out.exit_code == 0  # the catalog's own tables stay readable


def test_a_flipped_byte_in_a_data_page_is_refused_everywhere(built):
    data, summary, _ = built
    f = _file(data)
    path = Path(f["path"])
    meta = pq.ParquetFile(path).metadata
    col = next(meta.row_group(0).column(i) for i in range(meta.num_columns)
               if meta.row_group(0).column(i).path_in_schema.startswith("steps"))
    start = col.dictionary_page_offset or col.data_page_offset
    original = _flip(path, start + col.total_compressed_size - 8)  # inside the column's last page's data
    try:
        with pytest.raises(OSError, match="(?i)checksum|crc"):  # written with page checksums
            pq.read_table(path, page_checksum_verification=True)
        _refused_everywhere(data, summary.dataset, str(path), "changed")
    finally:
        path.write_bytes(original)
    out = cli("catalog", "verify", "--data-dir", str(data))
    assert out.exit_code == 0 and "hold the registered bytes" in out.output


def test_a_flipped_byte_in_the_footer_is_refused_everywhere(built):
    data, summary, _ = built
    path = Path(_file(data)["path"])
    footer = pq.ParquetFile(path).metadata.serialized_size
    original = _flip(path, path.stat().st_size - 8 - footer // 2)
    try:
        _refused_everywhere(data, summary.dataset, str(path), "changed")
    finally:
        path.write_bytes(original)


def test_a_missing_file_is_reported_and_an_identical_rebuild_restores_it(built):
    from flows.build import build_dataset

    data, summary, recipe_path = built
    path = Path(_file(data)["path"])
    builds_before = sorted((data / "builds").iterdir())
    path.unlink()
    _refused_everywhere(data, summary.dataset, str(path), "missing")
    again = build_dataset(str(recipe_path), str(data), progress=False)
    assert not again.new_version and again.version == "1.0.0"
    assert path.exists() and sorted((data / "builds").iterdir()) == builds_before  # no new build folder
    assert again.build_dir == summary.build_dir
    out = cli("catalog", "verify", f"{summary.dataset}@1.0.0", "--data-dir", str(data))
    assert out.exit_code == 0, out.output


# ---- publishing when the Hub dies -------------------------------------------------------------------


def _start_hub(state: Path, port: int = 0, **kill) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, "-m", "tests.hub_server", "--state", str(state), "--port", str(port), "--token", TOKEN]
    for when, names in kill.items():
        args += [f"--{when.replace('_', '-')}", *names]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def _repos(state: Path) -> dict:
    return pickle.loads(state.read_bytes())


def _staged(data: Path, dataset: str) -> dict[str, bytes]:
    folder = data / "hub" / dataset / "v1.0.0"
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _publish(data: Path, dataset: str, url: str, repo: str):
    return cli("publish", f"{dataset}@1.0.0", "--repo", repo, "--endpoint", url, "--data-dir", str(data))


@pytest.mark.parametrize("when", ["kill_before", "kill_after"])
def test_hub_killed_at_the_main_commit_then_retried(built, tmp_path, monkeypatch, when):
    """SIGKILL of the Hub stand-in just before it applies the main commit, or just after (applied,
    never answered). The failed run says it could not check, and records no publication; the retry
    reads the Hub back, finishes (or accepts) the release, removes the staging branch and records it."""
    data, summary, _ = built
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo_id = f"org/{when}"
    state = tmp_path / "hub.pickle"
    catalog = Catalog(data / "catalog.duckdb")
    proc, url = _start_hub(state, **{when: ["commit:main"]})
    try:
        out = _publish(data, summary.dataset, url, repo_id)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
    assert out.exit_code == 1 and "could not be read back" in out.output and "records no publication" in out.output
    assert catalog.publications_of(summary.dataset, "1.0.0", repo_id, url) == []
    [attempt] = catalog.attempts(summary.dataset, "1.0.0", repo_id, url)
    assert attempt["step"] == "stopped" and attempt["staged_commit"]
    hub = _repos(state)[repo_id]
    assert hub.tags == {"v1.0.0": attempt["staged_commit"]} and attempt["staging_branch"] in hub.branches
    expected = _staged(data, summary.dataset)
    main_files = {k: v for k, v in hub.commits[hub.branches["main"]].items() if k != ".gitattributes"}
    assert main_files == (expected if when == "kill_after" else {})
    commits = len(hub.commits)

    port = int(url.rsplit(":", 1)[1])
    proc, url2 = _start_hub(state, port=port)  # the Hub back, on the same address, with what it had
    try:
        assert url2 == url
        out = _publish(data, summary.dataset, url, repo_id)
    finally:
        proc.kill()
        proc.wait()
    assert out.exit_code == 0, out.output
    assert "tag v1.0.0 → commit" in out.output and "holds exactly the" in out.output
    assert ("finishing it" in out.output) == (when == "kill_before")
    assert f"removed the staging branch {attempt['staging_branch']}" in out.output
    hub = _repos(state)[repo_id]
    assert set(hub.branches) == {"main"} and set(hub.tags) == {"v1.0.0"}
    assert {k: v for k, v in hub.commits[hub.branches["main"]].items() if k != ".gitattributes"} == expected
    assert {k: v for k, v in hub.commits[hub.tags["v1.0.0"]].items() if k != ".gitattributes"} == expected
    if when == "kill_after":
        assert len(hub.commits) == commits  # the commit that landed is kept: none is made again
    [pub] = catalog.publications_of(summary.dataset, "1.0.0", repo_id, url)
    assert pub["commit_oid"] == hub.branches["main"] and pub["tag"] == "v1.0.0"
    steps = [a["step"] for a in catalog.attempts(summary.dataset, "1.0.0", repo_id, url)]
    assert steps == ["superseded", "done"]


def test_a_publish_killed_while_main_is_being_committed_is_finished_by_the_next_run(built, tmp_path, monkeypatch):
    """SIGKILL of `synth publish` itself while its main commit is unanswered: the attempt it recorded
    (staging branch, base and staged commits) lets the next run finish the release and clean up."""
    data, summary, _ = built
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    repo_id = "org/killed-client"
    state = tmp_path / "hub.pickle"
    proc, url = _start_hub(state, hang_before=["commit:main"])
    synth = Path(sys.executable).with_name("synth")
    try:
        client = subprocess.Popen([str(synth), "publish", f"{summary.dataset}@1.0.0", "--repo", repo_id, "--endpoint",
                                   url, "--data-dir", str(data)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=dict(os.environ), start_new_session=True)
        marker = Path(f"{state}.hang:commit:main")
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert client.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(client.pid, signal.SIGKILL)
        client.wait()
        catalog = Catalog(data / "catalog.duckdb")
        [attempt] = catalog.attempts(summary.dataset, "1.0.0", repo_id, url)
        assert attempt["step"] == "tagged" and attempt["base_commit"] and attempt["staged_commit"]
        assert catalog.publications_of(summary.dataset, "1.0.0", repo_id, url) == []
        out = _publish(data, summary.dataset, url, repo_id)
        assert out.exit_code == 0, out.output
        assert "finishing it" in out.output and f"removed the staging branch {attempt['staging_branch']}" in out.output
    finally:
        proc.kill()
        proc.wait()
    hub = _repos(state)[repo_id]
    expected = _staged(data, summary.dataset)
    assert set(hub.branches) == {"main"} and hub.tags == {"v1.0.0": attempt["staged_commit"]}
    assert {k: v for k, v in hub.commits[hub.branches["main"]].items() if k != ".gitattributes"} == expected
    [pub] = catalog.publications_of(summary.dataset, "1.0.0", repo_id, url)
    assert pub["commit_oid"] == hub.branches["main"]
    assert [a["step"] for a in catalog.attempts(summary.dataset, "1.0.0", repo_id, url)] == ["superseded", "done"]


def test_a_tag_holding_other_files_is_refused(built, tmp_path, monkeypatch):
    data, summary, _ = built
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with FakeHub(token=TOKEN) as hub:
        out = _publish(data, summary.dataset, hub.url, "org/taken")
        assert out.exit_code == 0, out.output
        repo = hub.repos["org/taken"]
        tampered = dict(repo.commits[repo.tags["v1.0.0"]])
        tampered["README.md"] = b"X" + tampered["README.md"][1:]  # same size: the hash must tell
        repo.tags["v1.0.0"] = repo.commit(tampered, None, "someone else's v1.0.0")
        Catalog(data / "catalog.duckdb")._execute("DELETE FROM publications WHERE repo_id = 'org/taken'")
        out = _publish(data, summary.dataset, hub.url, "org/taken")
    assert out.exit_code == 1 and "already has tag v1.0.0" in out.output
    assert f"README.md has git blob {git_blob_id(tampered['README.md'])[:12]}" in out.output


def test_concurrent_stagings_of_one_version_all_succeed(built):
    data, summary, _ = built
    synth = Path(sys.executable).with_name("synth")
    procs = [subprocess.Popen([str(synth), "publish", f"{summary.dataset}@1.0.0", "--dry-run", "--data-dir", str(data)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outs = [(p.wait(timeout=300), p.stdout.read()) for p in procs]
    assert all(code == 0 for code, _ in outs), outs
    hub = data / "hub" / summary.dataset
    assert sorted(p.name for p in hub.iterdir() if not p.name.startswith(".")) == ["v1.0.0"]
    info = Catalog(data / "catalog.duckdb").version_info(summary.dataset, "1.0.0")
    from synth.paths import sha256_file

    for f in info["files"]:
        if f["published"]:
            assert sha256_file(hub / "v1.0.0" / "data" / f["table_name"] / Path(f["path"]).name) == f["sha256"]


# ---- damaged catalog and response cache ---------------------------------------------------------------


def test_a_truncated_catalog_fails_every_command_before_anything_runs(built, tmp_path):
    data, summary, recipe_path = built
    damaged = tmp_path / "data"
    damaged.mkdir()
    raw = (data / "catalog.duckdb").read_bytes()
    (damaged / "catalog.duckdb").write_bytes(raw[: len(raw) // 2])
    t0 = time.monotonic()
    out = cli("build", str(recipe_path), "--data-dir", str(damaged), "--quiet")
    took = time.monotonic() - t0
    assert out.exit_code == 1 and f"catalog {damaged / 'catalog.duckdb'} is damaged" in out.output
    assert "✓" not in out.output and not (damaged / "builds").exists()  # no stage ran, no folder was made
    assert took < 30, took
    for args in (["catalog", "ls"], ["catalog", "show", summary.dataset], ["catalog", "sql", "SELECT 1"],
                 ["catalog", "verify"], ["publish", summary.dataset, "--dry-run"], ["gc"]):
        out = cli(*args, "--data-dir", str(damaged))
        assert out.exit_code == 1 and "is damaged" in out.output and "mv " in out.output, (args, out.output)


def test_a_damaged_response_cache_is_one_clear_error(built, tmp_path):
    from synth.backends.base import Completion, Sample
    from synth.cache import ResponseCache

    data, _, recipe_path = built
    # a file that is not SQLite at all stops the build before its first stage
    bad = tmp_path / "data"
    (bad / "cache").mkdir(parents=True)
    (bad / "cache" / "responses.sqlite").write_bytes(b"not a database" * 300)
    out = cli("build", str(recipe_path), "--data-dir", str(bad), "--quiet")
    assert out.exit_code == 1 and "response cache" in out.output and "is damaged" in out.output
    assert "--no-cache" in out.output and "✓" not in out.output

    # a truncated cache: quick_check finds it
    path = tmp_path / "big.sqlite"
    cache = ResponseCache(path)
    cache.put_many([(f"k{i}", "m", Completion([Sample("x" * 2000, "stop", 3)], 5)) for i in range(300)])
    cache.close()
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(SynthError, match=f"response cache {path} is damaged"):
        c = ResponseCache(path)
        c.check()
        c.get_many([f"k{i}" for i in range(300)])

    # rows that are not what synth wrote: bad JSON, wrong types
    for i, stored in enumerate(['{"samples": [', json.dumps({"prompt_tokens": "5", "samples": []}),
                                json.dumps({"prompt_tokens": 5, "samples": [{"text": 1, "finish_reason": "stop",
                                                                              "completion_tokens": 2}]})]):
        path = tmp_path / f"rows{i}.sqlite"
        ResponseCache(path).close()
        with sqlite3.connect(path) as con:
            con.execute("INSERT INTO responses VALUES ('key0123456789abcdef', 'm', ?, 0)", [stored])
        with pytest.raises(SynthError, match=f"response cache {path} is damaged .*key0123456789abc…"):
            ResponseCache(path).get_many(["key0123456789abcdef"])


# ---- read-only SQL and one schema per dataset --------------------------------------------------------------


def test_catalog_sql_cannot_write_or_read_outside_the_catalog(built, tmp_path):
    data, summary, _ = built
    target = tmp_path / "out.csv"
    outside = tmp_path / "outside.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({"x": [1]}), outside)
    registered = _file(data)["path"]
    for sql in (f"COPY (SELECT 1) TO '{target}'", f"SELECT 1; COPY (SELECT 1) TO '{target}'",
                f"ATTACH '{tmp_path / 'x.duckdb'}' AS x", f"EXPORT DATABASE '{tmp_path / 'exp'}'",
                "SET enable_external_access = true", "CREATE TABLE t AS SELECT 1", "INSTALL httpfs",
                f"COPY (SELECT 42 AS x) TO '{registered}' (FORMAT parquet, USE_TMP_FILE false)"):
        out = cli("catalog", "sql", sql, "--data-dir", str(data))
        assert out.exit_code == 1 and "one read-only SELECT" in out.output, (sql, out.output)
    for sql in ("SELECT * FROM read_csv('/etc/passwd', sep = ':')", f"SELECT * FROM read_parquet('{outside}')",
                f"SELECT * FROM glob('{tmp_path}/*')", "SELECT * FROM read_text('/etc/hostname')"):
        out = cli("catalog", "sql", sql, "--data-dir", str(data))
        assert out.exit_code == 1 and "reads the catalog and the registered files only" in out.output, (sql, out.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.parquet"]  # nothing was written
    out = cli("catalog", "verify", "--data-dir", str(data))
    assert out.exit_code == 0
    out = cli("catalog", "sql", f"SELECT count(*) AS n FROM read_parquet('{registered}')", "--data-dir", str(data),
              "--json")  # a registered file by its path: checked, then read
    assert out.exit_code == 0 and json.loads(out.output)["n"] == _file(data)["rows"]


def test_two_names_with_one_old_sql_form_keep_their_own_views(prefect_harness, tmp_path):
    from flows.build import build_dataset

    data = tmp_path / "data"
    a = build_dataset(str(named(recipe(tmp_path, 10, "a.yaml"), "zz-rel-coll")), str(data), progress=False)
    b = build_dataset(str(named(recipe(tmp_path, 15, "b.yaml"), "zz_rel_coll")), str(data), progress=False)
    cat = Catalog(data / "catalog.duckdb")
    counts = {}
    for s in (a, b):
        counts[s.dataset] = cat.query("SELECT sum(rows) AS n FROM files WHERE dataset = ? AND table_name = "
                                      "'injections'", [s.dataset])[0]["n"]
        for view in ("injections", "injections_v1_0_0"):
            out = cli("catalog", "sql", f'SELECT count(*) AS n FROM "{s.dataset}".{view}', "--data-dir", str(data),
                      "--json")
            assert out.exit_code == 0 and json.loads(out.output)["n"] == counts[s.dataset], out.output
    assert counts["zz-rel-coll"] != counts["zz_rel_coll"]  # so a view showing the other's rows would fail
    out = cli("catalog", "sql", "SELECT count(*) FROM zz-rel-coll.injections", "--data-dir", str(data))
    assert out.exit_code == 1 and '"zz-rel-coll".<table>' in out.output  # says which schema name to use
    path = named(recipe(tmp_path, 5, "main.yaml"), "main")
    out = cli("recipe", "check", str(path))
    assert out.exit_code == 2 and "reserved by DuckDB" in out.output


def test_an_old_catalog_gets_one_schema_per_dataset(built, tmp_path):
    """Migration 005 rebuilds the views of a catalog made before it, under the dataset's own name."""
    import duckdb
    import shutil

    data, summary, _ = built
    old = tmp_path / "catalog.duckdb"
    shutil.copy(data / "catalog.duckdb", old)
    con = duckdb.connect(str(old))
    con.execute(f'DROP SCHEMA "{summary.dataset}" CASCADE')
    con.execute("CREATE SCHEMA gsm8k_injected_errors")
    con.execute("CREATE VIEW gsm8k_injected_errors.seeds AS SELECT 1 AS x")
    con.execute("DROP TABLE publish_attempts")
    con.execute("DELETE FROM schema_migrations WHERE version = 5")
    con.close()
    cat = Catalog(old)
    views = {(r["schema_name"], r["view_name"]) for r in cat.query(
        "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal")}
    assert (summary.dataset, "processbench_v1_0_0") in views and (summary.dataset, "processbench") in views
    assert not any(s == "gsm8k_injected_errors" for s, _ in views)


# ---- debris: a killed build, and gc ----------------------------------------------------------------


def test_gc_after_a_killed_build_lists_and_removes_what_it_left(built, tmp_path):
    from synth.gc import exclusive, hold_build_lock, release_build_lock, staging_lock

    data, summary, _ = built
    path = named(recipe(tmp_path, 2000, "big.yaml"), summary.dataset)
    synth = Path(sys.executable).with_name("synth")
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    before = set((data / "builds").iterdir())
    log = (tmp_path / "build.log").open("w")
    proc = subprocess.Popen([str(synth), "build", str(path), "--data-dir", str(data), "--quiet"], stdout=log,
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while not set((data / "builds").iterdir()) - before:
            assert proc.poll() is None, (tmp_path / "build.log").read_text()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        out = cli("gc", "--dry-run", "--data-dir", str(data))  # a running build's folder is not touched
        assert out.exit_code == 0 and "nothing to remove" in out.output, out.output
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    [killed] = set((data / "builds").iterdir()) - before
    half = data / "hub" / summary.dataset / "v1.0.0.tmp-0badc0"  # as a staging killed mid-copy leaves it
    (half / "data").mkdir(parents=True)
    (half / "data" / "x.parquet").write_bytes(b"partial")
    live_stage = data / "hub" / summary.dataset / "v9.9.9.tmp-0c0ffe"  # a staging running now
    live_stage.mkdir()
    live_build = data / "builds" / "live-build"
    live_build.mkdir()
    hold_build_lock(live_build)
    try:
        with exclusive(staging_lock(live_stage.parent, "9.9.9"), "test"):
            out = cli("gc", "--dry-run", "--data-dir", str(data))
            assert out.exit_code == 0 and f"would remove build folder {killed}" in out.output
            assert f"would remove staging folder {half}" in out.output and "would remove 2 item(s)" in out.output
            assert killed.exists() and half.exists()
            out = cli("gc", "--data-dir", str(data))
            assert out.exit_code == 0 and f"removed build folder {killed}" in out.output
    finally:
        release_build_lock(live_build)
    assert not killed.exists() and not half.exists() and live_stage.exists() and live_build.exists()
    assert set((data / "builds").iterdir()) == before | {live_build}
    out = cli("catalog", "verify", "--data-dir", str(data))
    assert out.exit_code == 0  # registered data untouched
    out = cli("gc", "--data-dir", str(data))  # the live build's lock is released now: it is debris too
    assert out.exit_code == 0 and f"removed build folder {live_build}" in out.output


def test_integrity_bench_small_mode():
    """Not a timing test (bench/integrity.py measures): its small mode runs every measurement."""
    sys.path.insert(0, str(REPO / "bench"))
    from integrity import main  # noqa: E402

    med = main(["--small"])
    assert set(med) == {"plain", "checked_first", "checked_again", "sha256", "sql_raw", "sql_checked",
                        "catalog_check"}
    assert all(v > 0 for v in med.values())
