"""The streamed build (synth/stream.py): dedup across chunks decides what one pass over all records
decides, also when its state is rebuilt from disk; a version's files do not depend on the chunk size
or the number of processes; the dataset-level gates see every file at once (synth/shard_checks.py)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import pyarrow.parquet as pq

from schemas import LabelledSolution
from synth import exports
from synth.errors import SynthError
from synth.filters.streaming import KeyFile, KeyRuns, StreamExactDedup, StreamNearDedup
from synth.recipe import FilterStage, NearDedupSpec
from synth.stages.filter import build_blocks, run_chain

WORDS = ("apples pears plums marbles stickers pencils cookies stamps shells books cards beads tom mia liam ava noah "
         "zoe omar lena ravi iris nora sam buys finds gives loses uses shares equally among friends").split()


def _solution(i: int, problem: str, steps: list[str], label: int = -1) -> LabelledSolution:
    return LabelledSolution(f"l{i:05d}", f"s{i:05d}", problem, steps, label, label == -1,
                            [k < label or label == -1 for k in range(len(steps))], "original", "gold", "1")


def _records(n: int, rng: random.Random) -> list[LabelledSolution]:
    """Distinct texts, with exact copies and near copies (one word changed) of earlier ones planted."""
    out: list[LabelledSolution] = []
    for i in range(n):
        roll = rng.random()
        if out and roll < 0.15:  # an exact copy of an earlier record
            src = rng.choice(out)
            out.append(_solution(i, src.problem, list(src.steps)))
        elif out and roll < 0.3:  # a near copy: one word of a long text changed
            src = rng.choice(out)
            words = src.problem.split()
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            out.append(_solution(i, " ".join(words), list(src.steps)))
        else:
            out.append(_solution(i, " ".join(rng.choice(WORDS) for _ in range(40)),
                                 [f"Step {k}: {rng.randint(1, 99)} + {rng.randint(1, 99)}" for k in range(3)]))
    return out


def _decisions(kept, rejects) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Kept ids in order; drops with reason and detail (a chunk lists its own drops block by block)."""
    return [r.label_id for r in kept], sorted((r.record_id, r.reason, r.detail) for r in rejects)


def _streamed(records, cfg, folder: Path, size: int, restart_at: int | None = None):
    """The chain chunk by chunk with stream blocks; with `restart_at`, new blocks take over there,
    their state rebuilt from the chunks' files (a resumed build)."""
    kept, rejects = [], []
    folder.mkdir(exist_ok=True)

    def blocks():
        out = []
        for b in build_blocks(cfg):
            if b.name == "exact_dedup":
                b = StreamExactDedup(b, lambda k: folder / f"dedup-{k}.bin")
            elif b.name == "near_dedup":
                b = StreamNearDedup(b, lambda k: folder / f"near-{k}.npz")
            out.append(b)
        return out

    chain = blocks()
    for k, start in enumerate(range(0, len(records), size)):
        if k == restart_at:
            chain = blocks()
            for done in range(k):
                for b in chain:
                    if hasattr(b, "restore"):
                        b.restore(done)
        for b in chain:
            if hasattr(b, "begin"):
                b.begin(k)
        got, dropped, _, _ = run_chain("labelled", records[start:start + size], chain)
        for b in chain:
            if hasattr(b, "save"):
                b.save(k)
        kept += got
        rejects += dropped
    return _decisions(kept, rejects)


def test_dedup_across_chunks_decides_what_one_pass_decides(tmp_path):
    rng = random.Random(5)
    records = _records(900, rng)
    cfg = FilterStage(near_dedup=NearDedupSpec(threshold=0.8))
    kept, rejects, _, _ = run_chain("labelled", records, build_blocks(cfg))
    whole = _decisions(kept, rejects)
    reasons = {r for _, r, _ in whole[1]}
    assert {"exact_duplicate", "near_duplicate"} <= reasons  # the planted copies are there to be found
    assert _streamed(records, cfg, tmp_path / "a", 64) == whole
    assert _streamed(records, cfg, tmp_path / "b", 250) == whole
    assert _streamed(records, cfg, tmp_path / "c", 64, restart_at=7) == whole  # state rebuilt from disk


