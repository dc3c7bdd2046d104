"""The build, as a sequence of steps that the Prefect flow (flows/build.py) runs as tasks.

Nothing here imports Prefect: each step takes typed inputs and returns typed outputs, so the same
code runs under any orchestrator and in tests.
"""

from __future__ import annotations

import json
from collections import Counter
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from catalog import BuildRecord, Catalog, FileEntry, Registered
from catalog.store import utcnow
from schemas import (
    TABLES,
    CodeCritique,
    CodeInjection,
    Comparison,
    Contamination,
    Critique,
    ErrorInjection,
    Generation,
    LabelledSolution,
    MCStepLabels,
    PreferencePair,
    RatedCompletion,
    Reject,
    Seed,
    Solution,
    records_to_table,
)
from synth.cache import ResponseCache
from synth import console, exports, labels
from synth.engine import Usage
from synth.errors import SeedError, ValidationFailed
from synth.paths import data_dir as default_data_dir
from synth.paths import sha256_file
from synth.prompts import template_sha256
from synth.recipe import FileSeeds, HubSeeds, Recipe, load_recipe
from synth.seeds import check_sources, load_seeds, pin_hub_revisions, read_seeds
from synth.stages.base import StageReport, StageResult
from synth.stages.critique import CritiqueSteps
from synth.stages.generate import GenerateSolutions
from synth.stages.inject import InjectErrors, source_key
from synth.stages.inject_llm import InjectErrorsLLM
from synth.stages.mc_label import MonteCarloStepLabels
from synth.stages.code_critique import CritiqueCode, to_code_critique_sft
from synth.stages.code_inject import InjectCodeErrors
from synth.stages.filter import build_blocks, run_chain
from synth.stages.judge import JudgeRatings
from synth.stages.judge_pairwise import JudgePairwise
from synth.stages.pair import PairPreferences, ScreenChosen
from synth.stages.verify import VerifyAnswers

# Tables each kind of dataset publishes, in the order of the card's configs (the first is the default);
# a table is published when the build made it. Everything else (seeds, rejects, intermediate
# solutions) is stored with the version but not released.
PUBLISH_ORDER: dict[str, tuple[str, ...]] = {
    "preference": ("dpo", "pairs", "ultrafeedback", "ratings", "comparisons", "solutions"),
    "error_injection": ("processbench", "injections", "code_injections", "math_shepherd", "prm_stepwise"),
    "critique": ("critique_sft", "critiques", "code_critiques", "code_injections", "math_shepherd", "processbench",
                 "prm_stepwise", "mc_labels"),
}


@dataclass
class BuildContext:
    recipe: Recipe
    recipe_path: str
    recipe_yaml: str
    recipe_sha256: str
    build_id: str
    data_dir: Path
    build_dir: Path
    started_at: datetime
    progress: bool = True
    flow_run_id: Optional[str] = None
    cache_path: Optional[Path] = None  # the response cache; None: every request goes to its backend

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.duckdb"

    def response_cache(self) -> Optional[ResponseCache]:
        return ResponseCache(self.cache_path) if self.cache_path else None


@dataclass
class BuildSummary:
    dataset: str
    version: str
    new_version: bool
    fingerprint: str
    validation_passed: bool
    catalog: str
    build_id: str
    build_dir: str
    hub_dir: Optional[str]
    funnel: list[dict[str, Any]]
    usage: list[dict[str, Any]]
    wall_seconds: float
    validation_summary: str = ""
    rows: dict[str, int] = field(default_factory=dict)


def default_cache_path(data_dir: Path) -> Path:
    return data_dir / "cache" / "responses.sqlite"


