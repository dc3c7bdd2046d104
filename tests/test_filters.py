"""The quality filters on hand-made and real records (no model): each block's drops and reasons, MinHash
signatures identical to datasketch's, near-duplicates found, GSM8K test decontamination, and the
chain through a real build (rule-based injection, so no model): funnel, rejects, contamination
report, card, and dedup against an earlier version."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from datasketch import MinHash, MinHashLSH

from schemas import ChatMessage, LabelledSolution, PreferencePair
from synth.errors import RecipeError
from synth.filters.benchmarks import benchmark_ngrams
from synth.filters.minhash import MinHasher, ngram_hash
from synth.filters.text import normalize, view, with_hashes
from synth.recipe import BenchmarkSpec, DecontaminateSpec, FilterStage, LengthLimits, NearDedupSpec, load_recipe
from synth.stages.filter import build_blocks, run_chain
from tests.conftest import GSM8K_TRAIN, REPO, SHARED

GSM8K_TEST = SHARED / "data" / "gsm8k" / "test.jsonl"


def solution(i: int, problem: str, steps: list[str]) -> LabelledSolution:
    return LabelledSolution(f"l{i}", f"s{i}", problem, steps, -1, True, [True] * len(steps), "original", "gold", "1")


def pair(i: int, prompt: str, chosen: str, rejected: str) -> PreferencePair:
    return PreferencePair(f"p{i}", f"s{i}", "verified", [ChatMessage("user", prompt)],
                          [ChatMessage("assistant", chosen)], [ChatMessage("assistant", rejected)], "c", "r", "m", "m",
                          1.0, 0.0, [], [], [], "1", "2", "1", len(chosen), len(rejected))


def gsm8k(path: Path, n: int) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[:n]]


def test_minhash_signatures_are_datasketchs():
    texts = ["The quick brown fox jumps over the lazy dog, again and again!", "short", "",
             "one two three four five", "Ünïcode wörds çan appear, too: 12,000 dollars."]
    items = [view(solution(i, t, ["x"])) for i, t in enumerate(texts)]
    sigs = MinHasher(num_perm=128, seed=1, ngram=5).signatures(with_hashes(items))
    for it, sig in zip(items, sigs):
        words = it.norm.split(b" ")
        grams = [b" ".join(words[j:j + 5]) for j in range(len(words) - 4)] or [b" ".join(words)]
        m = MinHash(num_perm=128, seed=1, hashfunc=ngram_hash)
        for g in grams:
            m.update(g)
        assert (m.hashvalues == sig).all()


def test_near_dedup_agrees_with_datasketch_lsh():
    """Planted near copies (one word of a long text changed) are dropped, distinct texts kept; the
    candidates match what datasketch's own MinHashLSH finds with the same signatures."""
    rows = gsm8k(GSM8K_TRAIN, 300)
    recs = [solution(i, r["question"], r["answer"].split("\n")) for i, r in enumerate(rows)]
    rng = random.Random(1)
    copies = []
    for k in range(30):
        src = recs[rng.randrange(len(recs))]
        steps = list(src.steps)
        words = steps[0].split(" ")
        words[rng.randrange(len(words))] = "indeed"
        steps[0] = " ".join(words)
        copies.append(replace(src, label_id=f"copy{k}-of-{src.label_id}", steps=steps))
    kept, rejects, reports, _ = run_chain("labelled", recs + copies, build_blocks(
        FilterStage(length=None, exact_dedup=False, near_dedup=NearDedupSpec(threshold=0.8))))
    dropped = {r.record_id for r in rejects}
    # LSH finds a pair at Jaccard 0.9 with probability 0.93 (datasketch's bands for 0.8): most copies
    assert dropped <= {c.label_id for c in copies} and len(dropped) >= 24  # the originals come first and stay
    assert all(r.reason == "near_duplicate" and "estimated Jaccard" in r.detail for r in rejects)
    # datasketch's index, fed the same signatures, finds the same near copies
    items = [view(r) for r in recs + copies]
    sigs = MinHasher(num_perm=128).signatures(with_hashes(items))
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    found = set()
    for it, sig in zip(items, sigs):
        m = MinHash(num_perm=128, hashvalues=sig, scheme="affine32")
        hits = [h for h in lsh.query(m) if (sigs[int(h)] == sig).mean() >= 0.8]
        if hits:
            found.add(it.record_id)
        else:
            lsh.insert(str(items.index(it)), m)
    assert found == dropped