def test_resumed_chunk_filter_decides_what_an_uninterrupted_one_decides(tmp_path):
    """The build's own ChunkFilter (blocks made when a collection first comes, state rebuilt from the
    chunk files of a killed build): resumed at any chunk, every later chunk gets the same decisions."""
    from synth import pipeline
    from synth.stream import ChunkFilter

    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: resume-filter\nkind: error_injection\ndescription: d\nrandom_seed: 7\n"
                      "seeds: {type: procedural, count: 10, random_seed: 1}\n"
                      "stages: {inject: {sources: [gold]}, filter: {near_dedup: {threshold: 0.8}}}\n")
    ctx = pipeline.start_build(recipe, tmp_path / "data", progress=False)
    records = _records(900, random.Random(5))
    chunks = [records[k:k + 64] for k in range(0, len(records), 64)]

    def run(flt, k):
        (tmp_path / "chunks" / f"{k:05d}").mkdir(parents=True, exist_ok=True)
        t = pipeline.Tables(seeds=[], labelled=chunks[k], ran=["inject"])
        out = flt.run(t, k)
        return _decisions(out.labelled, [r for r in out.rejects])

    whole = ChunkFilter(ctx, tmp_path / "chunks")
    truth = [run(whole, k) for k in range(len(chunks))]
    assert sum(len(d) for _, d in truth) > 100  # copies across chunks are there to be found
    for restart in (1, 5, 11):
        resumed = ChunkFilter(ctx, tmp_path / "chunks")
        for k in range(restart):  # what a rerun does for the chunks a killed build finished
            resumed.restore(k)
        assert [run(resumed, k) for k in range(restart, len(chunks))] == truth[restart:], restart


def test_key_runs_find_every_key_in_the_chunk_and_row_that_had_it_first():
    rng = np.random.default_rng(3)
    runs, truth = KeyRuns(), {}
    for chunk in range(40):
        keys = np.unique(rng.integers(0, 2**63, size=int(rng.integers(0, 300)), dtype=np.uint64))
        keys = rng.permutation(np.array([k for k in keys.tolist() if k not in truth], dtype="<u8"))
        found, _ = runs.find(keys)
        assert (found == -1).all()
        runs.add(keys, chunk)
        truth.update({k: (chunk, row) for row, k in enumerate(keys.tolist())})
    probe = np.array(list(truth) + [1, 2, 3], dtype="<u8")
    chunks, rows = runs.find(probe)
    assert list(zip(chunks.tolist(), rows.tolist()))[:-3] == [truth[k] for k in truth]
    assert chunks[-3:].tolist() == [-1, -1, -1]
    assert len(runs.runs) <= 12  # merged as they grow: lookups touch few runs


def test_key_file_gives_back_any_row_without_reading_the_file(tmp_path):
    rng = random.Random(2)
    keys = [rng.randbytes(16) for _ in range(500)]
    ids = [f"l{i:05d}-{'é' * (i % 4)}" for i in range(500)]  # ids of every length, not only ASCII
    path = tmp_path / "dedup-labelled.bin"
    KeyFile.write(path, keys, ids)
    assert KeyFile.keys(path) == keys
    for i in (0, 1, 257, 499):
        assert KeyFile.row(path, i) == (keys[i], ids[i])
    KeyFile.write(path, [], [])  # a chunk that added nothing
    assert KeyFile.keys(path) == []
    KeyFile.write(path, keys, ids)
    path.write_bytes(path.read_bytes()[:-3])  # a damaged file is refused, never read short
    with pytest.raises(SynthError, match="damaged dedup key file"):
        KeyFile.keys(path)


def test_dataset_gates_see_every_file(tmp_path):
    """Each file alone would pass its unique-id check, and one would fail the label balance alone: over
    all files the ids repeat (fails) and the balance holds (passes). The gates are computed over the
    dataset, not per file."""
    from synth.shard_checks import validate_files
    from synth.stream import write_split

    steps = ["Step 1: 2 + 3 = 5.", "The answer is 5."]
    correct = [exports.to_processbench(_solution(i, f"problem {i} words", steps)) for i in range(40)]
    wrong = [exports.to_processbench(_solution(i, f"problem {i} other words", steps, label=1)) for i in range(40)]
    files = []
    for name, rows in (("a", correct), ("b", wrong)):
        files += write_split("processbench", name, [lambda rows=rows: _table(rows)], len(rows), tmp_path / "data",
                             1000, True)
    alone = validate_files(files[:1], {}, tmp_path / "docs")[0]
    assert not alone["success"]
    assert [f["kwargs"].get("column") for f in alone["failures"]] == ["no_error"]  # all correct: no balance
    both = validate_files(files, {}, tmp_path / "docs")[0]
    failed = {(f["type"], f["kwargs"].get("column")) for f in both["failures"]}
    assert failed == {("expect_column_values_to_be_unique", "id")}
    unique = both["failures"][0]
    assert unique["unexpected_count"] == 80 and unique["examples"]
    assert both["evaluated"] == alone["evaluated"] and both["failed"] == 1