def start_build(recipe_path: str | Path, data_dir: str | Path | None = None, progress: bool = True,
                flow_run_id: Optional[str] = None, use_cache: bool = True) -> BuildContext:
    """Validates the recipe before anything runs; a bad recipe raises RecipeError here. The response
    cache lives in the data directory, so a build run again after a crash resumes where it stopped."""
    recipe, sha = load_recipe(recipe_path)
    recipe = pin_hub_revisions(recipe)  # one commit of each Hub dataset for the whole build, recorded in lineage
    root = Path(data_dir).resolve() if data_dir else default_data_dir()
    started = utcnow()
    build_id = f"{recipe.name}-{started:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    build_dir = root / "builds" / build_id
    from synth.access import check_data_dir
    from synth.gc import hold_build_lock

    check_data_dir(root, use_cache)  # a damaged catalog or cache stops the build before its first stage
    build_dir.mkdir(parents=True, exist_ok=False)
    hold_build_lock(build_dir)  # until this process ends: `synth gc` leaves the folder alone meanwhile
    return BuildContext(recipe=recipe, recipe_path=str(Path(recipe_path).resolve()),
                        recipe_yaml=Path(recipe_path).read_text(), recipe_sha256=sha, build_id=build_id,
                        data_dir=root, build_dir=build_dir, started_at=started, progress=progress,
                        flow_run_id=flow_run_id, cache_path=default_cache_path(root) if use_cache else None)


def preflight(recipe_path: str | Path) -> Recipe:
    """Checks the recipe and reads its seeds before any engine or orchestrator starts, so bad input
    fails in seconds with a message naming the field or the line."""
    recipe, _ = load_recipe(recipe_path)
    problems = check_sources(recipe)
    if problems:
        raise SeedError(f"{recipe_path}: " + "\n  - ".join(["cannot read the recipe's data:", *problems]))
    load_seeds(recipe.seeds)
    return recipe


@dataclass
class Tables:
    """Everything the stages have made so far. Each stage reads what it needs and adds its own;
    the flow passes this from task to task."""

    seeds: list[Seed] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)
    solutions: list[Solution] = field(default_factory=list)
    injections: list[ErrorInjection] = field(default_factory=list)
    mc_labels: list[MCStepLabels] = field(default_factory=list)
    labelled: list[LabelledSolution] = field(default_factory=list)  # ground truth for exports and critiques
    critiques: list[Critique] = field(default_factory=list)
    code_injections: list[CodeInjection] = field(default_factory=list)
    code_critiques: list[CodeCritique] = field(default_factory=list)
    rated: list[RatedCompletion] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    pairs: list[PreferencePair] = field(default_factory=list)
    contamination: list[Contamination] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    reports: list[StageReport] = field(default_factory=list)
    usage: list[Usage] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)


def _added(t: Tables, name: str, result: StageResult, usage: list[Usage] | None = None, **updates: Any) -> Tables:
    return replace(t, rejects=t.rejects + result.rejects, reports=t.reports + [result.report],
                   usage=t.usage + list(usage or []), ran=t.ran + [name], **updates)


# Collections whose records carry a seed_id, in the order the stages make them.
_BY_SEED = ("generations", "solutions", "injections", "mc_labels", "labelled", "critiques", "code_injections",
            "code_critiques", "rated", "comparisons", "pairs")


def canonical(t: Tables) -> Tables:
    """Every seed-keyed collection in seed order (stable within a seed), so a build run in shards and
    merged writes exactly what a build run whole writes (the same files, the same fingerprint)."""
    pos = {s.seed_id: i for i, s in enumerate(t.seeds)}
    return replace(t, **{name: sorted(getattr(t, name), key=lambda r: pos.get(r.seed_id, len(pos)))
                         for name in _BY_SEED})


def shard_seeds(seeds: list[Seed], shards: int) -> list[list[Seed]]:
    """Contiguous, near-equal slices in seed order (empty shards are dropped)."""
    size, extra = divmod(len(seeds), shards)
    out, start = [], 0
    for k in range(shards):
        end = start + size + (1 if k < extra else 0)
        if end > start:
            out.append(seeds[start:end])
        start = end
    return out