def test_format_length_and_exact_dedup_blocks():
    recs = [pair(0, "What is 2+2?", "It is 4.", "It is 5."),
            pair(1, "what is 2 + 2", "it is 4", "It is 5!!"),           # same words: exact duplicate
            pair(2, "Q", "   ", "x"),                                    # blank response
            pair(3, "Q", "same", "same"),                                # identical responses
            pair(4, "Q", "```python\nprint(1)\n", "ok"),                # unclosed fence
            pair(5, "Q", "bad \ufffd byte", "ok"),
            pair(6, "Q", "a" * 50, "b" * 5),                             # too long for max 40
            pair(7, "Q", "fine answer", "other answer")]
    kept, rejects, reports, _ = run_chain("pairs", recs, build_blocks(
        FilterStage(length=LengthLimits(min_chars=2, max_chars=40))))
    assert [p.pair_id for p in kept] == ["p0", "p7"]
    assert {r.record_id: r.reason for r in rejects} == {
        "p1": "exact_duplicate", "p2": "empty_text", "p3": "identical_responses", "p4": "unclosed_code_fence",
        "p5": "bad_characters", "p6": "too_long"}
    assert [(r.stage, r.n_in, r.n_out) for r in reports] == [("format", 8, 4), ("length", 4, 3),
                                                             ("exact_dedup", 3, 2)]
    assert json.loads(next(r for r in rejects if r.record_id == "p1").payload)["pair_id"] == "p1"


def test_decontamination_against_gsm8k_test():
    test_rows = gsm8k(GSM8K_TEST, 50)
    train_rows = gsm8k(GSM8K_TRAIN, 20)
    recs = [solution(i, r["question"], r["answer"].split("\n")) for i, r in enumerate(train_rows)]
    leaked = [solution(100 + i, "Please solve: " + test_rows[i]["question"].upper(), ["I think it is 3."])
              for i in (0, 7, 42)]
    spec = DecontaminateSpec(ngram=13, benchmarks=[BenchmarkSpec(name="gsm8k-test", path=GSM8K_TEST,
                                                                 fields=["question", "answer"])])
    table = benchmark_ngrams(spec.benchmarks, 13)
    assert len(table) > 100_000
    kept, rejects, reports, found = run_chain("labelled", recs + leaked, build_blocks(
        FilterStage(decontaminate=spec), benchmarks=table))
    assert {r.record_id for r in rejects} == {"l100", "l107", "l142"}
    assert sorted(f.benchmark_id for f in found) == ["line 1", "line 43", "line 8"]
    for f in found:
        assert f.benchmark == "gsm8k-test" and f.collection == "labelled" and f.matched_ngrams >= 1
        assert f.ngram.encode() in normalize(test_rows[int(f.benchmark_id.split()[1]) - 1]["question"])
    assert reports[-1].stage == "decontaminate" and reports[-1].dropped == {"contaminated": 3}


def test_bad_benchmark_settings_are_named(tmp_path):
    recipe = yaml.safe_load((REPO / "recipes" / "gsm8k-injected-errors.yaml").read_text())
    recipe["seeds"]["path"] = str(GSM8K_TRAIN)
    recipe.setdefault("stages", {})["filter"] = {"decontaminate": {"benchmarks": [
        {"name": "b", "path": "missing.jsonl", "fields": ["question"]}]}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match=r"stages.filter.decontaminate.benchmarks.0.path: not found"):
        load_recipe(path)
    from synth.errors import SeedError

    with pytest.raises(SeedError, match=r"has no field 'prompt'"):
        benchmark_ngrams([BenchmarkSpec(name="g", path=GSM8K_TEST, fields=["prompt"])], 13)


