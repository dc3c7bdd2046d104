"""Renders the dataset card from the catalog's record of a version (never from a build's memory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

from schemas import TABLES
from synth.citations import PAPERS, STAGE_CITATIONS

_TEMPLATES = Path(__file__).parent / "templates"


def size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((label for limit, label in bounds if rows < limit), "n>1T" if rows >= 10**12 else "100M<n<1B")


def card_metadata(info: dict[str, Any], tables: tuple[str, ...]) -> dict[str, Any]:
    recipe = yaml.safe_load(info["recipe_yaml"])
    published = [f for f in info["files"] if f["published"]]
    rows = max((f["rows"] for f in published), default=0)
    configs = []
    for i, table in enumerate(t for t in tables if any(f["table_name"] == t for f in published)):
        cfg: dict[str, Any] = {"config_name": table, "data_files": [{"split": "train", "path": f"data/{table}/train-*.parquet"}]}
        if i == 0:
            cfg["default"] = True
        configs.append(cfg)
    return {
        "license": (recipe.get("publish") or {}).get("license", "apache-2.0"),
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "synth", info["dataset_row"]["kind"], "math", "dpo"],
        "size_categories": [size_category(rows)],
        "pretty_name": (recipe.get("publish") or {}).get("pretty_name") or info["dataset"],
        "configs": configs,
    }


def render_card(info: dict[str, Any], tables: tuple[str, ...]) -> str:
    meta = card_metadata(info, tables)
    stages = [f["stage"] for f in info["funnel"]]
    cited = []
    for s in stages:
        for key in STAGE_CITATIONS.get(s, []):
            if key not in cited:
                cited.append(key)
    if any("smollm2" in l["source"] for l in info["lineage"] if l["source_kind"] == "model"):
        cited.append("smollm2")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    body = env.get_template("dataset_card.md.j2").render(
        info=info,
        meta=meta,
        schemas={t: TABLES[t] for t in tables},
        published=[f for f in info["files"] if f["published"]],
        citations=[PAPERS[k] for k in cited],
        lineage_models=[dict(l, detail=json.loads(l["detail"])) for l in info["lineage"] if l["source_kind"] == "model"],
        lineage_other=[l for l in info["lineage"] if l["source_kind"] != "model"],
        total_prompt=sum(u["prompt_tokens"] for u in info["usage"]),
        total_completion=sum(u["completion_tokens"] for u in info["usage"]),
    )
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + body