def _merge_reports(parts: list[list[StageReport]]) -> list[StageReport]:
    merged: list[StageReport] = []
    for reports in zip(*parts):  # every shard runs the same stages in the same order
        first = reports[0]
        m = StageReport(first.stage, first.unit_in, first.unit_out)
        for r in reports:
            m.n_in += r.n_in
            m.n_out += r.n_out
            m.dropped.update(r.dropped)
            m.labels.update(r.labels)
            m.wall_seconds = max(m.wall_seconds, r.wall_seconds)  # shards run side by side
            for group, outcomes in r.breakdown.items():
                m.breakdown.setdefault(group, Counter()).update(outcomes)
        merged.append(m)
    return merged


def _merge_usage(parts: list[list[Usage]]) -> list[Usage]:
    out: dict[tuple[str, str], Usage] = {}
    for u in (u for part in parts for u in part):
        key = (u.stage, u.model)
        if key not in out:
            out[key] = replace(u)
            continue
        m = out[key]
        for f in ("requests", "cache_hits", "backend_requests", "parse_retries", "failures", "samples",
                  "prompt_tokens", "completion_tokens", "load_seconds"):
            setattr(m, f, getattr(m, f) + getattr(u, f))
        m.wall_seconds = max(m.wall_seconds, u.wall_seconds)
    return list(out.values())


def merge_shards(seeded: Tables, parts: list[Tables]) -> Tables:
    """The shards' tables as one: records concatenated in shard (so seed) order, counters summed."""
    merged = replace(seeded, **{name: [r for p in parts for r in getattr(p, name)] for name in _BY_SEED},
                     contamination=[c for p in parts for c in p.contamination],
                     rejects=seeded.rejects + [r for p in parts for r in p.rejects],
                     reports=seeded.reports + _merge_reports([p.reports[len(seeded.reports):] for p in parts]),
                     usage=seeded.usage + _merge_usage([p.usage for p in parts]),
                     ran=parts[0].ran if parts else seeded.ran)
    return canonical(merged)


def run_shard(ctx: BuildContext, seeds: list[Seed], seeded: Tables) -> Tables:
    """The stages after `seeds` and before `filter`, on one shard of the seeds."""
    t = replace(seeded, seeds=seeds)
    for name in ctx.recipe.stage_names():
        if name not in ("seeds", "filter"):
            t = run_stage(ctx, name, t)
    return t


def _cached(ctx: BuildContext, run):
    cache = ctx.response_cache()
    try:
        return run(cache)
    finally:
        if cache:
            cache.close()


def seeds_step(ctx: BuildContext, t: Tables) -> Tables:
    t0 = time.perf_counter()
    got = read_seeds(ctx.recipe.seeds)
    seeds = got.seeds
    # An exact duplicate of an earlier row is left out with its reason (it would be one problem twice).
    rejects = [Reject(stage="seeds", record_id=source, reason="duplicate_problem", detail=f"same problem as {kept}",
                      payload="") for source, kept in got.duplicates]
    report = StageReport("seeds", unit_in="problems", unit_out="problems", n_in=len(seeds) + len(rejects),
                         n_out=len(seeds), wall_seconds=time.perf_counter() - t0)
    if rejects:
        report.dropped["duplicate_problem"] = len(rejects)
    return _added(t, "seeds", StageResult(seeds, rejects, report), seeds=seeds)


def generate_step(ctx: BuildContext, t: Tables) -> Tables:
    r = ctx.recipe
    result, usage = _cached(ctx, lambda cache: GenerateSolutions(
        r.stages.generate, r.models, r.seed, cache, ctx.progress).run(t.seeds))
    return _added(t, "generate", result, usage, generations=result.records)


def verify_step(ctx: BuildContext, t: Tables) -> Tables:
    r = ctx.recipe
    result = VerifyAnswers(r.stages.verify, check_answers=r.stages.generate.prompt != "respond").run(
        t.generations, t.seeds)
    return _added(t, "verify", result, solutions=result.records)