def test_suites_in_slices_and_processes_give_one_pass_result(tmp_path, monkeypatch):
    """Row-level expectations checked a slice of rows at a time, in this process or in worker
    processes, give the result of one pass: the same failures, their unexpected rows summed."""
    from synth import shard_checks
    from synth.stream import write_split

    steps = ["Step 1: 2 + 3 = 5.", "The answer is 5."]
    labels = [5 if i % 7 == 0 else (1 if i % 2 else -1) for i in range(300)]  # 5: no such step (43 rows)
    rows = [exports.to_processbench(_solution(i, f"problem {i} words", steps, label=k)) for i, k in enumerate(labels)]
    files = write_split("processbench", "train", [lambda: _table(rows)], len(rows), tmp_path / "data", 100, True)
    assert len(files) == 3  # three batches

    def check(**kw):
        result = shard_checks.validate_files(files, {}, tmp_path / "docs", **kw)[0]
        return {k: result[k] for k in ("success", "evaluated", "failed", "failures")}

    whole = check()
    out_of_range = [f for f in whole["failures"] if f["kwargs"].get("column") == "label_in_range"]
    assert not whole["success"] and len(out_of_range) == 1 and out_of_range[0]["unexpected_count"] == 43
    assert check(workers=2, in_process_rows=0) == whole  # a spawned helper checks two batches, this process one
    monkeypatch.setattr(shard_checks, "SLICE", 16)
    assert check() == whole  # seven slices per batch


def _table(rows):
    from schemas import TABLES, records_to_table

    return records_to_table(rows, TABLES["processbench"])


RECIPE = """\
name: stream-layout
kind: error_injection
random_seed: 9
seeds: {{type: procedural, count: 600, random_seed: 6, min_steps: 1, max_steps: 3}}
chunk_size: {chunk_size}
workers: {workers}
rows_per_file: {rows_per_file}
stages:
  inject: {{sources: [gold], max_per_source: 2, include_originals: true}}
  filter: {{}}
"""


def test_files_do_not_depend_on_chunks_or_processes(prefect_harness, tmp_path):
    """One chunk in this process, 13 chunks on 2 processes: the same files (one version). Smaller
    files: the same rows, in `<split>-NNNNN-of-MMMMM.parquet` files of at most `rows_per_file` rows."""
    from flows.build import build_dataset

    def build(name, **kw):
        path = tmp_path / f"{name}.yaml"
        path.write_text(RECIPE.format(**kw))
        return build_dataset(str(path), str(tmp_path / "data"), progress=False)

    whole = build("whole", chunk_size=10_000, workers=1, rows_per_file=1_000_000)
    chunked = build("chunked", chunk_size=47, workers=2, rows_per_file=1_000_000)
    assert chunked.fingerprint == whole.fingerprint and not chunked.new_version
    assert chunked.rows == whole.rows
    small = build("small-files", chunk_size=47, workers=1, rows_per_file=150)
    assert small.rows == whole.rows  # every file of a table counted, not the last one
    pb = sorted(Path(small.build_dir, "data", "processbench").glob("*.parquet"))
    n = -(-whole.rows["processbench"] // 150)
    assert [p.name for p in pb] == [f"train-{k:05d}-of-{n:05d}.parquet" for k in range(n)]
    assert all(pq.ParquetFile(p).metadata.num_rows <= 150 for p in pb)
    one = Path(whole.build_dir, "data", "processbench", "train-00000-of-00001.parquet")
    assert sum((pq.read_table(p).to_pylist() for p in pb), []) == pq.read_table(one).to_pylist()


def test_a_chunk_file_appears_whole_or_not_at_all(tmp_path):
    """A resumed build trusts what it finds under a chunk's file names: a writer that fails part-way
    leaves nothing under the name (nor its temporary file), and one that finishes leaves every byte."""
    from synth.paths import written_whole

    path = tmp_path / "staged.pkl"
    with pytest.raises(RuntimeError):
        with written_whole(path) as f:
            f.write(b"half of it")
            raise RuntimeError("killed part-way")
    assert not path.exists() and list(tmp_path.iterdir()) == []
    with written_whole(path) as f:
        f.write(b"all of it")
    assert path.read_bytes() == b"all of it" and list(tmp_path.iterdir()) == [path]
