"""Renders the dataset card from the catalog's record of a version (never from a build's memory)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

from schemas import TABLES
from synth.inject.code_ops import CODE_ERROR_TYPES
from synth import registry

_TEMPLATES = Path(__file__).parent / "templates"


def size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((label for limit, label in bounds if rows < limit), "n>1T" if rows >= 10**12 else "100M<n<1B")


# Outcomes of a breakdown that are not drops: the rest are reasons a record was dropped.
_NOT_DROPS = ("tried", "kept", "not_applicable", "no_plausible_candidate", "claim_matched_label")
# (code bugs: "tests_still_pass" is a drop, shown with the others)


def breakdown_rows(stage: dict[str, Any]) -> list[dict[str, Any]]:
    """Per group (error type, label source): tried, kept, keep rate, and each reason for a drop."""
    rows = []
    for group, outcomes in sorted(stage.get("breakdown", {}).items()):
        tried, kept = outcomes.get("tried", 0), outcomes.get("kept", 0)
        attempted = tried - outcomes.get("not_applicable", 0) - outcomes.get("no_plausible_candidate", 0)
        parsed = attempted - outcomes.get("unparsable_output", 0)
        rows.append({
            "group": group, "tried": tried, "attempted": attempted, "kept": kept,
            "keep_rate": kept / attempted if attempted else 0.0,
            "agreement": kept / parsed if parsed else 0.0,
            "not_applicable": outcomes.get("not_applicable", 0) + outcomes.get("no_plausible_candidate", 0),
            "claims": outcomes.get("claim_matched_label"),
            "drops": {k: v for k, v in sorted(outcomes.items()) if k not in _NOT_DROPS and not k.startswith("slip:")},
            # calculation errors: how many kept records made each kind of slip (synth.inject.operators)
            "slips": {k[5:]: v for k, v in sorted(outcomes.items()) if k.startswith("slip:")},
        })
    return rows


def judge_rows(stage: dict[str, Any]) -> list[dict[str, Any]]:
    """Per judge: how many judgments it was asked for, how many it failed, and what it said. In
    pairwise mode, its flip rate (verdicts that follow the position rather than the response) and
    how often it picked the first position."""
    rows = []
    for judge, o in sorted(stage.get("breakdown", {}).items()):
        ratings = {k: o.get(f"rating_{k}", 0) for k in range(1, 6)}
        n_rated = sum(ratings.values())
        both = o.get("consistent", 0) + o.get("position_flip", 0)
        rows.append({
            "judge": judge, "tried": o.get("tried", 0), "unparsable": o.get("unparsable_output", 0),
            "ratings": ratings, "mean_rating": sum(k * n for k, n in ratings.items()) / n_rated if n_rated else None,
            "consistent": o.get("consistent", 0), "flips": o.get("position_flip", 0),
            "flip_rate": o.get("position_flip", 0) / both if both else None,
            "first_position_rate": o.get("first_position_wins", 0) / o["verdicts"] if o.get("verdicts") else None,
        })
    return rows


def length_bias(info: dict[str, Any]) -> dict[str, Any] | None:
    """How often chosen is the longer response in the released pairs: near 50% is unbiased; far above
    it, a model trained on the pairs learns that longer is better (Singhal et al. 2023)."""
    import pyarrow.parquet as pq

    f = next((f for f in info["files"] if f["table_name"] == "pairs"), None)
    if f is None or not f["rows"]:
        return None
    t = pq.read_table(f["path"], columns=["chosen_length", "rejected_length"]).to_pydict()
    pairs = list(zip(t["chosen_length"], t["rejected_length"]))
    longer = sum(c > r for c, r in pairs)
    shorter = sum(c < r for c, r in pairs)
    share = longer / len(pairs)
    # The sentence follows the number: Singhal et al. treat a share far from one half as a bias either way.
    if abs(share - 0.5) <= 0.05:
        verdict = "close to 50%, so length says little about which response is chosen."
    elif share > 0.5:
        verdict = ("above 50%: a model trained on these pairs may learn that longer is better; consider "
                   "length-controlled training or filtering.")
    else:
        verdict = ("below 50%: chosen responses tend to be the shorter ones, so a model trained on these pairs "
                   "may learn that shorter is better.")
    return {"pairs": len(pairs), "chosen_longer": longer, "rejected_longer": shorter,
            "same_length": len(pairs) - longer - shorter, "share": share, "verdict": verdict}


def contamination_report(info: dict[str, Any], recipe: dict[str, Any], limit: int = 10) -> dict[str, Any] | None:
    """What the decontamination block checked and found, from the build's stored contamination table."""
    decon = (((recipe.get("stages") or {}).get("filter") or {}).get("decontaminate"))
    if not decon:
        return None
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for f in info["files"]:
        if f["table_name"] == "contamination":
            rows = pq.read_table(f["path"]).to_pylist()
    checked = [f for f in info["funnel"] if f["stage"] == "decontaminate"]
    return {"ngram": decon.get("ngram", 13), "benchmarks": decon["benchmarks"],
            "checked": sum(f["n_in"] for f in checked), "dropped": len(rows), "examples": rows[:limit]}


