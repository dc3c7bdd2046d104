"""End to end on the embedded stack: a real vLLM build through the Prefect flow, then every product
of it checked: Parquet against the declared schemas, labels against a recheck, the catalog against
the files, the staged Hub folder through the real `datasets` loader."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from catalog import Catalog
from schemas import TABLES
from synth.answers import answers_match, read_answer
from synth.process import process_flaws
from synth.stages.pair import rejectable
from synth.errors import ValidationFailed
from tests.conftest import write_recipe



def _solution(row: dict):
    from schemas import Solution

    return Solution(**{k: row[k] for k in Solution.__dataclass_fields__ if k in row})

def _table(data_dir: Path, summary, name: str):
    return pq.read_table(Path(summary.build_dir) / "data" / name / "train-00000-of-00001.parquet")


def test_build_registers_a_new_validated_version(built):
    summary, _, data_dir = built
    assert summary.new_version and summary.version == "1.0.0"
    assert summary.validation_passed
    assert summary.rows["seeds"] == 16 and summary.rows["solutions"] + sum(
        f["dropped"].get("empty_output", 0) for f in summary.funnel) == 64
    assert summary.usage[0]["completion_tokens"] > 0 and summary.usage[0]["requests"] == 16


def test_parquet_files_have_the_declared_schemas(built):
    summary, _, data_dir = built
    for name in ("seeds", "solutions", "pairs", "dpo", "rejects"):
        assert _table(data_dir, summary, name).schema.equals(TABLES[name].schema), name


def test_labels_agree_with_a_recheck_and_pairs_are_verified(built):
    summary, _, data_dir = built
    solutions = {r["solution_id"]: r for r in _table(data_dir, summary, "solutions").to_pylist()}
    statuses = {r["answer_status"] for r in solutions.values()}
    assert "incorrect" in statuses  # the small model gets most answers wrong
    for s in solutions.values():
        reading = read_answer(s["text"], finished=s["finish_reason"] != "length")
        assert (s["answer_status"] == "no_answer") == (reading.status == "none")
        assert (s["answer_status"] == "ambiguous") <= (reading.status == "ambiguous")
        if reading.status != "ambiguous":
            assert s["extracted_answer"] == reading.answer
        assert s["is_correct"] == (s["answer_status"] == "correct")
        assert s["is_correct"] == (reading.status != "ambiguous" and answers_match(reading.answer, s["gold_answer"]))
    pairs = _table(data_dir, summary, "pairs").to_pylist()
    funnel = {f["stage"]: f for f in summary.funnel}
    assert len(pairs) == funnel["pair"]["n_out"]
    clean = {s["solution_id"] for s in solutions.values()
             if s["is_correct"] and not process_flaws(s["text"], s["finish_reason"], "solve_math")}
    wrong = {i for i, s in solutions.items() if rejectable(_solution(s))}  # finished, stating a wrong answer
    problems_with_both = {solutions[i]["seed_id"] for i in clean} & {solutions[i]["seed_id"] for i in wrong}
    assert funnel["pair"]["n_in"] - sum(funnel["pair"]["dropped"].values()) == len(problems_with_both)
    assert funnel["chosen_screen"]["n_out"] == len(clean)
    for p in pairs:
        chosen, rejected = solutions[p["chosen_solution_id"]], solutions[p["rejected_solution_id"]]
        assert chosen["is_correct"] and not rejected["is_correct"] and p["method"] == "verified"
        assert p["chosen_solution_id"] in clean and p["rejected_solution_id"] in wrong
        assert (p["score_chosen"], p["score_rejected"]) == (1.0, 0.0)
        assert chosen["seed_id"] == rejected["seed_id"] == p["seed_id"]
        assert p["chosen"][-1]["content"] == chosen["text"] and p["rejected"][-1]["content"] == rejected["text"]
    rejects = _table(data_dir, summary, "rejects").to_pylist()
    assert len(rejects) == sum(sum(f["dropped"].values()) for f in summary.funnel)
    assert all(r["reason"] and r["stage"] for r in rejects)


def test_catalog_records_files_validation_and_funnel(built):
    summary, recipe, data_dir = built
    cat = Catalog(Path(summary.catalog))
    info = cat.version_info(summary.dataset, summary.version)
    assert info["fingerprint"] == summary.fingerprint
    assert info["recipe_yaml"] == recipe.read_text()
    assert info["validation_passed"] is True
    for f in info["files"]:
        path = Path(f["path"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f["sha256"]
        assert pq.read_metadata(path).num_rows == f["rows"]
        assert path.stat().st_size == f["bytes"]
    assert {v["table_name"] for v in info["validations"]} == {"solutions", "pairs", "dpo"}
    assert all(v["success"] for v in info["validations"])
    assert [f["stage"] for f in info["funnel"]] == ["seeds", "generate", "verify", "chosen_screen", "pair"]
    assert info["usage"][0]["completion_tokens"] == summary.usage[0]["completion_tokens"]
    kinds = {l["source_kind"] for l in info["lineage"]}
    assert {"seeds", "model", "prompt"} <= kinds
    assert info["build"]["status"] == "registered" and info["build"]["flow_run_id"]


def test_hub_folder_card_and_datasets_loader(built):
    import datasets

    summary, _, data_dir = built
    hub = Path(summary.hub_dir)
    card = (hub / "README.md").read_text()
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["license"] == "apache-2.0"
    assert meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in meta["configs"]] == ["dpo", "pairs", "solutions"]
    funnel_section = card.split("## Funnel")[1].split("## Validation")[0]
    for f in summary.funnel:
        assert f"| {f['stage']} | {f['n_in']} {f['unit_in']} | {f['n_out']} {f['unit_out']} |" in funnel_section
    assert "## Provenance" in card and "embedded:smollm2-135m-instruct@gguf-sha256:" in card
    assert "arXiv:2404.19733" in card  # the pairing method is cited
    screen = next(f for f in summary.funnel if f["stage"] == "chosen_screen")
    if screen["n_in"]:  # correct solutions that could not be chosen, by flaw
        assert f"Of {screen['n_in']} solutions with a correct answer, {screen['n_out']} could be chosen" in card
        for reason, n in screen["breakdown"]["flaws"].items():
            assert reason in ("tried", "kept") or f"| {reason} | {n} |" in card
    for cfg in meta["configs"]:
        ds = datasets.load_dataset(str(hub), cfg["config_name"], split="train")
        assert len(ds) == summary.rows[cfg["config_name"]]
        assert set(ds.column_names) == set(TABLES[cfg["config_name"]].schema.names)


def test_identical_rebuild_through_the_cli_is_the_same_version(built):
    """`synth build` runs the same flow; per-request seeds make it reproducible: same recipe, same
    bytes, so the catalog gains a build but no new version."""
    from typer.testing import CliRunner

    from synth.cli import app

    summary, recipe, data_dir = built
    result = CliRunner().invoke(app, ["build", str(recipe), "--data-dir", str(data_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "identical to an existing version" in result.output
    assert "tokens and time per stage and model" in result.output  # the accounting is shown
    cat = Catalog(Path(summary.catalog))
    # The rebuild was answered by the response cache: no request reached the engine.
    usage = cat.query("SELECT u.cache_hits, u.backend_requests, u.completion_tokens FROM usage u "
                      "JOIN builds b USING (build_id) WHERE b.status = 'duplicate'")
    assert usage == [{"cache_hits": 16, "backend_requests": 0, "completion_tokens": 0}]
    assert cat.query("SELECT count(*) AS n FROM versions")[0]["n"] == 1
    builds = cat.query("SELECT status, version FROM builds ORDER BY started_at")
    assert [b["status"] for b in builds] == ["registered", "duplicate"]
    assert {b["version"] for b in builds} == {summary.version}


def test_failing_expectation_fails_the_build(built, tmp_path):
    from flows.build import build_dataset

    summary, _, data_dir = built
    recipe = write_recipe(tmp_path, min_pairs=100_000)
    with pytest.raises(ValidationFailed) as err:
        build_dataset(str(recipe), str(tmp_path / "data"), progress=False)
    assert "expect_table_row_count_to_be_between(min_value=100000" in err.value.summary
    assert "was not staged" in str(err.value)
    cat = Catalog(tmp_path / "data" / "catalog.duckdb")
    assert cat.query("SELECT status FROM builds")[0]["status"] == "failed_validation"
    assert cat.query("SELECT validation_passed FROM versions")[0]["validation_passed"] is False
    assert not (tmp_path / "data" / "hub").exists()
