"""Seeds and benchmarks from the Hub, offline: the real `datasets.load_dataset` and huggingface_hub
against the loopback Hub stand-in (tests/hub_datasets.py), in a `synth` process whose HF_ENDPOINT
points at it. One build checks what a user of such a recipe gets: the commit the revision resolved
to in lineage and the card (never a local path), held-out splits grouped by seed, `seed_id` in every
released config, and the staged folder loading split by split with `datasets`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from catalog import Catalog
from tests.conftest import GSM8K_TRAIN, REPO
from tests.hub_datasets import DatasetHub, gsm8k_style_repo

GSM8K_TEST = REPO / "recipes" / "benchmarks" / "gsm8k" / "test.jsonl.gz"


def _synth(args: list[str], hub: DatasetHub, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HOME=str(home / "hf"), HF_DATASETS_CACHE=str(home / "hf" / "ds"),
               HF_HUB_DISABLE_TELEMETRY="1", SYNTH_HOME=str(home / "data"))
    env.pop("HF_HUB_OFFLINE", None)
    return subprocess.run([str(Path(sys.executable).parent / "synth"), *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=REPO)


@pytest.fixture(scope="module")
def hub_build(tmp_path_factory):
    import gzip

    home = tmp_path_factory.mktemp("hubseeds")
    train = [json.loads(l) for l in GSM8K_TRAIN.read_text().splitlines()[:60]]
    test = [json.loads(l) for l in gzip.open(GSM8K_TEST, "rt").read().splitlines()[:200]]
    train[7] = dict(train[7], question=test[3]["question"])  # a contaminated seed: the benchmark must catch it
    with DatasetHub() as hub:
        commit = hub.add_dataset("openai/gsm8k", gsm8k_style_repo(train, test))
        recipe = {
            "name": "hub-injected", "kind": "error_injection", "random_seed": 5,
            "seeds": {"type": "hub", "repo": "openai/gsm8k", "config": "main", "split": "train", "revision": "main",
                      "format": "gsm8k"},
            "splits": {"test": 0.2},
            "stages": {"inject": {"max_per_source": 1},
                       "filter": {"decontaminate": {"benchmarks": [
                           {"name": "gsm8k-test", "repo": "openai/gsm8k", "config": "main", "split": "test",
                            "fields": ["question", "answer"]}]}}},
            "publish": {"license": "mit", "repo": "me/hub-injected"},
        }
        path = home / "hub.yaml"
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        check = _synth(["recipe", "check", str(path)], hub, home)
        assert check.returncode == 0, check.stdout + check.stderr
        build = _synth(["build", str(path), "--quiet"], hub, home)
        assert build.returncode == 0, build.stdout + build.stderr
        moved = hub.add_dataset("openai/gsm8k", {"extra.txt": b"main moved on"})
        (home / "bad.yaml").write_text(path.read_text().replace("split: train", "split: trian"))
        bad = _synth(["recipe", "check", str(home / "bad.yaml")], hub, home)
    return home, commit, moved, bad


def _info(home: Path) -> dict:
    cat = Catalog(home / "data" / "catalog.duckdb")
    name, version = cat.resolve("hub-injected")
    return cat.version_info(name, version)


def test_hub_seeds_record_the_resolved_commit_not_a_path(hub_build):
    home, commit, moved, _ = hub_build
    info = _info(home)
    seeds = [l for l in info["lineage"] if l["source_kind"] == "seeds"]
    assert [l["source"] for l in seeds] == [f"hf://datasets/openai/gsm8k@{commit}"]
    bench = [l for l in info["lineage"] if l["source_kind"] == "benchmark"]
    assert [l["source"] for l in bench] == [f"hf://datasets/openai/gsm8k@{commit}"] and "split=test" in bench[0]["detail"]
    hub_dir = next((home / "data" / "hub" / "hub-injected").iterdir())
    card = (hub_dir / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["source_datasets"] == ["openai/gsm8k"]
    assert f"hf://datasets/openai/gsm8k@{commit}" in card and moved not in card
    assert str(home) not in card and "/work/" not in card  # no path of the machine that built it
    assert 'load_dataset("me/hub-injected"' in card
    assert "\\url{https://huggingface.co/datasets/me/hub-injected}" in card  # the dataset's own BibTeX entry
    assert (hub_dir / "recipe.yaml").read_text() == info["recipe_yaml"]


def test_decontamination_against_a_hub_benchmark(hub_build):
    home, *_ = hub_build
    info = _info(home)
    contamination = next(f for f in info["files"] if f["table_name"] == "contamination")
    rows = pq.read_table(contamination["path"]).to_pylist()
    assert rows and all(r["benchmark"] == "gsm8k-test" for r in rows)


def test_splits_group_by_seed_and_every_config_has_seed_id(hub_build):
    import datasets

    home, *_ = hub_build
    info = _info(home)
    published = [f for f in info["files"] if f["published"]]
    tables = {f["table_name"] for f in published}
    assert {"processbench", "prm_stepwise", "math_shepherd", "injections"} <= tables
    for table in tables:
        by_split = {Path(f["path"]).name.split("-")[0]: pq.read_table(f["path"]).to_pylist()
                    for f in published if f["table_name"] == table}
        assert set(by_split) == {"train", "test"}, table
        assert by_split["train"] and by_split["test"], table
        train_ids = {r["seed_id"] for r in by_split["train"]}
        test_ids = {r["seed_id"] for r in by_split["test"]}
        assert train_ids and test_ids and not train_ids & test_ids, table
    hub_dir = next((home / "data" / "hub" / "hub-injected").iterdir())
    meta = yaml.safe_load((hub_dir / "README.md").read_text().split("---\n")[1])
    for cfg in meta["configs"]:
        assert [d["split"] for d in cfg["data_files"]] == ["train", "test"]
        for split in ("train", "test"):
            ds = datasets.load_dataset(str(hub_dir), cfg["config_name"], split=split)
            assert "seed_id" in ds.column_names and len(ds) == sum(
                f["rows"] for f in published if f["table_name"] == cfg["config_name"]
                and Path(f["path"]).name.startswith(split + "-"))


def test_a_wrong_hub_split_fails_the_check(hub_build):
    *_, bad = hub_build
    assert bad.returncode == 2
    assert "trian" in bad.stdout + bad.stderr