def _labelled_report(stage: str, injections: list[ErrorInjection], labelled: list[LabelledSolution]) -> StageReport:
    """The funnel row between injections and labelled solutions: each kept injection, plus (with
    include_originals) one original per corrupted source, so the filter's input count is explained."""
    kinds = Counter(s.label_source for s in labelled)
    return StageReport(f"{stage}_labels", unit_in="injections", unit_out="labelled", n_in=len(injections),
                       n_out=len(labelled), labels=kinds)


def inject_step(ctx: BuildContext, t: Tables) -> Tables:
    cfg = ctx.recipe.stages.inject
    result = InjectErrors(cfg, ctx.recipe.seed).run(t.seeds, t.solutions)
    made = labels.from_injections(result.records, cfg.include_originals)
    t = _added(t, "inject", result, injections=t.injections + result.records, labelled=t.labelled + made)
    return replace(t, reports=t.reports + [_labelled_report("inject", result.records, made)])


def inject_llm_step(ctx: BuildContext, t: Tables) -> Tables:
    r = ctx.recipe
    cfg = r.stages.inject_llm
    covered = {source_key(i.seed_id, i.source_id) for i in t.injections if i.method == "rule"} \
        if cfg.only_uncovered else set()
    result, usage = _cached(ctx, lambda cache: InjectErrorsLLM(
        cfg, r.models, r.seed, cache, ctx.progress).run(t.seeds, t.solutions, covered))
    made = labels.from_injections(result.records, cfg.include_originals)
    t = _added(t, "inject_llm", result, usage, injections=t.injections + result.records, labelled=t.labelled + made)
    return replace(t, reports=t.reports + [_labelled_report("inject_llm", result.records, made)])


def mc_label_step(ctx: BuildContext, t: Tables) -> Tables:
    r = ctx.recipe
    cfg = r.stages.mc_label
    completer = cfg.model or r.stages.generate.models[0]
    result, usage = _cached(ctx, lambda cache: MonteCarloStepLabels(
        cfg, completer, r.models, r.stages.generate.prompt, r.seed, cache, ctx.progress).run(t.solutions))
    return _added(t, "mc_label", result, usage, mc_labels=result.records,
                  labelled=t.labelled + labels.from_mc(result.records))


def critique_step(ctx: BuildContext, t: Tables) -> Tables:
    r = ctx.recipe
    result, usage = _cached(ctx, lambda cache: CritiqueSteps(
        r.stages.critique, r.models, r.seed, cache, ctx.progress).run(t.labelled))
    return _added(t, "critique", result, usage, critiques=result.records)


def code_inject_step(ctx: BuildContext, t: Tables) -> Tables:
    result = InjectCodeErrors(ctx.recipe.stages.code_inject, ctx.recipe.seed).run(t.seeds, t.solutions)
    return _added(t, "code_inject", result, code_injections=result.records)


def code_critique_step(ctx: BuildContext, t: Tables) -> Tables:
    r = ctx.recipe
    result, usage = _cached(ctx, lambda cache: CritiqueCode(
        r.stages.code_critique, r.models, r.seed, cache, ctx.progress).run(t.code_injections, t.solutions, t.seeds))
    return _added(t, "code_critique", result, usage, code_critiques=result.records)


def judge_step(ctx: BuildContext, t: Tables) -> Tables:
    r = ctx.recipe
    cfg = r.stages.judge
    judge = JudgeRatings if cfg.mode == "ratings" else JudgePairwise
    result, usage = _cached(ctx, lambda cache: judge(cfg, r.models, r.seed, cache, ctx.progress).run(
        t.solutions, t.seeds))
    if cfg.mode == "ratings":
        return _added(t, "judge", result, usage, rated=result.records)
    return _added(t, "judge", result, usage, comparisons=result.records)


