"""The Prefect side, with real Prefect (test harness): retries for transient errors only, the build
artifact, the GPU tag limit, and the refresh and publish flows (rule-based recipes: no model). The
deployments of prefect.yaml run on a real server, scheduler and worker in tests/test_deployed.py."""

from __future__ import annotations

import os

import pytest
import yaml

from synth import pipeline
from synth.errors import GenerationError, RecipeError, RequestRefused, SynthError
from tests.conftest import GSM8K_TRAIN, REPO


def _recipe(folder, limit: int, name: str):
    r = yaml.safe_load((REPO / "recipes" / "gsm8k-injected-errors.yaml").read_text())
    r["seeds"].update(path=str(GSM8K_TRAIN), limit=limit)
    r.pop("gates", None)
    r["stages"].pop("filter", None)
    r["name"] = name
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(r, sort_keys=False))
    return path


def test_stage_retries_transient_errors_only(prefect_harness, tmp_path, monkeypatch):
    from prefect import flow

    from flows.build import stage_task

    calls = {"transient": 0, "recipe": 0, "refused": 0}

    def flaky(ctx, t):
        calls["transient"] += 1
        if calls["transient"] == 1:
            raise GenerationError("server went away")
        return t

    def broken(ctx, t):
        calls["recipe"] += 1
        raise RecipeError("bad recipe")

    def refused(ctx, t):
        calls["refused"] += 1
        raise RequestRefused("model 'no-such-model' refused a request: HTTP 404")

    monkeypatch.setitem(pipeline.STAGES, "flaky", flaky)
    monkeypatch.setitem(pipeline.STAGES, "refused", refused)
    monkeypatch.setitem(pipeline.STAGES, "broken", broken)
    fast = stage_task.with_options(retry_delay_seconds=0)
    ctx = pipeline.start_build(_recipe(tmp_path, 3, "retry-test"), tmp_path / "data", progress=False)

    @flow
    def run(name: str):
        return fast(ctx, name, pipeline.Tables())

    assert isinstance(run("flaky"), pipeline.Tables) and calls["transient"] == 2
    with pytest.raises(RecipeError):
        run("broken")
    assert calls["recipe"] == 1  # not retried
    with pytest.raises(RequestRefused):
        run("refused")
    assert calls["refused"] == 1  # a GenerationError, but asking again cannot help


def test_build_artifact_refresh_and_publish_flows(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.publish import publish_dataset
    from flows.refresh import refresh

    good = [str(_recipe(tmp_path, 4, "refresh-a")), str(_recipe(tmp_path, 5, "refresh-b"))]
    results = refresh(good, str(tmp_path / "data"))
    assert [(r["dataset"], r["version"], r["new_version"]) for r in results] == [
        ("refresh-a", "1.0.0", True), ("refresh-b", "1.0.0", True)]
    again = refresh(good, str(tmp_path / "data"))  # nothing changed: no new version
    assert [r["new_version"] for r in again] == [False, False]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nkind: preference\n")
    with pytest.raises(SynthError, match=r"bad.yaml: RecipeError"):
        refresh([str(bad), good[0]], str(tmp_path / "data"))

    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["build-refresh-a"])))
    assert arts and "| inject |" in arts[0].data and "Tokens:" in arts[0].data and "README.md" in arts[0].data

    staged = publish_dataset("refresh-a@1.0.0", data_dir=str(tmp_path / "data"), dry_run=True)
    assert staged["version"] == "1.0.0" and (tmp_path / "data" / "hub" / "refresh-a" / "v1.0.0" / "README.md").is_file()


def test_gpu_stages_get_the_tag_limit(prefect_harness, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client

    from flows.build import GPU_TAG, ensure_gpu_limit, gpu_stages

    ctx = pipeline.start_build(REPO / "recipes" / "ultrafeedback-ratings.yaml", tmp_path / "data", progress=False)
    monkeypatch.delenv("SYNTH_ASSUME_GPU", raising=False)
    if not os.path.exists("/dev/nvidia0"):
        assert gpu_stages(ctx) == set()  # on a CPU machine nothing is tagged
    monkeypatch.setenv("SYNTH_ASSUME_GPU", "1")
    assert gpu_stages(ctx) == {"generate", "judge"}  # the stages that load an in-process engine
    ensure_gpu_limit()
    ensure_gpu_limit()  # idempotent
    with get_client(sync_client=True) as client:
        assert client.read_concurrency_limit_by_tag(GPU_TAG).concurrency_limit == 1


def test_sharded_and_ray_builds_match_the_whole_build(prefect_harness, tmp_path):
    """The same recipe run whole, in 3 shards in this process, and in 3 shards on a local Ray instance
    (prefect-ray's RayTaskRunner) writes the same files: one version, one fingerprint."""
    from flows.build import run_build

    whole = _recipe(tmp_path, 12, "sharding")
    text = whole.read_text()
    sharded = tmp_path / "sharded.yaml"
    sharded.write_text(text + "shards: 3\n")
    data = str(tmp_path / "data")
    a = run_build(str(whole), data, progress=False)
    b = run_build(str(sharded), data, progress=False)
    c = run_build(str(sharded), data, progress=False, runner="ray")
    assert a.fingerprint == b.fingerprint == c.fingerprint
    assert (a.new_version, b.new_version, c.new_version) == (True, False, False)
    funnel = {f["stage"]: f for f in c.funnel}
    assert funnel["inject"]["n_in"] == {f["stage"]: f for f in a.funnel}["inject"]["n_in"]
    assert c.rows == a.rows
