"""The card a user publishes: sentences computed from their numbers, unique tags, a citation for the
dataset itself, and a funnel that explains every record that leaves it (model-free build)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from catalog import Catalog
from synth.card import length_bias
from tests.conftest import REPO


@pytest.mark.parametrize("chosen_longer,expected", [(36, "below 50%"), (80, "above 50%"), (50, "close to 50%")])
def test_length_bias_sentence_follows_the_number(tmp_path, chosen_longer, expected):
    path = tmp_path / "pairs.parquet"
    rows = [{"chosen_length": 20, "rejected_length": 10}] * chosen_longer + \
           [{"chosen_length": 10, "rejected_length": 20}] * (100 - chosen_longer)
    pq.write_table(pa.Table.from_pylist(rows), path)
    got = length_bias({"files": [{"table_name": "pairs", "rows": 100, "path": str(path)}]})
    assert got["share"] == chosen_longer / 100 and got["verdict"].startswith(expected)


@pytest.fixture(scope="module")
def injected(prefect_harness, tmp_path_factory):
    from flows.build import build_dataset

    folder = tmp_path_factory.mktemp("card")
    recipe = yaml.safe_load((REPO / "recipes" / "gsm8k-injected-errors.yaml").read_text())
    recipe["seeds"]["path"] = str(REPO / "recipes" / recipe["seeds"]["path"])
    recipe["stages"]["filter"]["decontaminate"]["benchmarks"][0]["path"] = str(
        REPO / "recipes" / "benchmarks" / "gsm8k" / "test.jsonl.gz")
    recipe["seeds"]["limit"] = 120
    recipe.pop("gates", None)
    path = folder / "r.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    summary = build_dataset(str(path), str(folder / "data"), progress=False)
    return summary


def test_every_source_that_leaves_the_funnel_has_a_reason(injected):
    funnel = {f["stage"]: f for f in injected.funnel}
    inject, made = funnel["inject"], funnel["inject_labels"]
    source_drops = {"source_answer_mismatch", "no_calculations", "source_arithmetic_error", "no_error_injected"}
    dropped_sources = sum(n for r, n in inject["dropped"].items() if r in source_drops)
    assert made["labels"]["original"] + dropped_sources == inject["n_in"] == 120  # every source accounted for
    assert made["n_in"] == inject["n_out"] and made["n_out"] == made["labels"]["injected"] + made["labels"]["original"]
    assert funnel["format"]["n_in"] == made["n_out"]
    rejects = pq.read_table(Path(injected.build_dir) / "data" / "rejects" / "train-00000-of-00001.parquet").to_pylist()
    assert len(rejects) == sum(sum(f["dropped"].values()) for f in injected.funnel)


def test_card_metadata_is_ready_for_the_hub(injected):
    card = (Path(injected.hub_dir) / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "mit"
    assert len(meta["tags"]) == len(set(meta["tags"]))
    assert "source_datasets" not in meta  # local seed files are not Hub datasets
    assert "@misc{gsm8k_injected_errors_" in card and f"version      = {{{injected.version}}}" in card
    assert "<this repo or folder>" not in card and (Path(injected.hub_dir) / "recipe.yaml").is_file()
    info = Catalog(Path(injected.catalog)).version_info(injected.dataset, injected.version)
    seeds = next(l for l in info["lineage"] if l["source_kind"] == "seeds")
    assert seeds["source"] == "train-500.jsonl" and "sha256=" in seeds["detail"]  # no path of this machine


def test_the_funnel_prints_outcome_breakdowns_as_counts(capsys):
    """refine's breakdown is outcomes per group (with or without a critique), not tries: the funnel
    prints its counts, never an `attempted → kept` line of zeros."""
    from types import SimpleNamespace

    from synth.console import build_summary

    refine = {"stage": "refine", "n_in": 4, "unit_in": "revisions asked", "n_out": 4, "unit_out": "revisions",
              "wall_seconds": 1.0, "dropped": {}, "labels": {"fixed": 1, "broke": 1},
              "breakdown": {"with critique": {"incorrect_in": 1, "fixed": 1, "correct_in": 1, "broke": 1}}}
    inject = {"stage": "inject", "n_in": 2, "unit_in": "solutions", "n_out": 1, "unit_out": "injections",
              "wall_seconds": 1.0, "dropped": {}, "labels": {}, "breakdown": {"calculation": {"tried": 2, "kept": 1}}}
    build_summary(SimpleNamespace(dataset="d", version="1.0.0", funnel=[refine, inject], usage=[], new_version=True,
                                  fingerprint="f" * 16, rows={}, catalog="c", hub_dir="h", wall_seconds=2.0))
    err = " ".join(capsys.readouterr().err.split())
    assert "with critique incorrect_in: 1, fixed: 1, correct_in: 1, broke: 1" in err
    assert "0 → 0" not in err and "calculation 2 → 1 (50%)" in err