def pair_step(ctx: BuildContext, t: Tables) -> Tables:
    r, refused = ctx.recipe, None
    if r.stages.pair.screen is not None:  # a critic screens the chosen candidates first (its own funnel row)
        screened, usage, refused = _cached(ctx, lambda cache: ScreenChosen(
            r.stages.pair, r.stages.generate, r.models, r.seed, cache, ctx.progress).run(t.solutions))
        t = replace(t, reports=t.reports + [screened.report], usage=t.usage + list(usage))
    pairing = PairPreferences(r.stages.pair, r.stages.generate, r.seed)
    result = pairing.run(t.seeds, t.solutions, t.rated, t.comparisons, screened_out=refused)
    if pairing.screen_report is not None:  # the chosen-solution screen's row, in solutions (verified pairs)
        t = replace(t, reports=t.reports + [pairing.screen_report])
    return _added(t, "pair", result, pairs=result.records)


# What the filter chain runs over: the collections a build releases, the stage that makes each, and
# the stored table an earlier version keeps it in.
FILTERED = (("pairs", ("pair",), "pairs"), ("labelled", ("inject", "inject_llm", "mc_label"), "processbench"),
            ("critiques", ("critique",), "critiques"))


def earlier_views(ctx: BuildContext, table: str) -> list:
    """The records of every earlier version of this dataset built from another recipe, as filter views."""
    from synth.filters.text import view_of_row

    if not ctx.catalog_path.exists():
        return []
    catalog = Catalog(ctx.catalog_path)
    rows = catalog.query("SELECT f.* FROM files f JOIN versions v ON f.dataset = v.dataset AND "
                         "f.version = v.version WHERE v.dataset = ? AND v.recipe_sha256 <> ? AND f.table_name = ? "
                         "ORDER BY v.created_at", [ctx.recipe.name, ctx.recipe_sha256, table])
    for f in rows:  # what is compared against is what was registered
        catalog.require_intact(f["dataset"], f["version"], [f])
    return [view_of_row(table, r) for f in rows
            for r in pq.read_table(f["path"], page_checksum_verification=True).to_pylist()]


def filter_step(ctx: BuildContext, t: Tables) -> Tables:
    from synth.filters.benchmarks import benchmark_ngrams

    t = canonical(t)  # dedup keeps the first of a group: the same first however the build was run
    cfg = ctx.recipe.stages.filter
    decon = cfg.decontaminate
    bench = benchmark_ngrams(decon.benchmarks, decon.ngram) if decon is not None else None
    updates: dict[str, Any] = {}
    rejects, reports, found = list(t.rejects), list(t.reports), list(t.contamination)
    for collection, makers, table in FILTERED:
        if not set(makers) & set(t.ran):
            continue
        earlier = earlier_views(ctx, table) if cfg.against_earlier_versions else []
        kept, dropped, block_reports, contaminated = run_chain(
            collection, getattr(t, collection), build_blocks(cfg, earlier, bench))
        updates[collection] = kept
        rejects += dropped
        reports += block_reports
        found += contaminated
    if "labelled" in updates:  # what was built from a dropped labelled solution goes with it
        ids = {s.label_id for s in updates["labelled"]}
        updates["injections"] = [i for i in t.injections if i.injection_id in ids]
        updates["mc_labels"] = [m for m in t.mc_labels if m.solution_id in ids]
    return replace(t, rejects=rejects, reports=reports, contamination=found, ran=t.ran + ["filter"], **updates)


STAGES = {"seeds": seeds_step, "generate": generate_step, "verify": verify_step, "inject": inject_step,
          "inject_llm": inject_llm_step, "mc_label": mc_label_step, "critique": critique_step,
          "code_inject": code_inject_step, "code_critique": code_critique_step, "judge": judge_step,
          "pair": pair_step, "filter": filter_step}


def stage_models(recipe: Recipe, name: str) -> list:
    """The model specs a stage calls (for scheduling: which stages need the GPU)."""
    st, keys = recipe.stages, []
    if name == "generate":
        keys = list(st.generate.models)
    elif name == "mc_label":
        keys = [st.mc_label.model or st.generate.models[0]]
    elif name in ("inject_llm", "critique", "code_critique"):
        keys = [getattr(st, name).model]
    elif name == "judge":
        keys = list(st.judge.models)
    elif name == "pair" and st.pair.screen is not None:
        keys = [st.pair.screen.model]
    return [recipe.models[k] for k in keys]