def _build(prefect_harness, folder: Path, data: Path, name: str, **filter_cfg):
    from flows.build import build_dataset

    recipe = yaml.safe_load((REPO / "recipes" / "gsm8k-injected-errors.yaml").read_text())
    recipe["seeds"]["path"] = str(GSM8K_TRAIN)
    recipe["seeds"].update(filter_cfg.pop("seeds", {}))
    recipe.pop("gates", None)
    recipe["stages"]["filter"] = filter_cfg
    path = folder / name
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return build_dataset(str(path), str(data), progress=False)


def test_filters_in_a_build_and_dedup_against_an_earlier_version(prefect_harness, tmp_path):
    """GSM8K train problem 21 shares a 13-gram with test problem 633: the build drops its records and
    reports it; a later version built with more seeds and `against_earlier_versions` keeps only what
    the earlier version did not have."""
    data = tmp_path / "data"
    decon = {"benchmarks": [{"name": "gsm8k-test", "path": str(GSM8K_TEST), "fields": ["question", "answer"]}]}
    first = _build(prefect_harness, tmp_path, data, "a.yaml", seeds={"limit": 25}, decontaminate=decon)
    assert first.validation_passed, first.validation_summary
    assert [f["stage"] for f in first.funnel][-4:] == ["format", "length", "exact_dedup", "decontaminate"]
    build_dir = Path(first.build_dir)
    contamination = pq.read_table(build_dir / "data" / "contamination" / "train-00000-of-00001.parquet").to_pylist()
    assert contamination and {c["benchmark_id"] for c in contamination} == {"line 633"}
    from synth.recipe import FileSeeds
    from synth.seeds import load_seeds

    line21 = load_seeds(FileSeeds(type="file", path=GSM8K_TRAIN, limit=21))[-1].seed_id  # ids come from content
    assert all(c["record_id"].startswith(line21) for c in contamination)
    pb = pq.read_table(build_dir / "data" / "processbench" / "train-00000-of-00001.parquet").to_pylist()
    injections = pq.read_table(build_dir / "data" / "injections" / "train-00000-of-00001.parquet").to_pylist()
    assert not any(r["id"].startswith(line21) for r in pb)
    assert not any(r["seed_id"] == line21 for r in injections)  # pruned with their labelled records
    rejects = pq.read_table(build_dir / "data" / "rejects" / "train-00000-of-00001.parquet").to_pylist()
    assert sum(r["reason"] == "contaminated" for r in rejects) == len(contamination)
    card = (Path(first.hub_dir) / "README.md").read_text()
    assert "## Decontamination" in card and "line 633" in card and "arXiv:2005.14165" in card

    second = _build(prefect_harness, tmp_path, data, "b.yaml", seeds={"limit": 40}, decontaminate=decon,
                    against_earlier_versions=True)
    assert second.version != first.version and second.validation_passed
    pb2 = pq.read_table(Path(second.build_dir) / "data" / "processbench" / "train-00000-of-00001.parquet").to_pylist()
    old_ids = {r["id"] for r in pb}
    assert pb2 and not old_ids & {r["id"] for r in pb2}
    rejects2 = pq.read_table(Path(second.build_dir) / "data" / "rejects" / "train-00000-of-00001.parquet").to_pylist()
    assert sum(r["reason"] == "duplicate_of_earlier_version" for r in rejects2) == len(pb)
    # An identical rebuild is not compared with itself: same version.
    again = _build(prefect_harness, tmp_path, data, "b.yaml", seeds={"limit": 40}, decontaminate=decon,
                   against_earlier_versions=True)
    assert again.version == second.version and not again.new_version


