"""`build_dataset`: the on-demand build, one Prefect task per stage the recipe names.

Runs in Prefect's ephemeral mode when no server is configured, or against PREFECT_API_URL.
"""

from __future__ import annotations

from typing import Optional

import os
import re
from contextlib import nullcontext
import shutil
import subprocess

from flows import run_logs  # first: Prefect environment defaults
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from synth import console, pipeline, stream
from synth.gc import release_build_lock
from synth.errors import GenerationError, RequestRefused
from synth.pipeline import BuildContext, BuildSummary

# Prefect's own task caching is off: the response cache is the one resume mechanism (a rerun of a
# finished stage answers every request from it, and a killed stage resumes from its last commit).
_TASK = dict(cache_policy=NO_CACHE, persist_result=False)
GPU_TAG = "synth-gpu"  # tag concurrency limit 1: one build at a time holds an in-process engine on the GPU
TRANSIENT = (GenerationError, ConnectionError, TimeoutError)


def retry_transient(task, task_run, state) -> bool:
    """Retry a stage only for errors that may pass (a model server down, a timeout): a bad recipe, a
    broken seed file, a refused request (401, 404, a wrong model name) or a failed validation fails
    at once."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, TRANSIENT) and not isinstance(exc, RequestRefused)


def has_gpu() -> bool:
    if os.environ.get("SYNTH_ASSUME_GPU") == "1":  # for tests of the GPU path on machines without one
        return True
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def gpu_stages(ctx: BuildContext) -> set[str]:
    """Stages that load an in-process vLLM engine, when this machine has a GPU for it."""
    if not has_gpu():
        return set()
    return {name for name in ctx.recipe.stage_names()
            if any(m.backend == "vllm" for m in pipeline.stage_models(ctx.recipe, name))}


def ensure_gpu_limit() -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_concurrency_limit_by_tag(GPU_TAG)
        except ObjectNotFound:
            client.create_concurrency_limit(tag=GPU_TAG, concurrency_limit=1)


def _announce(ctx: BuildContext, name: str, t: pipeline.Tables) -> None:
    """The line a stage declares for the start of its run (synth/stages/: `announce`), if any."""
    from synth import registry

    decl = registry.BY_NAME.get(name)
    if decl is None or decl.announce is None:
        return
    cache = f" (response cache {ctx.cache_path})" if ctx.cache_path else " (no response cache)"
    console.step(decl.announce(ctx, t) + cache)


@task(name="stage", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=retry_transient, **_TASK)
def stage_task(ctx: BuildContext, name: str, tables: pipeline.Tables, release_gpu: bool = False) -> pipeline.Tables:
    _announce(ctx, name, tables)
    try:
        out = pipeline.run_stage(ctx, name, tables)
    finally:
        if release_gpu:  # the slot is released with the task: the GPU must be free by then
            from synth import engine

            engine.close_all()
    for report in out.reports[len(tables.reports):]:  # the filter stage reports each block
        console.stage_done(report.as_dict())
    return out


@task(name="chunk", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=retry_transient, **_TASK)
def chunk_task(ctx: BuildContext, ref: stream.ChunkRef) -> stream.ChunkRef:
    """One chunk of the seeds through every stage but `seeds` and `filter`, on a Ray worker (with its
    own engine; on a GPU machine it asks Ray for a GPU). Given and returns a folder, never records:
    the build folder must be on storage every node sees."""
    return stream.stage_chunk(ctx, ref)


@task(name="chunks", retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=retry_transient, **_TASK)
def chunks_task(ctx: BuildContext, release_gpu: bool = False) -> stream.Streamed:
    """Every chunk in this process (one in-process engine serves them all), or in a pool of processes
    when no stage calls a model; a retry resumes from the chunks already finished."""
    try:
        return stream.run_chunks(ctx, announce=lambda name, t: _announce(ctx, name, t))
    finally:
        if release_gpu:  # the slot is released with the task: the GPU must be free by then
            from synth import engine

            engine.close_all()


@task(name="write", **_TASK)
def write_task(ctx: BuildContext, streamed: stream.Streamed):
    files = stream.write_files(ctx, streamed)
    console.step("wrote " + ", ".join(f"{t} ({sum(f.rows for f in files if f.table == t):,} rows in "
                                      f"{sum(1 for f in files if f.table == t)} file"
                                      f"{'s' if sum(1 for f in files if f.table == t) != 1 else ''})"
                                      for t in dict.fromkeys(f.table for f in files)))
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


def _run_shards(ctx: BuildContext, distributed: bool, on_gpu: set[str]) -> stream.Streamed:
    """The chunks of the seeds: as tasks of the flow's task runner (Ray) when distributed, each a
    reference to a chunk folder; else in one task in this process (see chunks_task)."""
    if not distributed:
        return chunks_task.with_options(tags=[GPU_TAG] if on_gpu else [])(ctx, bool(on_gpu))
    from prefect_ray.context import remote_options

    vllm = [m for m in ctx.recipe.models.values() if m.backend == "vllm"]
    wants_gpu = bool(vllm) and (has_gpu() or os.environ.get("SYNTH_RAY_GPUS") == "1")
    gpus = max((m.tensor_parallel_size for m in vllm), default=1)  # one engine per task, on its own GPUs

    def submit(ref: stream.ChunkRef):
        with remote_options(num_gpus=gpus) if wants_gpu else nullcontext():
            return chunk_task.with_options(name=f"chunk-{ref.index}").submit(ctx, ref)

    import ray

    slots = ray.cluster_resources().get("GPU", 0) // gpus if wants_gpu else ray.cluster_resources().get("CPU", 1)
    return stream.run_chunks(ctx, submit=submit, in_flight=2 * max(1, int(slots)))  # every slot busy, one queued


def _stages_to_version(ctx: BuildContext, distributed: bool) -> BuildSummary:
    """Every stage chunk by chunk, then the version's files, validate, register and stage for the Hub."""
    on_gpu = gpu_stages(ctx)
    if on_gpu:
        ensure_gpu_limit()
    streamed = _run_shards(ctx, distributed, on_gpu)
    files = write_task(ctx, streamed)
    validations = validate_task(ctx, files)
    reports, usage = streamed.reports, streamed.usage
    for report in reports:
        console.stage_done(report.as_dict())
    registered = register_task(ctx, files, reports, usage, validations)
    stream.remove_chunks(ctx)
    pipeline.check_gate(validations, registered)
    hub_dir = stage_hub_task(ctx, registered)
    summary = pipeline.summarize(ctx, registered, reports, usage, validations, files, hub_dir)
    build_artifact(summary)
    return summary


