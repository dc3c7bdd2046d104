"""A build killed with SIGKILL halfway resumes from the response cache: run again, it sends only the
requests that had not finished, and its dataset is byte for byte the uninterrupted build's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from catalog import Catalog
from tests.conftest import replay_two_problems, write_recipe

COUNT = 16
REPLAYED = 2  # problems whose capable replies are in the cache before either build (the build then has pairs)


def _cached(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("SELECT count(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def _recipe(folder: Path) -> Path:
    """The tiny recipe committing to the cache every 8 requests (2 vLLM calls). Its answers keep the
    tiny recipe's length: cut shorter, most never state an answer, and the solutions suite (at most
    half without one) fails the build."""
    path = write_recipe(folder, count=COUNT)
    text = path.read_text().replace("    max_model_len: 1024\n", "    max_model_len: 1024\n    commit_every: 8\n")
    assert "commit_every: 8" in text
    path.write_text(text)
    return path


def test_killed_build_repeats_no_finished_request(prefect_harness, tmp_path):
    from flows.build import build_dataset

    recipe = _recipe(tmp_path)
    # The embedded model alone can write no choosable solution for these 16 problems on some CPUs;
    # replies to two of them are replayed (tests/conftest.py) in both builds alike.
    replay_two_problems(recipe, tmp_path / "uninterrupted")
    reference = build_dataset(str(recipe), str(tmp_path / "uninterrupted"), progress=False)
    assert reference.usage[0]["backend_requests"] == COUNT - REPLAYED and reference.rows["pairs"] >= 1

    data = tmp_path / "killed"
    cache = data / "cache" / "responses.sqlite"
    replay_two_problems(recipe, data)
    synth = Path(sys.executable).with_name("synth")
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "killed-build.log").open("w")
    proc = subprocess.Popen([str(synth), "build", str(recipe), "--data-dir", str(data), "--quiet"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while _cached(cache) <= REPLAYED:
            assert proc.poll() is None, f"the build ended before it could be killed: {(tmp_path / 'killed-build.log').read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no response was cached within 10 minutes"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the build and every process it started
        proc.wait()
    done = _cached(cache)
    assert REPLAYED < done < COUNT, done
    # Killed before registering: the catalog holds no version and no build of it.
    catalog = data / "catalog.duckdb"
    if catalog.exists():
        assert Catalog(catalog).query("SELECT count(*) AS n FROM versions")[0]["n"] == 0

    resumed = build_dataset(str(recipe), str(data), progress=False)
    usage = resumed.usage[0]
    assert usage["cache_hits"] == done
    assert usage["backend_requests"] == COUNT - done  # no finished request was sent again
    assert resumed.fingerprint == reference.fingerprint
    assert resumed.rows == reference.rows
    recorded = Catalog(catalog).query("SELECT cache_hits, backend_requests FROM usage")
    assert recorded == [{"cache_hits": done, "backend_requests": COUNT - done}]


STREAMED = """\
name: streamed-resume
kind: error_injection
random_seed: 5
seeds: {type: procedural, count: 1200, random_seed: 2, min_steps: 1, max_steps: 3}
chunk_size: 100
workers: 1
stages:
  inject: {sources: [gold], max_per_source: 2, include_originals: true}
  filter: {}
"""


def _files(data: Path) -> list[tuple[str, str, str]]:
    rows = Catalog(data / "catalog.duckdb").query("SELECT table_name, path, sha256 FROM files ORDER BY 1, 2")
    return [(r["table_name"], Path(r["path"]).name, r["sha256"]) for r in rows]


def test_killed_streamed_build_resumes_from_its_finished_chunks(prefect_harness, tmp_path):
    """A model-free build streamed in 12 chunks, killed with SIGKILL after some chunks finished, run
    again: the rerun takes over the finished chunks (their folder is gone, nothing is made twice)
    and registers the files, byte for byte, of a build that was never killed."""
    from flows.build import build_dataset

    recipe = tmp_path / "streamed.yaml"
    recipe.write_text(STREAMED)
    reference = build_dataset(str(recipe), str(tmp_path / "uninterrupted"), progress=False)

    data = tmp_path / "killed"
    synth = Path(sys.executable).with_name("synth")
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect-home"))
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "killed-build.log"
    proc = subprocess.Popen([str(synth), "build", str(recipe), "--data-dir", str(data)], stdout=log.open("w"),
                            stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while len(list(data.glob("builds/*/chunks/*/done.json"))) < 3:
            assert proc.poll() is None, f"the build ended before it could be killed: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "no 3 chunks finished within 10 minutes"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = len(list(data.glob("builds/*/chunks/*/done.json")))
    assert 3 <= finished < 12, finished
    killed_dirs = list((data / "builds").iterdir())
    assert len(killed_dirs) == 1
    if (data / "catalog.duckdb").exists():
        assert Catalog(data / "catalog.duckdb").query("SELECT count(*) AS n FROM versions")[0]["n"] == 0

    rerun_log = tmp_path / "rerun.log"
    rerun = subprocess.run([str(synth), "build", str(recipe), "--data-dir", str(data)], stdout=rerun_log.open("w"),
                           stderr=subprocess.STDOUT, env=env, timeout=600)
    text = rerun_log.read_text()
    assert rerun.returncode == 0, text[-3000:]
    assert f"resuming from {killed_dirs[0].name}: {finished} finished chunks taken over" in " ".join(text.split())
    assert not killed_dirs[0].exists()  # taken over, not left behind
    assert text.count("done:") == 12 - finished  # only the unfinished chunks ran again
    resumed = Catalog(data / "catalog.duckdb").query("SELECT fingerprint FROM versions")
    assert [r["fingerprint"] for r in resumed] == [reference.fingerprint]
    assert _files(data) == _files(tmp_path / "uninterrupted")
    assert not list(data.glob("builds/*/chunks"))  # the chunks go once the version is registered
