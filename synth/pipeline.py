"""The build, as a sequence of steps that the Prefect flow (flows/build.py) runs as tasks.

Nothing here imports Prefect: each step takes typed inputs and returns typed outputs, so the same
code runs under any orchestrator and in tests.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from catalog import BuildRecord, Catalog, FileEntry, Registered
from catalog.store import utcnow
from schemas import TABLES, records_to_table
from synth.cache import ResponseCache, default_cache_path
from synth import console, registry
from synth.engine import Usage
from synth.errors import SeedError, ValidationFailed
from synth.paths import data_dir as default_data_dir
from synth.paths import sha256_file
from synth.prompts import template_sha256
from synth.recipe import FileSeeds, HubSeeds, ProceduralSeeds, Recipe, load_recipe
from synth.registry import Tables
from synth.filters.benchmarks import benchmark_rows, require_fields
from synth.seeds import iter_seeds, pin_hub_revisions, read_seeds
from synth.stages.base import StageReport, canonical

# Tables each kind of dataset publishes, in the order of the card's configs (the first is the default),
# as the kinds declare them (synth/stages/); a table is published when the build made it.
PUBLISH_ORDER: dict[str, tuple[str, ...]] = {k.name: k.publishes for k in registry.KINDS.values()}


def check_sources(recipe, rows: int = 5) -> list[str]:
    """Reads the first rows of the seeds and of every benchmark, as a build would, and returns every
    problem found (an empty or unreadable source, a missing column), so one check reports them all."""
    problems: list[str] = []
    try:
        read_seeds(recipe.seeds, rows)
    except SeedError as e:
        problems.append(f"seeds: {e}")
    flt = recipe.stages.filter
    for i, b in enumerate(flt.decontaminate.benchmarks if flt is not None and flt.decontaminate else []):
        try:
            seen = 0
            for where, row in benchmark_rows(b):
                require_fields(b, where, row)
                seen += 1
                if seen >= rows:
                    break
            if not seen:
                raise SeedError(f"benchmark {b.name!r} has no records")
        except SeedError as e:
            problems.append(f"stages.filter.decontaminate.benchmarks.{i} ({b.name}): {e}")
    return problems


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
    if not isinstance(recipe.seeds, ProceduralSeeds):  # generated seeds cannot be malformed
        for _ in iter_seeds(recipe.seeds):  # every row read and checked, none kept: memory stays flat
            pass
    return recipe


# Each stage's step, as the stages declare them (synth/stages/<stage>.py).
STAGES = {s.name: s.step for s in registry.STAGES}
stage_models = registry.stage_models
prompts_used = registry.prompts_used


def run_stage(ctx: BuildContext, name: str, t: Tables) -> Tables:
    return STAGES[name](ctx, t)


def output_tables(ctx: BuildContext, t: Tables) -> dict[str, list[Any]]:
    """The tables to write: what the stages that ran release (synth/stages/: each stage's releases),
    then the rejects."""
    t = canonical(t)
    out: dict[str, list[Any]] = {table: [r for rel in rels for r in rel.rows(ctx, t)]
                                 for table, rels in registry.releases(ctx.recipe, t.ran).items()}
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
    """Writes each table held in memory as Parquet with its declared Arrow schema (schemas/); a
    published table in files per split (`<split>-NNNNN-of-MMMMM.parquet`, the names the Hub reads
    splits from), records going to the split of their seed. The same files as a streamed build's
    (synth/stream.py, which writes through the same `write_split`)."""
    from synth.shard_files import write_split

    published = published_tables(ctx.recipe.kind, list(tables))
    splits = ctx.recipe.splits
    entries = []
    for name, records in tables.items():
        spec = TABLES[name]
        parts = {"train": records}
        if splits and name in published:
            parts = {s: [r for r in records if split_of(r.seed_id, splits) == s] for s in split_names(splits)}
        for split, part in parts.items():
            entries += write_split(name, split, [lambda part=part, spec=spec: records_to_table(part, spec)], len(part),
                                   ctx.build_dir / "data", ctx.recipe.rows_per_file, name in published)
    return entries


def write_table_file(table: str, data: pa.Table, path: Path, published: bool) -> FileEntry:
    """One table file as every writer of a version writes it (a build, a reviewed version): zstd and
    page checksums (CRC32), so readers that verify them (pyarrow) notice a damaged page on their own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, path, compression="zstd", write_page_checksum=True)
    return FileEntry(table=table, path=str(path), sha256=sha256_file(path), rows=data.num_rows,
                     bytes=path.stat().st_size, published=published)


def validate_step(ctx: BuildContext, files: list[FileEntry]) -> list[dict[str, Any]]:
    from synth.shard_files import default_workers

    return validate_files(files, ctx.recipe.gates.min_rows, ctx.build_dir / "validation-docs",
                          workers=default_workers(ctx.recipe))


def validate_files(files: list[FileEntry], min_rows: dict[str, int], docs: Path, workers: int = 1
                   ) -> list[dict[str, Any]]:
    """The GX suite of every published table over all its files (every split together): row-level
    expectations one row group at a time, dataset-level ones over all files (synth/shard_checks.py)."""
    from synth.shard_checks import validate_files as check

    return check(files, min_rows, docs, workers)


def validate_table(table: str, df: Any, min_rows: int | None = None, docs_dir: Path | None = None) -> Any:
    """The table's GX suite (in validation/suites/, see validation/gx_suite.py) on `df`, with the derived columns its
    release declares (synth/suites.py)."""
    from validation import validate_table as run_suite

    return run_suite(table, df, min_rows=min_rows, docs_dir=docs_dir, derive=registry.derive(table))


def _lineage(ctx: BuildContext) -> list[tuple[str, str, str]]:
    r = ctx.recipe
    out: list[tuple[str, str, str]] = []
    if isinstance(r.seeds, (FileSeeds, HubSeeds)):
        out.append(("seeds", *data_source(r.seeds, Path(ctx.recipe_path).parent)))
    else:
        out.append(("seeds", f"procedural:seed={r.seeds.random_seed}", r.seeds.model_dump_json()))
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
        rows=_rows_per_table(files),
    )


def _rows_per_table(files: list[FileEntry]) -> dict[str, int]:
    """Every file of a table counted (splits, and the shards of one split)."""
    rows: dict[str, int] = {}
    for f in files:
        rows[f.table] = rows.get(f.table, 0) + f.rows
    return rows
