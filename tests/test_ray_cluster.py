"""A streamed build across a real two-node Ray cluster: a head and a second node started with
`ray start` as separate processes (each with its own CPU and a resource of its own), on loopback,
with their own temporary folder and ports. The build runs through `synth build --runner ray
--ray-address ...`; Ray's state API says on which node each task ran."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest

RAY = Path(sys.executable).with_name("ray")

RECIPE = """\
name: ray-cluster
kind: error_injection
random_seed: 3
seeds: {type: procedural, count: 480, random_seed: 4, min_steps: 1, max_steps: 3}
chunk_size: 40
stages:
  inject: {sources: [gold], max_per_source: 2, include_originals: true}
  filter: {}
"""


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _node_ports(ports: list[int]) -> list[str]:
    keys = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
            "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
    return [f"{k}={p}" for k, p in zip(keys, ports)]


def _stop(marker: str) -> None:
    """Every process the two `ray start` calls left running: found by the marker in their environment."""
    def ours():
        found = []
        for p in psutil.process_iter(["pid"]):
            try:
                if p.environ().get("SYNTH_TEST_RAY_CLUSTER") == marker and p.pid != os.getpid():
                    found.append(p)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return found

    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGKILL):  # raylets restart agents that die first
        procs = ours()
        for p in procs:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=10)
    assert not ours(), "Ray processes of the test cluster are still running"


@pytest.fixture
def two_node_cluster():
    marker = uuid.uuid4().hex
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    env = dict(os.environ, SYNTH_TEST_RAY_CLUSTER=marker, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    gcs, dashboard, client, *ports = _free_ports(15)
    head = [str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}", "--num-cpus=1",
            "--num-gpus=0", '--resources={"synth_head": 1}', f"--temp-dir={temp}",
            "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
            f"--ray-client-server-port={client}", "--disable-usage-stats", *_node_ports(ports[:6])]
    second = [str(RAY), "start", f"--address=127.0.0.1:{gcs}", "--node-ip-address=127.0.0.1", "--num-cpus=1",
              "--num-gpus=0", '--resources={"synth_second": 1}', "--disable-usage-stats", *_node_ports(ports[6:12])]
    try:
        for cmd in (head, second):
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
            assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        from ray.util.state import list_nodes

        deadline = time.monotonic() + 120
        while len([n for n in list_nodes(address=f"http://127.0.0.1:{dashboard}") if n.state == "ALIVE"]) < 2:
            assert time.monotonic() < deadline, "the second node never joined"
            time.sleep(0.5)
        yield f"127.0.0.1:{gcs}", f"http://127.0.0.1:{dashboard}"
    finally:
        _stop(marker)
        shutil.rmtree(temp, ignore_errors=True)


def test_streamed_build_runs_across_two_ray_nodes(prefect_harness, tmp_path, two_node_cluster, monkeypatch):
    from ray.util.state import list_nodes, list_tasks

    from flows.build import run_build

    address, dashboard = two_node_cluster
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    recipe = tmp_path / "ray-cluster.yaml"
    recipe.write_text(RECIPE)
    data = str(tmp_path / "data")
    local = run_build(str(recipe), data, progress=False)
    on_ray = run_build(str(recipe), data, progress=False, runner="ray", ray_address=address)
    assert on_ray.fingerprint == local.fingerprint and not on_ray.new_version
    assert on_ray.rows == local.rows

    nodes = {n.node_id for n in list_nodes(address=dashboard)}
    tasks = [t for t in list_tasks(address=dashboard, filters=[("state", "=", "FINISHED")], limit=1000)
             if t.type == "NORMAL_TASK"]
    assert len(tasks) >= 480 // 40  # one per chunk at least
    assert {t.node_id for t in tasks} == nodes and len(nodes) == 2  # both nodes ran chunks
