"""Several models in one recipe, each with its own backend and sampling: the in-process vLLM engine
and an OpenAI-compatible server generate side by side, and each is accounted for on its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

from catalog import Catalog
from tests.conftest import write_recipe
from tests.servers import SERVED_NAME


def _two_model_recipe(folder: Path, base_url: str) -> Path:
    path = write_recipe(folder)
    text = path.read_text()
    server = (f"  server:\n    backend: openai\n    base_url: {base_url}\n    model: {SERVED_NAME}\n"
              f"    max_in_flight: 16\n    sampling:\n      temperature: 1.0\n      max_tokens: 96\n")
    text = text.replace("stages:\n  generate:\n", server + "stages:\n  generate:\n    models: [generator, server]\n")
    path.write_text(text)
    return path


def test_generator_and_server_models_in_one_build(built, vllm_server, tmp_path):
    from flows.build import build_dataset

    first, _, first_data = built
    # Start from the first build's response cache: the vLLM model's requests are the same ones.
    data = tmp_path / "data"
    (data / "cache").mkdir(parents=True)
    with sqlite3.connect(first_data / "cache" / "responses.sqlite") as src, \
            sqlite3.connect(data / "cache" / "responses.sqlite") as dst:
        src.backup(dst)

    summary = build_dataset(str(_two_model_recipe(tmp_path, vllm_server.base_url)), str(data), progress=False)
    usage = {u["backend"]: u for u in summary.usage}
    assert set(usage) == {"vllm", "openai"}
    assert usage["vllm"]["cache_hits"] == 16 and usage["vllm"]["backend_requests"] == 0
    assert usage["openai"]["cache_hits"] == 0 and usage["openai"]["backend_requests"] == 16
    assert usage["openai"]["completion_tokens"] > 0 and usage["openai"]["model"] == f"{SERVED_NAME}@unpinned"

    solutions = pq.read_table(Path(summary.build_dir) / "data" / "solutions" / "train-00000-of-00001.parquet")
    by_model = {}
    for row in solutions.to_pylist():
        by_model.setdefault(row["model"], []).append(row["solution_id"])
    assert set(by_model) == {usage["vllm"]["model"], usage["openai"]["model"]}
    assert all("-server-s" in sid for sid in by_model[usage["openai"]["model"]])
    assert all("-generator-s" in sid for sid in by_model[usage["vllm"]["model"]])
    assert summary.rows["solutions"] + sum(f["dropped"].get("empty_output", 0) for f in summary.funnel) == 128

    info = Catalog(Path(summary.catalog)).version_info(summary.dataset, summary.version)
    assert sorted((u["backend"], u["requests"], u["cache_hits"]) for u in info["usage"]) == [
        ("openai", 16, 0), ("vllm", 16, 16)]
    card = (Path(summary.hub_dir) / "README.md").read_text()
    assert f"`{SERVED_NAME}@unpinned` as `server` (backend openai)" in card
