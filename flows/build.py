"""`build_dataset`: the on-demand build, one Prefect task per stage.

Runs in Prefect's ephemeral mode when no server is configured, or against PREFECT_API_URL.
"""

from __future__ import annotations

from typing import Optional

import flows  # noqa: F401  (Prefect environment defaults)
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from synth import console, pipeline
from synth.pipeline import BuildContext, BuildSummary

_TASK = dict(cache_policy=NO_CACHE, persist_result=False)


@task(name="seeds", **_TASK)
def seeds_task(ctx: BuildContext):
    result = pipeline.seeds_step(ctx)
    console.stage_done(result.report.as_dict())
    return result


@task(name="generate", **_TASK)
def generate_task(ctx: BuildContext, seeds):
    cfg = ctx.recipe.stages.generate
    console.step(f"generating {cfg.n} solutions for each of {len(seeds)} problems with {', '.join(cfg.models)}"
                 + (f" (response cache {ctx.cache_path})" if ctx.cache_path else " (no response cache)"))
    result, usage = pipeline.generate_step(ctx, seeds)
    console.stage_done(result.report.as_dict())
    return result, usage


@task(name="verify", **_TASK)
def verify_task(ctx: BuildContext, generations, seeds):
    result = pipeline.verify_step(ctx, generations, seeds)
    console.stage_done(result.report.as_dict())
    return result


@task(name="pair", **_TASK)
def pair_task(ctx: BuildContext, solutions, seeds):
    result = pipeline.pair_step(ctx, solutions, seeds)
    console.stage_done(result.report.as_dict())
    return result


@task(name="write", **_TASK)
def write_task(ctx: BuildContext, tables):
    files = pipeline.write_step(ctx, tables)
    console.step("wrote " + ", ".join(f"{f.table} ({f.rows} rows)" for f in files))
    return files


@task(name="validate", **_TASK)
def validate_task(ctx: BuildContext, files):
    console.step("validating with Great Expectations")
    results = pipeline.validate_step(ctx, files)
    for r in results:
        console.step(("[green]passed[/] " if r["success"] else "[red]FAILED[/] ") + r["summary"])
    return results


@task(name="register", **_TASK)
def register_task(ctx: BuildContext, files, reports, usage, validations):
    return pipeline.register_step(ctx, files, reports, usage, validations)


@task(name="stage-hub", **_TASK)
def stage_hub_task(ctx: BuildContext, registered):
    return pipeline.stage_hub_step(ctx, registered)


@flow(name="build-dataset", log_prints=False, validate_parameters=True)
def build_dataset(recipe_path: str, data_dir: Optional[str] = None, progress: bool = True,
                  use_cache: bool = True) -> BuildSummary:
    """Seeds to a validated, cataloged, card-ready dataset version. With the response cache (the
    default) a build that was killed resumes where it stopped when run again."""
    ctx = pipeline.start_build(recipe_path, data_dir, progress=progress, flow_run_id=str(flow_run.get_id() or ""),
                               use_cache=use_cache)
    seeds = seeds_task(ctx)
    generations, usage = generate_task(ctx, seeds.records)
    solutions = verify_task(ctx, generations.records, seeds.records)
    pairs = pair_task(ctx, solutions.records, seeds.records)
    rejects = generations.rejects + solutions.rejects + pairs.rejects
    files = write_task(ctx, {"seeds": seeds.records, "solutions": solutions.records, "pairs": pairs.records,
                             "rejects": rejects})
    validations = validate_task(ctx, files)
    reports = [seeds.report, generations.report, solutions.report, pairs.report]
    registered = register_task(ctx, files, reports, usage, validations)
    pipeline.check_gate(validations, registered)
    hub_dir = stage_hub_task(ctx, registered)
    return pipeline.summarize(ctx, registered, reports, usage, validations, files, hub_dir)
