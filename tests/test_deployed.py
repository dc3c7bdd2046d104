"""The deployments as users run them: a real `prefect server start` on loopback with its scheduler,
the project's prefect.yaml deployed with `prefect deploy --all`, a test-only deployment whose schedule
fires within seconds (a model-free recipe), and a `prefect worker start --pool synth` that picks the
scheduled run up. Everything runs in separate processes, as on a user's machine, and everything the
test starts is stopped, also when it fails."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.servers import free_port

PREFECT = [sys.executable, "-m", "prefect", "--no-prompt"]
SMOKE_RECIPE = """\
name: scheduled-smoke
kind: error_injection
description: A model-free build that a test schedules on a real Prefect server.
random_seed: 5
seeds: {type: procedural, count: 6, random_seed: 3, min_steps: 2, max_steps: 3}
stages:
  inject:
    sources: [gold]
    error_types: [calculation, operator]
    max_per_source: 1
    include_originals: true
"""


class Services:
    """Processes started by the test, each in its own session so its whole group can be stopped."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env, self.procs = root, env, []

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.root / f"{name}.log").open("w")
        proc = subprocess.Popen(args, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue

    def run(self, args: list[str], cwd: Path = REPO, extra_env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess:
        env = dict(self.env, PWD=str(cwd), **(extra_env or {}))  # prefect.yaml's {{ $PWD }} reads the variable
        out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        assert out.returncode == 0, f"{args}: {out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        return out


def _wait_healthy(url: str, proc: subprocess.Popen, services: Services, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"prefect server exited with {proc.returncode}:\n{services.log('server')}"
        try:
            if urllib.request.urlopen(url + "/health", timeout=2).status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"prefect server did not answer in {timeout} s:\n{services.log('server')}")


def _finished_run(url: str, flt: dict, worker: subprocess.Popen, services: Services, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"worker exited:\n{services.log('worker')}"
        runs = _api(url, "/flow_runs/filter", {"flow_runs": flt} if "id" in flt else flt)
        run = next((r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")), None)
        if run:
            return run
        time.sleep(2)
    raise AssertionError(f"no run finished in {timeout} s; server:\n{services.log('server')}\n"
                         f"worker:\n{services.log('worker')}")


def _run_deployment(services: Services, name: str, *params: str) -> str:
    """`prefect deployment run`, as a user asks for an on-demand run; returns the flow run's id."""
    args = [a for p in params for a in ("--param", p)]
    out = services.run(PREFECT + ["deployment", "run", name, *args])
    m = re.search(r"UUID: ([0-9a-f-]{36})", out.stdout)
    assert m, out.stdout
    return m.group(1)


def _logs(url: str, run_id: str, needle: str, timeout: float = 30) -> str:
    """A run's logs on the server once they hold `needle` (the run's process sends them in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = _api(url, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC"})
        text = "\n".join(entry["message"] for entry in logs)
        if needle in text or time.monotonic() > deadline:
            return text
        time.sleep(1)


def _api(url: str, path: str, body: dict | None = None, attempts: int = 4):
    """One call to the server's REST API; a loaded 2-core machine can stall SQLite for a while, so a
    timed-out read is asked again."""
    req = urllib.request.Request(url + path, data=json.dumps(body or {}).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST" if body is not None else "GET")
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"null")
        except (TimeoutError, ConnectionError, urllib.error.URLError):
            if attempt == attempts - 1:
                raise
            time.sleep(2)


@pytest.fixture
def services(tmp_path):
    home = tmp_path / "home"  # HOME too: nothing may land in ~/.prefect
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SYNTH_"))}
    env.update(HOME=str(home), PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS="2",
               PREFECT_WORKER_QUERY_SECONDS="2", PREFECT_WORKER_PREFETCH_SECONDS="5",
               SYNTH_CACHE=os.environ.get("SYNTH_CACHE", str(Path.home() / ".cache" / "synth")))
    s = Services(tmp_path, env)
    try:
        yield s
    finally:
        s.stop_all()
        left = [name for name, p in s.procs if p.poll() is None]
        assert not left, f"still running after stop: {left}"


def test_scheduled_deployment_fires_and_a_worker_runs_it(services, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    services.env["PREFECT_API_URL"] = url
    server = services.start("server", PREFECT + ["server", "start", "--host", "127.0.0.1", "--port", str(port)])
    _wait_healthy(url, server, services)
    services.run(PREFECT + ["work-pool", "create", "synth", "--type", "process"])

    # The project's prefect.yaml, as the README says to deploy it, naming this test's data directory.
    data = tmp_path / "synth-data"
    services.run(PREFECT + ["deploy", "--all"], extra_env={"SYNTH_HOME": str(data)})
    deployments = {d["name"]: d for d in _api(url, "/deployments/filter", {})}
    assert {"build-on-demand", "nightly-refresh", "publish"} <= set(deployments)
    for d in deployments.values():  # each deployment names where its data lands, resolved when deployed
        assert d["job_variables"]["env"]["SYNTH_HOME"] == str(data), d["job_variables"]
    assert [s["schedule"]["cron"] for s in deployments["nightly-refresh"]["schedules"]] == ["0 2 * * *"]
    assert set(deployments["publish"]["parameter_openapi_schema"]["properties"]) >= {"ref", "repo_id", "dry_run"}

    # A test-only deployment: the project's file with one deployment whose schedule fires in seconds.
    recipe = tmp_path / "scheduled-smoke.yaml"
    recipe.write_text(SMOKE_RECIPE)
    project = yaml.safe_load((REPO / "prefect.yaml").read_text())
    fire_at = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=15)
    smoke = dict(project["deployments"][0], name="scheduled-smoke", parameters={"recipe_path": str(recipe)},
                 schedules=[{"interval": 3600, "anchor_date": fire_at.isoformat()}])
    test_file = tmp_path / "prefect-smoke.yaml"
    test_file.write_text(yaml.safe_dump(dict(project, deployments=[smoke]), sort_keys=False))
    services.run(PREFECT + ["deploy", "--all", "--prefect-file", str(test_file)], extra_env={"SYNTH_HOME": str(data)})

    worker = services.start("worker", PREFECT + ["worker", "start", "--pool", "synth", "--type", "process", "--limit", "1"])
    run = _finished_run(url, {"deployments": {"name": {"any_": ["scheduled-smoke"]}}}, worker, services)
    assert run["state_type"] == "COMPLETED", (run["state"], services.log("worker"))
    assert run["auto_scheduled"] is True  # created by the server's scheduler, not by the test
    assert run["expected_start_time"].startswith(fire_at.strftime("%Y-%m-%dT%H:%M"))

    # The version is in the catalog the deployment names; `synth catalog` finds it there.
    from catalog import Catalog

    assert Catalog(data / "catalog.duckdb").latest_version("scheduled-smoke") == "1.0.0"
    ls = services.run([str(Path(sys.executable).parent / "synth"), "catalog", "ls"], cwd=tmp_path,
                      extra_env={"SYNTH_HOME": str(data), "COLUMNS": "200"})
    assert "scheduled-smoke" in ls.stdout + ls.stderr

    # The run's logs, as `prefect flow-run logs` and the UI show them, tell what each stage did.
    text = _logs(url, run["id"], "scheduled-smoke@1.0.0")
    assert "inject" in text and "→" in text and "scheduled-smoke@1.0.0" in text, text[-3000:]

    # Prefect's home and result storage stayed inside the configured locations.
    assert not (tmp_path / "home" / ".prefect").exists(), sorted(p.name for p in (tmp_path / "home").rglob("*"))

    # The publish deployment: its defaults stage (dry run) and report what was staged, in the logs and
    # as an artifact; a real publish without `repo_id` fails at once with the parameter's name.
    run_id = _run_deployment(services, "publish-dataset/publish", "ref=scheduled-smoke")
    run = _finished_run(url, {"id": {"any_": [run_id]}}, worker, services)
    assert run["state_type"] == "COMPLETED", (run["state"], services.log("worker"))
    assert (data / "hub" / "scheduled-smoke" / "v1.0.0" / "README.md").is_file()
    text = _logs(url, run_id, "dry run: staged scheduled-smoke@1.0.0")
    assert "dry run: staged scheduled-smoke@1.0.0" in text, text[-3000:]
    arts = _api(url, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})
    assert arts and "README.md" in arts[0]["data"] and "sha256" in arts[0]["data"], arts
    run_id = _run_deployment(services, "publish-dataset/publish", "ref=scheduled-smoke", "dry_run=false")
    run = _finished_run(url, {"id": {"any_": [run_id]}}, worker, services)
    assert run["state_type"] == "FAILED" and "`repo_id`" in run["state"]["message"], run["state"]
    assert run["run_count"] == 1  # not retried



def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds `marker` (this test's private PREFECT_HOME)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker.encode() in (proc / "environ").read_bytes() and (proc / "stat").read_text().split()[2] != "Z":
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_killed_build_leaves_no_prefect_server(tmp_path):
    """`synth build` in Prefect's ephemeral mode, killed with SIGKILL mid-build: the temporary
    server it started does not outlive it."""
    recipe = tmp_path / "slow.yaml"
    recipe.write_text(SMOKE_RECIPE.replace("count: 6", "count: 60000").replace("scheduled-smoke", "killed-build"))
    home = str(tmp_path / "prefect-home-killed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=home, PREFECT_SERVER_ANALYTICS_ENABLED="false", HOME=str(tmp_path))
    log = (tmp_path / "build.log").open("w")
    build = subprocess.Popen([str(Path(sys.executable).parent / "synth"), "build", str(recipe), "--data-dir",
                              str(tmp_path / "data")], env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "seeds" not in (tmp_path / "build.log").read_text() and time.monotonic() < deadline:
            assert build.poll() is None, (tmp_path / "build.log").read_text()[-3000:]
            time.sleep(0.5)
        started = [p for p in _processes_with(home) if p != build.pid]
        assert started, "the build started no temporary server (nothing to check)"
        build.kill()  # SIGKILL: no atexit handler runs
        build.wait()
        deadline = time.monotonic() + 30
        while _processes_with(home) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _processes_with(home), [Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in _processes_with(home)]
    finally:
        for pid in _processes_with(home):
            os.kill(pid, signal.SIGKILL)