def run_stage(ctx: BuildContext, name: str, t: Tables) -> Tables:
    return STAGES[name](ctx, t)


def seeds_task_name(recipe: Recipe) -> str:
    """Math-Shepherd's `task` column: the seeds' kind of problem (never a file name, which would make
    the same data under another name a different dataset)."""
    if isinstance(recipe.seeds, (FileSeeds, HubSeeds)):
        return {"gsm8k": "GSM8K", "math": "MATH"}.get(recipe.seeds.format, recipe.seeds.format)
    return "procedural"


def output_tables(ctx: BuildContext, t: Tables) -> dict[str, list[Any]]:
    """The tables to write: what the stages that ran made, and the export formats made from it."""
    t = canonical(t)
    ran = set(t.ran)
    out: dict[str, list[Any]] = {"seeds": t.seeds}
    if "generate" in ran:
        out["solutions"] = t.solutions
    if ran & {"inject", "inject_llm"}:
        out["injections"] = t.injections
    if "mc_label" in ran:
        out["mc_labels"] = t.mc_labels
    if ran & {"inject", "inject_llm", "mc_label"}:
        task = seeds_task_name(ctx.recipe)
        out["processbench"] = [exports.to_processbench(s) for s in t.labelled]
        out["math_shepherd"] = [exports.to_math_shepherd(s, task) for s in t.labelled]
        out["prm_stepwise"] = [exports.to_prm_stepwise(s) for s in t.labelled]
    if "critique" in ran:
        out["critiques"] = t.critiques
        out["critique_sft"] = [exports.to_critique_sft(c) for c in t.critiques]
    if "code_inject" in ran:
        out["code_injections"] = t.code_injections
    if "code_critique" in ran:
        out["code_critiques"] = t.code_critiques
        out["critique_sft"] = out.get("critique_sft", []) + [to_code_critique_sft(c) for c in t.code_critiques]
    if "judge" in ran and ctx.recipe.stages.judge.mode == "ratings":
        out["ratings"] = t.rated
        out["ultrafeedback"] = exports.to_ultrafeedback(t.seeds, t.rated)
    if "judge" in ran and ctx.recipe.stages.judge.mode == "pairwise":
        out["comparisons"] = t.comparisons
    if "pair" in ran:
        out["pairs"] = t.pairs
        out["dpo"] = [exports.to_dpo(p) for p in t.pairs]
    if "filter" in ran and ctx.recipe.stages.filter.decontaminate is not None:
        out["contamination"] = t.contamination
    out["rejects"] = t.rejects
    return out


def published_tables(kind: str, written: list[str]) -> tuple[str, ...]:
    return tuple(name for name in PUBLISH_ORDER[kind] if name in written)


def split_of(seed_id: str, splits: dict[str, float]) -> str:
    """The split a seed's records go to: a hash of its id against the splits' shares (the rest is
    train). It depends on nothing but the id, so a problem stays in its split across rebuilds, shards
    and recipes with the same shares."""
    import hashlib

    u = int.from_bytes(hashlib.sha256(seed_id.encode()).digest()[:8], "big") / 2**64
    edge = 0.0
    for name in sorted(splits):
        edge += splits[name]
        if u < edge:
            return name
    return "train"


def split_names(splits: dict[str, float]) -> list[str]:
    return ["train", *sorted(splits)]


def write_step(ctx: BuildContext, tables: dict[str, list[Any]]) -> list[FileEntry]:
    """Writes each table as Parquet with its declared Arrow schema (schemas/); a published table in
    one file per split (`<split>-00000-of-00001.parquet`, the names the Hub reads splits from),
    records going to the split of their seed."""
    published = published_tables(ctx.recipe.kind, list(tables))
    splits = ctx.recipe.splits
    entries = []
    for name, records in tables.items():
        spec = TABLES[name]
        parts = {"train": records}
        if splits and name in published:
            parts = {s: [r for r in records if split_of(r.seed_id, splits) == s] for s in split_names(splits)}
        for split, part in parts.items():
            path = ctx.build_dir / "data" / name / f"{split}-00000-of-00001.parquet"
            entries.append(write_table_file(name, records_to_table(part, spec), path, name in published))
    return entries