def stage_methods(recipe: dict[str, Any]) -> dict[str, str]:
    """The recipe's method settings: judge mode and pair method (verified unless the recipe says)."""
    st = recipe.get("stages") or {}
    seeds = recipe.get("seeds") or {}
    out = {"seeds": seeds.get("format", "gsm8k") if seeds.get("type") == "file" else "procedural"}
    if st.get("generate") is not None:
        out["generate"] = out["verify"] = (st["generate"] or {}).get("prompt", "solve_math")
    if st.get("judge"):
        out["judge"] = st["judge"].get("mode", "ratings")
    if "pair" in st:
        out["pair"] = (st["pair"] or {}).get("method", "verified")
    return out


def domain_tags(recipe: dict[str, Any]) -> list[str]:
    seeds = recipe.get("seeds") or {}
    fmt = seeds.get("format", "gsm8k") if seeds.get("type") == "file" else "procedural"
    return {"prompts": [], "humaneval": ["code"]}.get(fmt, ["math"])


def card_metadata(info: dict[str, Any], tables: tuple[str, ...]) -> dict[str, Any]:
    recipe = yaml.safe_load(info["recipe_yaml"])
    published = [f for f in info["files"] if f["published"]]
    rows = max((f["rows"] for f in published), default=0)
    configs = []
    for i, table in enumerate(t for t in tables if any(f["table_name"] == t for f in published)):
        splits = list(dict.fromkeys(Path(f["path"]).name.split("-")[0] for f in published if f["table_name"] == table))
        splits.sort(key=lambda x: (x != "train", x))
        cfg: dict[str, Any] = {"config_name": table, "data_files": [
            {"split": split, "path": f"data/{table}/{split}-*.parquet"} for split in splits]}
        if i == 0:
            cfg["default"] = True
        configs.append(cfg)
    kind = info["dataset_row"]["kind"]
    meta = {
        "license": (recipe.get("publish") or {}).get("license", "apache-2.0"),
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": list(dict.fromkeys(["synthetic", "synth", kind, *domain_tags(recipe), *registry.kind_tags(kind)])),
        "size_categories": [size_category(rows)],
        "pretty_name": (recipe.get("publish") or {}).get("pretty_name") or info["dataset"],
    }
    sources = source_datasets(info)
    if sources:
        meta["source_datasets"] = sources
    meta["configs"] = configs
    return meta


def source_datasets(info: dict[str, Any]) -> list[str]:
    """The Hub datasets the seeds came from (the card's `source_datasets`), from the lineage: a Hub
    seed source is recorded as hf://datasets/REPO@COMMIT. Benchmarks are not sources."""
    return list(dict.fromkeys(l["source"].removeprefix("hf://datasets/").split("@")[0] for l in info["lineage"]
                              if l["source_kind"] == "seeds" and l["source"].startswith("hf://datasets/")))


def repo_id_of(info: dict[str, Any], recipe: dict[str, Any], repo_id: str | None) -> str | None:
    """The Hub repo the card's load snippet names: the one being published to, else the recipe's
    publish.repo, else the last one this version was published to."""
    pubs = info.get("publications") or []
    return repo_id or (recipe.get("publish") or {}).get("repo") or (pubs[-1]["repo_id"] if pubs else None)


def bibtex(info: dict[str, Any], meta: dict[str, Any], repo_id: str | None) -> str:
    """A BibTeX entry for the dataset itself (as the Hub shows for a dataset), with its version."""
    year = str(info["created_at"])[:4]
    key = "".join(c if c.isalnum() else "_" for c in info["dataset"]) + f"_{year}"
    lines = [f"  title        = {{{{{meta['pretty_name']}}}}}",
             f"  author       = {{{{{repo_id.split('/')[0] if repo_id else info['dataset']}}}}}",
             f"  year         = {{{year}}}",
             f"  version      = {{{info['version']}}}"]
    if repo_id:
        lines.append(f"  howpublished = {{\\url{{https://huggingface.co/datasets/{repo_id}}}}}")
    lines.append(f"  note         = {{Built with synth; fingerprint {info['fingerprint'][:16]}}}")
    return ("@misc{" + key + ",\n" + ",\n".join(lines) + "\n"
            "}")


