"""How a model-free build scales: the procedural recipe (seeds -> inject -> filter) at growing sizes.

Each size is a real `synth build` in its own process and data directory (Prefect's ephemeral server,
Great Expectations, the DuckDB catalog: what a user runs). Printed per size: wall time, seeds/s end
to end, CPU time per seed (the build and every process it started: the figure that carries over to
a machine with more cores), and peak memory (the sum of the resident memory of the build and every
process it started, Prefect's server and the worker processes included, sampled every 0.1 s, with
what made it up at that moment; and the build process's own peak); then the ratios between the
largest and the smallest size. With `--kill`, the largest
size is also built once more, killed with SIGKILL once half of its chunks are finished, and run
again: its fingerprint must be the uninterrupted build's.

    .venv/bin/python bench/scale.py                       # 20k, 200k, 2M seeds (the 2M build: about 22 min on 2 cores)
    .venv/bin/python bench/scale.py --sizes 20000,200000 --kill
    .venv/bin/python bench/scale.py --stages 5000         # CPU per seed of each step of one chunk
    .venv/bin/python bench/scale.py --small               # what tests/test_benches.py runs

Goals on a 2-core machine: peak memory at 2M at most 1.5x the peak at 20k and under 2 GB; at least
2,000 seeds/s at 2M; kill and rerun give the uninterrupted fingerprint.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SYNTH = Path(sys.executable).with_name("synth")

RECIPE = """\
name: scale-bench
kind: error_injection
description: The procedural recipe bench/scale.py builds at growing sizes.
random_seed: 7
seeds: {{type: procedural, count: {count}, random_seed: 1, min_steps: 1, max_steps: 3}}
chunk_size: {chunk_size}
stages:
  inject:
    sources: [gold]
    error_types: [calculation, operator, question_value, earlier_step_value, unit_conversion, counting, missing_step]
    max_per_source: 3
    include_originals: true
  filter: {{}}
"""


def _tree_rss(proc: psutil.Process) -> tuple[int, int, dict[str, int]]:
    """(sum over the process and its descendants, the process alone, the sum per role: Prefect's
    server, the workers), in bytes."""
    try:
        own = proc.memory_info().rss
        kids = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0, {}
    total, roles = own, {"server": 0, "workers": 0}
    for k in kids:
        try:
            rss = k.memory_info().rss
            role = "server" if any("prefect.server" in a for a in k.cmdline()) else "workers"
        except psutil.NoSuchProcess:
            continue
        total += rss
        roles[role] += rss
    return total, own, roles


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _env(folder: Path) -> dict[str, str]:
    env = dict(os.environ, PREFECT_HOME=str(folder / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               GX_ANALYTICS_ENABLED="false")
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    env.pop("PREFECT_API_URL", None)
    return env


def _start(recipe: Path, data: Path, folder: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([str(SYNTH), "build", str(recipe), "--data-dir", str(data), "--quiet"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=_env(folder), start_new_session=True)


def _fingerprint(data: Path) -> str:
    from catalog import Catalog

    rows = Catalog(data / "catalog.duckdb").query("SELECT fingerprint FROM versions")
    return rows[0]["fingerprint"] if rows else ""


def _finished_seeds(data: Path, chunk_size: int) -> int:
    return chunk_size * sum(1 for _ in data.glob("builds/*/chunks/*/done.json"))


def build(count: int, chunk_size: int, folder: Path, name: str, time_limit: float | None = None) -> dict:
    """One uninterrupted build, measured. Past `time_limit` seconds it is killed and measured on the
    chunks it finished (`stopped`: the seeds/s of the chunk loop, without the end's write and validate)."""
    recipe = folder / f"{name}.yaml"
    recipe.write_text(RECIPE.format(count=count, chunk_size=chunk_size))
    data, log = folder / f"data-{name}", folder / f"{name}.log"
    t0 = time.perf_counter()
    cpu0 = _children_cpu()
    proc = _start(recipe, data, folder, log)
    ps = psutil.Process(proc.pid)
    peak_tree = peak_own = 0
    peak_roles = {"server": 0, "workers": 0}
    at_peak = {"build": 0, "server": 0, "workers": 0, "second": 0.0}  # what made up the whole tree's peak, at that moment
    stopped = None
    while proc.poll() is None:
        tree, own, roles = _tree_rss(ps)
        if tree > peak_tree:
            at_peak = {"build": own, "server": roles.get("server", 0), "workers": roles.get("workers", 0),
                       "second": time.perf_counter() - t0}
        peak_tree, peak_own = max(peak_tree, tree), max(peak_own, own)
        peak_roles = {r: max(peak_roles[r], roles.get(r, 0)) for r in peak_roles}
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            stopped = _finished_seeds(data, chunk_size)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.1)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0  # the build and every process it started and waited for
    if stopped is None and proc.returncode != 0:
        raise SystemExit(f"the build of {count:,} seeds failed (exit {proc.returncode}); its log: {log}\n"
                         + log.read_text()[-3000:])
    done = count if stopped is None else stopped
    return {"seeds": count, "wall_s": wall, "seeds_per_s": done / wall, "cpu_ms_per_seed": 1e3 * cpu / done,
            "cores_busy": cpu / wall, "peak_tree_mb": peak_tree / 2**20,
            "peak_build_mb": peak_own / 2**20, "peak_server_mb": peak_roles["server"] / 2**20,
            "peak_workers_mb": peak_roles["workers"] / 2**20, "at_peak_mb": {r: v / 2**20 for r, v in at_peak.items() if r != "second"},
            "peak_at_s": at_peak["second"],
            "fingerprint": _fingerprint(data) if stopped is None else "",
            "stopped_after_seeds": stopped}