def write_table_file(table: str, data: pa.Table, path: Path, published: bool) -> FileEntry:
    """One table file as every writer of a version writes it (a build, a reviewed version): zstd and
    page checksums (CRC32), so readers that verify them (pyarrow) notice a damaged page on their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, path, compression="zstd", write_page_checksum=True)
    return FileEntry(table=table, path=str(path), sha256=sha256_file(path), rows=data.num_rows,
                     bytes=path.stat().st_size, published=published)


def validate_step(ctx: BuildContext, files: list[FileEntry]) -> list[dict[str, Any]]:
    return validate_files(files, ctx.recipe.gates.min_rows, ctx.build_dir / "validation-docs")


def validate_files(files: list[FileEntry], min_rows: dict[str, int], docs: Path) -> list[dict[str, Any]]:
    """The GX suite of every published table, its split files validated together as one table."""
    from validation import validate_table

    results = []
    by_table: dict[str, list[str]] = {}
    for f in files:
        if f.published:
            by_table.setdefault(f.table, []).append(f.path)
    for table, paths in by_table.items():
        df = pa.concat_tables([pq.read_table(p, page_checksum_verification=True) for p in paths]).to_pandas()
        r = validate_table(table, df, min_rows=min_rows.get(table), docs_dir=docs)
        d = r.as_dict()
        d["summary"] = r.summary
        d["docs_path"] = str(docs / "index.html")
        results.append(d)
    return results


def _lineage(ctx: BuildContext) -> list[tuple[str, str, str]]:
    r = ctx.recipe
    out: list[tuple[str, str, str]] = []
    if isinstance(r.seeds, (FileSeeds, HubSeeds)):
        out.append(("seeds", *data_source(r.seeds, Path(ctx.recipe_path).parent)))
    else:
        out.append(("seeds", f"procedural:seed={r.seeds.seed}", r.seeds.model_dump_json()))
    from synth.engine import model_identity

    for key, m in r.models.items():
        out.append(("model", model_identity(m),
                    json.dumps({"role": key, "backend": m.backend, "sampling": m.sampling.model_dump()})))
    if r.stages.filter is not None and r.stages.filter.decontaminate is not None:
        for b in r.stages.filter.decontaminate.benchmarks:
            source, detail = data_source(b, Path(ctx.recipe_path).parent)
            out.append(("benchmark", source, f"name={b.name} fields={','.join(b.fields)} {detail}"))
    for p in prompts_used(r):
        out.append(("prompt", p, f"sha256={template_sha256(p)}"))
    if r.stages.inject is not None or r.stages.inject_llm is not None:
        from synth.inject.operators import TAXONOMY_PATH

        out.append(("taxonomy", "synth/inject/taxonomy.yaml", f"sha256={sha256_file(TAXONOMY_PATH)}"))
    return out


def data_source(spec: Any, recipe_dir: Path) -> tuple[str, str]:
    """How lineage names a seed or benchmark source: a Hub dataset by repo and commit (its revision
    was pinned at the start of the build); a file by its path relative to the recipe's folder (only
    its name when it lies outside) and its sha256, never a path of the machine that built it."""
    if getattr(spec, "repo", None):
        detail = f"config={spec.config or 'default'} split={spec.split}"
        return f"hf://datasets/{spec.repo}@{spec.revision}", detail + (
            f" format={spec.format}" if hasattr(spec, "format") else "")
    path = Path(spec.path)
    try:
        shown = path.relative_to(recipe_dir.resolve()).as_posix()
    except ValueError:
        shown = path.name
    digest = sha256_file(path) if path.is_file() else "(a datasets folder)"
    return shown, f"sha256={digest}" + (f" format={spec.format}" if hasattr(spec, "format") else "")


def prompts_used(r: Recipe) -> list[str]:
    st = r.stages
    out = []
    if st.generate is not None:
        out.append(st.generate.prompt)  # the MC rollouts continue the same prompt
    if st.inject_llm is not None:
        out.append(st.inject_llm.prompt)
    if st.critique is not None:
        out += [st.critique.prompt, "critique_input", "critique_text", "critique_sft_instruction"]
    if st.judge is not None:
        out.append("judge_rating" if st.judge.mode == "ratings" else "judge_pairwise")
    if st.code_critique is not None:
        out.append(st.code_critique.prompt)  # its hash covers critique_code*.j2, the SFT parts included
    if st.pair is not None and st.pair.screen is not None:
        out += ["critique_steps", "critique_input"]
    return out


def register_step(ctx: BuildContext, files: list[FileEntry], reports: list[StageReport], usage: list[Usage],
                  validations: list[dict[str, Any]]) -> Registered:
    """Registers the build in one catalog transaction; only now does the version exist."""
    record = BuildRecord(
        build_id=ctx.build_id, dataset=ctx.recipe.name, kind=ctx.recipe.kind, description=ctx.recipe.description,
        recipe_path=ctx.recipe_path, recipe_yaml=ctx.recipe_yaml, recipe_sha256=ctx.recipe_sha256,
        requested_version=ctx.recipe.publish.version, started_at=ctx.started_at, finished_at=utcnow(),
        build_dir=str(ctx.build_dir), files=files, funnel=[r.as_dict() for r in reports],
        usage=[asdict(u) for u in usage], validations=validations, lineage=_lineage(ctx),
        flow_run_id=ctx.flow_run_id,
    )
    catalog = Catalog(ctx.catalog_path)
    registered = catalog.register(record)
    from synth.gc import release_build_lock

    if not registered.new:  # an identical rebuild: the version's files are the first build's
        for path in catalog.restore_files(registered.dataset, registered.version, files):
            console.step(f"restored {path} (missing or changed) from this identical build")
        shutil.rmtree(ctx.build_dir, ignore_errors=True)
    release_build_lock(ctx.build_dir)  # registered (or removed): `synth gc` never takes it now
    return registered


def check_gate(validations: list[dict[str, Any]], registered: Registered) -> None:
    failed = [v for v in validations if not v["success"]]
    if failed:
        raise ValidationFailed(
            f"validation failed: {registered.dataset}@{registered.version} is registered as failed and was not staged "
            f"for publishing (GX Data Docs: {failed[0].get('docs_path')})",
            "\n".join(v["summary"] for v in failed),
        )


def stage_hub_step(ctx: BuildContext, registered: Registered) -> Path:
    """Writes the Hub folder for the version: README.md card + the published Parquet files."""
    from synth.publish import stage_folder

    return stage_folder(Catalog(ctx.catalog_path), registered.dataset, registered.version, ctx.data_dir / "hub")


def summarize(ctx: BuildContext, registered: Registered, reports: list[StageReport], usage: list[Usage],
              validations: list[dict[str, Any]], files: list[FileEntry], hub_dir: Optional[Path]) -> BuildSummary:
    return BuildSummary(
        dataset=registered.dataset, version=registered.version, new_version=registered.new,
        fingerprint=registered.fingerprint, validation_passed=registered.validation_passed,
        catalog=str(ctx.catalog_path), build_id=ctx.build_id, build_dir=registered.build_dir or str(ctx.build_dir),
        hub_dir=str(hub_dir) if hub_dir else None, funnel=[r.as_dict() for r in reports],
        usage=[asdict(u) for u in usage], wall_seconds=(utcnow() - ctx.started_at).total_seconds(),
        validation_summary="\n".join(v["summary"] for v in validations),
        rows={f.table: f.rows for f in files},
    )
