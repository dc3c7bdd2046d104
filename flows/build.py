"""`build_dataset`: the on-demand build, one Prefect task per stage the recipe names.

Runs in Prefect's ephemeral mode when no server is configured, or against PREFECT_API_URL.
"""

from __future__ import annotations

from typing import Optional

import flows  # noqa: F401  (Prefect environment defaults)
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from synth import console, pipeline
from synth.pipeline import BuildContext, BuildSummary

_TASK = dict(cache_policy=NO_CACHE, persist_result=False)


def _announce(ctx: BuildContext, name: str, t: pipeline.Tables) -> None:
    r = ctx.recipe
    cache = f" (response cache {ctx.cache_path})" if ctx.cache_path else " (no response cache)"
    if name == "generate":
        cfg = r.stages.generate
        console.step(f"generating {cfg.n} solutions for each of {len(t.seeds)} problems with "
                     f"{', '.join(cfg.models)}{cache}")
    elif name == "inject_llm":
        console.step(f"asking {r.stages.inject_llm.model} to inject typed errors{cache}")
    elif name == "mc_label":
        console.step(f"rolling out {r.stages.mc_label.rollouts} completions from each step of "
                     f"{len(t.solutions)} solutions{cache}")
    elif name == "critique":
        console.step(f"critiquing {len(t.labelled)} labelled solutions with {r.stages.critique.model}{cache}")
    elif name == "judge":
        cfg = r.stages.judge
        what = "rating each completion" if cfg.mode == "ratings" else "comparing completions in both orders"
        console.step(f"{what} with {', '.join(cfg.models)}{cache}")


@task(name="stage", **_TASK)
def stage_task(ctx: BuildContext, name: str, tables: pipeline.Tables) -> pipeline.Tables:
    _announce(ctx, name, tables)
    out = pipeline.run_stage(ctx, name, tables)
    for report in out.reports[len(tables.reports):]:  # the filter stage reports each block
        console.stage_done(report.as_dict())
    return out


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
    tables = pipeline.Tables()
    for name in ctx.recipe.stage_names():
        # quote: Prefect would otherwise walk every record of every table looking for futures.
        tables = stage_task.with_options(name=name)(ctx, name, quote(tables))
    files = write_task(ctx, quote(pipeline.output_tables(ctx, tables)))
    validations = validate_task(ctx, files)
    reports, usage = tables.reports, tables.usage
    registered = register_task(ctx, files, reports, usage, validations)
    pipeline.check_gate(validations, registered)
    hub_dir = stage_hub_task(ctx, registered)
    return pipeline.summarize(ctx, registered, reports, usage, validations, files, hub_dir)