def test_filter_chain_is_fast_enough_to_bench():
    """Not a timing test (bench/filters.py measures): the chain runs over 2,000 records and each block
    reports its in, out and reasons consistently."""
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from filters import records  # noqa: E402

    recs, planted = records(2000)
    cfg = FilterStage(near_dedup=NearDedupSpec(), decontaminate=DecontaminateSpec(benchmarks=[
        BenchmarkSpec(name="gsm8k-test", path=GSM8K_TEST, fields=["question", "answer"])]))
    kept, rejects, reports, found = run_chain("labelled", recs, build_blocks(cfg))
    for a, b in zip(reports, reports[1:]):
        assert a.n_out == b.n_in
    assert reports[0].n_in == 2000 and reports[-1].n_out == len(kept)
    assert len(rejects) == sum(sum(r.dropped.values()) for r in reports)
    by_reason = {k: v for r in reports for k, v in r.dropped.items()}
    assert by_reason["exact_duplicate"] >= planted["exact_duplicate"] * 0.9
    assert by_reason["near_duplicate"] >= planted["near_duplicate"] * 0.8
    assert by_reason["contaminated"] >= planted["contaminated"] and len(found) == by_reason["contaminated"]
    assert np.isfinite([r.wall_seconds for r in reports]).all()


def test_benchmarks_from_parquet_and_a_datasets_folder(tmp_path):
    """The same benchmark as JSONL, Parquet and a saved `datasets` folder gives the same n-grams."""
    import datasets
    import pyarrow as pa

    rows = gsm8k(GSM8K_TEST, 40)
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    folder = tmp_path / "b-dataset"
    datasets.Dataset.from_list(rows).save_to_disk(str(folder))
    tables = [benchmark_ngrams([BenchmarkSpec(name="b", path=p, fields=["question"])], 13)
              for p in (jsonl, parquet, folder)]
    assert len(tables[0]) > 500
    assert all(set(t.info) == set(tables[0].info) for t in tables[1:])
    assert tables[1].info[next(iter(tables[1].info))][1].startswith("row ")


def test_a_stored_row_is_seen_as_its_record_is():
    """Dedup against an earlier version reads its stored rows: each filtered table's row, seen through
    its record type's own text_view(), gives the record's exact view (ids, prompt, responses)."""
    from schemas import TABLES, Critique, StepVerdict, records_to_table
    from schemas.refinement import Refinement
    from synth import registry
    from synth.exports import to_processbench
    from synth.filters.text import view_of_row

    sol = solution(1, "Ann has 3 apples.", ["3 + 2 = 5", "The answer is 5."])
    crit = Critique("c1", "l1", "s1", sol.problem, sol.steps, "original", None, -1, True, "m", 0, False,
                    [StepVerdict(0, True, "ok")], -1, True, "Step 1: ok.")
    ref = Refinement("r1", "s1", "l1", sol.problem, "Step 1: 3 + 2 = 5", True, "c1", "Step 1: ok.", "m", "m",
                     "The answer is 5.", "stop", "5", "correct", True, "kept_correct", 0)
    records = {"pairs": pair(1, "Q?", "good", "bad"), "critiques": crit, "refinements": ref,
               "processbench": sol}
    assert set(records) <= {table for _, _, table in registry.filtered()}  # (a new kind's is checked at import)
    for table, record in records.items():
        stored = to_processbench(record) if table == "processbench" else record
        row = records_to_table([stored], TABLES[table]).to_pylist()[0]
        seen, expected = view_of_row(table, row), view(record)
        assert (seen.record_id, seen.prompt, seen.responses) == (expected.record_id, expected.prompt,
                                                                 expected.responses), table
    with pytest.raises(ValueError, match="no text view for table seeds"):
        view_of_row("seeds", {})
    with pytest.raises(TypeError, match="no text view for ChatMessage"):
        view(ChatMessage("user", "x"))