@flow(name="build-dataset", log_prints=False, validate_parameters=True)
def build_dataset(recipe_path: str, data_dir: Optional[str] = None, progress: bool = True,
                  use_cache: bool = True, distributed: bool = False) -> BuildSummary:
    """Seeds to a validated, cataloged, card-ready dataset version. With the response cache (the
    default) a build that was killed resumes where it stopped when run again. With `shards` > 1 in
    the recipe, or `distributed` (the flow's task runner is Ray), the seeds are split into shards run
    as independent tasks, merged in seed order, then filtered once: the same files either way."""
    with run_logs():
        ctx = pipeline.start_build(recipe_path, data_dir, progress=progress, flow_run_id=str(flow_run.get_id() or ""),
                                   use_cache=use_cache)
        try:
            summary = _stages_to_version(ctx, distributed)
        finally:
            release_build_lock(ctx.build_dir)  # a failed build's folder is then `synth gc`'s (a no-op once registered)
        console.build_summary(summary)  # to the console and the run's logs
    return summary


def run_build(recipe_path: str, data_dir: Optional[str] = None, progress: bool = True, use_cache: bool = True,
              runner: str = "local", ray_address: Optional[str] = None) -> BuildSummary:
    """`synth build`: the flow in this process, or with its shard tasks on Ray (prefect-ray's
    RayTaskRunner; a local Ray instance unless `ray_address` names a cluster)."""
    from flows.server_guard import guard_temporary_server

    guard_temporary_server()  # a build killed with SIGKILL must not leave Prefect's temporary server running
    if runner == "local":
        return build_dataset(recipe_path, data_dir, progress=progress, use_cache=use_cache)
    if runner != "ray":
        raise ValueError(f"runner must be 'local' or 'ray', got {runner!r}")
    from prefect_ray import RayTaskRunner

    init = {"include_dashboard": False, "log_to_driver": False}
    ray_flow = build_dataset.with_options(task_runner=RayTaskRunner(address=ray_address, init_kwargs=init))
    return ray_flow(recipe_path, data_dir, progress=progress, use_cache=use_cache, distributed=True)


def build_artifact(s: BuildSummary) -> None:
    """The build as a Prefect artifact: version, funnel, validation, tokens and time, card location."""
    from prefect.artifacts import create_markdown_artifact

    lines = [f"# {s.dataset}@{s.version}", "",
             f"{'New version' if s.new_version else 'Identical to an existing version'}; fingerprint "
             f"`{s.fingerprint[:16]}`; catalog `{s.catalog}`; card `{s.hub_dir}/README.md`.", "",
             "| stage | in | out | dropped | seconds |", "|---|---:|---:|---|---:|"]
    for f in s.funnel:
        drops = ", ".join(f"{k}: {n}" for k, n in f["dropped"].items()) or "-"
        lines.append(f"| {f['stage']} | {f['n_in']} {f['unit_in']} | {f['n_out']} {f['unit_out']} | {drops} | "
                     f"{f['wall_seconds']:.1f} |")
    prompt = sum(u["prompt_tokens"] for u in s.usage)
    completion = sum(u["completion_tokens"] for u in s.usage)
    lines += ["", f"Tokens: {prompt:,} prompt, {completion:,} completion; wall time {s.wall_seconds:.1f} s.", "",
              "Validation:", "", "```", s.validation_summary, "```"]
    key = re.sub(r"[^a-z0-9-]+", "-", f"build-{s.dataset}".lower())
    create_markdown_artifact("\n".join(lines), key=key, description=f"synth build of {s.dataset}@{s.version}")