def cited_papers(info: dict[str, Any], recipe: dict[str, Any]) -> list[str]:
    """The papers the stages that ran, their methods and the published tables follow (as the stages
    declare them, synth/stages/), then the recipe's own, then the model's."""
    rows, methods, tables = registry.row_citations(), registry.method_citations(), registry.table_citations()
    keys = [k for f in info["funnel"] for k in rows.get(f["stage"], ())]
    keys += [k for stage, method in stage_methods(recipe).items() for k in methods.get(stage, {}).get(method, ())]
    keys += [k for f in info["files"] if f["published"] for k in tables.get(f["table_name"], ())]
    keys += list((recipe.get("publish") or {}).get("citations", []))
    if any("smollm2" in l["source"] for l in info["lineage"] if l["source_kind"] == "model"):
        keys.append("smollm2")
    return list(dict.fromkeys(keys))


def render_card(info: dict[str, Any], tables: tuple[str, ...], changes: dict[str, Any] | None = None,
                repo_id: str | None = None) -> str:
    """The card; `changes` is synth.access.diff from the parent version, when there is one; `repo_id`
    the Hub repo it is published to (the load snippet names it)."""
    from synth.inject.operators import taxonomy

    meta = card_metadata(info, tables)
    recipe = yaml.safe_load(info["recipe_yaml"])
    cited = cited_papers(info, recipe)
    stages = {f["stage"]: f for f in info["funnel"]}
    injected = [stages[s] for s in ("inject", "inject_llm") if s in stages]
    error_types = sorted({t for f in injected for t in f.get("breakdown", {})})
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    repo = repo_id_of(info, recipe, repo_id)
    body = env.get_template("dataset_card.md.j2").render(
        info=info,
        meta=meta,
        repo_id=repo,
        bibtex=bibtex(info, meta, repo),
        schemas={t: TABLES[t] for t in tables if any(f["table_name"] == t and f["published"] for f in info["files"])},
        published=sorted((f for f in info["files"] if f["published"]),
                         key=lambda f: tables.index(f["table_name"]) if f["table_name"] in tables else len(tables)),
        kind=info["dataset_row"]["kind"],
        stage_names=list(stages),
        injected=[(f["stage"], breakdown_rows(f)) for f in injected],
        error_types=[taxonomy()[t] for t in error_types if t in taxonomy()],
        critique=breakdown_rows(stages["critique"]) if "critique" in stages else None,
        code_bugs=breakdown_rows(stages["code_inject"]) if "code_inject" in stages else None,
        code_critique=breakdown_rows(stages["code_critique"]) if "code_critique" in stages else None,
        # sections the stages that ran declare (synth/stages/: `card`), in run order
        stage_sections=[decl.card(stages[decl.name]) for decl in registry.STAGES if decl.card and decl.name in stages],
        code_categories=CODE_ERROR_TYPES,
        process_isolation=[s for s in ("verify", "code_inject")  # code run without namespaces (synth/sandbox.py)
                           if (((recipe.get("stages") or {}).get(s) or {}).get("isolation")) == "process"],
        methods=stage_methods(recipe),
        pair_settings=((recipe.get("stages") or {}).get("pair") or {}),
        judges=judge_rows(stages["judge"]) if "judge" in stages else None,
        length=length_bias(info),
        chosen_screen=(stages["chosen_screen"].get("breakdown") or {}).get("flaws") if "chosen_screen" in stages else None,
        rejected_kinds=(stages["pair"].get("breakdown") or {}).get("rejected") if "pair" in stages else None,
        contamination=contamination_report(info, recipe),
        changes=changes,
        reveal_error=bool(((recipe.get("stages") or {}).get("critique") or {}).get("reveal_error")),
        citations=[registry.PAPERS[k] for k in cited],
        lineage_models=[dict(l, detail=json.loads(l["detail"])) for l in info["lineage"] if l["source_kind"] == "model"],
        lineage_other=[l for l in info["lineage"] if l["source_kind"] != "model"],
        total_prompt=sum(u["prompt_tokens"] for u in info["usage"]),
        total_completion=sum(u["completion_tokens"] for u in info["usage"]),
        total_hits=sum(u["cache_hits"] for u in info["usage"]),
        total_requests=sum(u["requests"] for u in info["usage"]),
    )
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n\n" + body