def killed_and_rerun(count: int, chunk_size: int, folder: Path) -> dict:
    """The build killed with SIGKILL once half its chunks are finished, then run again."""
    recipe = folder / "killed.yaml"
    recipe.write_text(RECIPE.format(count=count, chunk_size=chunk_size))
    data, log = folder / "data-killed", folder / "killed.log"
    chunks = -(-count // chunk_size)
    proc = _start(recipe, data, folder, log)
    done = 0
    try:
        while done < max(1, chunks // 2):
            if proc.poll() is not None:
                raise SystemExit(f"the build ended before it could be killed; its log: {log}")
            done = sum(1 for _ in (data / "builds").glob("*/chunks/*/done.json")) if (data / "builds").exists() else 0
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    t0 = time.perf_counter()
    rerun = _start(recipe, data, folder, folder / "rerun.log")
    rerun.wait()
    if rerun.returncode != 0:
        raise SystemExit(f"the rerun failed; its log: {folder / 'rerun.log'}")
    text = (folder / "rerun.log").read_text()
    return {"killed_after_chunks": done, "of_chunks": chunks, "rerun_s": time.perf_counter() - t0,
            "took_over": "resuming from" in text, "fingerprint": _fingerprint(data)}


def stage_costs(count: int, folder: Path) -> dict[str, float]:
    """CPU time of each step of one chunk of `count` seeds, run in this process (no Prefect, no
    workers: what a worker and the build process each spend): ms per seed for the seeds, the
    per-seed stages (injection) and the filter with the chunk's Parquet files; us per row for GX's
    row-level checks of the chunk's published tables (Great Expectations imported beforehand)."""
    sys.path.insert(0, str(REPO))
    from synth import pipeline, stream
    from synth.shard_checks import Batch, check_batch

    recipe = folder / "stages.yaml"
    recipe.write_text(RECIPE.format(count=count, chunk_size=count))
    ctx = pipeline.start_build(recipe, folder / "data-stages", progress=False)
    chunks = stream.open_chunks(ctx, count)
    ref = stream.ChunkRef(0, str(chunks / "00000"))
    Path(ref.folder).mkdir(parents=True)
    t0 = time.process_time()
    (chunk,) = stream.seed_chunks(ctx.recipe, count)
    t1 = time.process_time()
    stream._dump(chunk, Path(ref.folder) / "seeds.pkl")
    t2 = time.process_time()
    stream.stage_chunk(ctx, ref)
    t3 = time.process_time()
    done = stream.finish_chunk(ctx, ref, stream.ChunkFilter(ctx, chunks))
    t4 = time.process_time()
    batches = [Batch(t, str(Path(ref.folder) / "out" / t / "train.parquet"), 0) for t in done["published"]]
    check_batch(batches[0])  # Great Expectations imported and warm
    t5 = time.process_time()
    for b in batches:
        check_batch(b)
    rows = sum(n for t in done["published"] for n in done["rows"][t].values())
    return {"seeds_ms": 1e3 * (t1 - t0) / count, "stages_ms": 1e3 * (t3 - t2) / count,
            "filter_and_files_ms": 1e3 * (t4 - t3) / count, "row_checks_us": 1e6 * (time.process_time() - t5) / rows,
            "rows_per_seed": rows / count}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="20000,200000,2000000", help="seed counts, comma-separated")
    p.add_argument("--chunk-size", type=int, default=5_000)
    p.add_argument("--kill", action="store_true", help="also kill and rerun the largest size")
    p.add_argument("--small", action="store_true", help="600 and 2,400 seeds in chunks of 300, with --kill")
    p.add_argument("--keep", help="a folder to keep the builds in (default: a temporary one)")
    p.add_argument("--time-limit", type=float, help="seconds after which a build is killed and measured on the "
                                                    "chunks it finished")
    p.add_argument("--stages", type=int, metavar="SEEDS",
                   help="only the CPU time of each step of one chunk of SEEDS seeds, in this process")
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    chunk, kill = a.chunk_size, a.kill
    if a.small:
        sizes, chunk, kill = [600, 2400], 300, True
    folder = Path(a.keep or tempfile.mkdtemp(prefix="synth-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    from synth import native

    if a.stages or a.small:
        costs = stage_costs(a.stages or 300, folder)
        print(f"stages: {native.status()}")
        print(f"one chunk of {a.stages or 300:,} seeds, CPU time: seeds {costs['seeds_ms']:.3f} ms/seed, per-seed "
              f"stages {costs['stages_ms']:.3f} ms/seed, filter and Parquet {costs['filter_and_files_ms']:.3f} ms/seed, "
              f"GX row checks {costs['row_checks_us']:.1f} us/row ({costs['rows_per_seed']:.2f} rows/seed)")
        if a.stages:
            return {"stages": costs}
    compiled = native.usable_build() is not None and not os.environ.get(native.PURE_ENV)
    print(f"procedural recipe, chunks of {chunk:,} seeds, {len(os.sched_getaffinity(0))} cores, stages "
          f"{'compiled (synth compile)' if compiled else 'as pure Python'}; builds in {folder}")
    print(f"{'seeds':>10} {'wall s':>8} {'seeds/s':>8} {'peak MB (all)':>14} {'peak MB (build)':>16} "
          f"{'(server)':>9} {'(workers)':>10}  fingerprint")
    runs = []
    for n in sizes:
        r = build(n, chunk, folder, f"n{n}", a.time_limit)
        runs.append(r)
        note = "" if r["stopped_after_seeds"] is None else (
            f"(stopped: {r['stopped_after_seeds']:,} seeds in finished chunks)")
        print(f"{n:>10,} {r['wall_s']:>8.1f} {r['seeds_per_s']:>8,.0f} {r['peak_tree_mb']:>14,.0f} "
              f"{r['peak_build_mb']:>16,.0f} {r['peak_server_mb']:>9,.0f} {r['peak_workers_mb']:>10,.0f}  "
              f"{r['fingerprint'][:16]}{note}", flush=True)
        print(f"{'':>10} CPU {r['cpu_ms_per_seed']:.2f} core-ms per seed ({r['cores_busy']:.2f} cores busy on average); "
              f"at the peak ({r['peak_at_s']:.0f} s in): build {r['at_peak_mb']['build']:,.0f} MB, server {r['at_peak_mb']['server']:,.0f} MB, "
              f"workers {r['at_peak_mb']['workers']:,.0f} MB", flush=True)
    lo, hi = runs[0], runs[-1]
    figures = {"runs": runs, "stages": costs if a.small else None, "rss_ratio": hi["peak_tree_mb"] / lo["peak_tree_mb"],
               "build_rss_ratio": hi["peak_build_mb"] / lo["peak_build_mb"],
               "throughput_ratio": hi["seeds_per_s"] / lo["seeds_per_s"]}
    print(f"ratios {hi['seeds']:,} / {lo['seeds']:,} seeds: peak memory (all) {figures['rss_ratio']:.2f}x, "
          f"(build) {figures['build_rss_ratio']:.2f}x; seeds/s {figures['throughput_ratio']:.2f}x")
    if kill and hi["stopped_after_seeds"] is None:
        k = killed_and_rerun(hi["seeds"], chunk, folder)
        figures["kill"] = k
        same = k["fingerprint"] == hi["fingerprint"]
        print(f"killed at {k['killed_after_chunks']} of {k['of_chunks']} chunks, rerun in {k['rerun_s']:.1f} s "
              f"({'took over the finished chunks' if k['took_over'] else 'started over'}): fingerprint "
              f"{k['fingerprint'][:16]} {'=' if same else '!='} uninterrupted {hi['fingerprint'][:16]}")
        figures["kill_same_fingerprint"] = same
    return figures


if __name__ == "__main__":
    main()
