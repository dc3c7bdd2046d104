"""The streaming build driver: seeds in bounded chunks, each chunk's records on disk as soon as they
exist, the version's files assembled from them at the end.

A build's memory does not grow with its size: the seeds are read `chunk_size` at a time; each chunk
runs every per-seed stage (in this process, in a pool of processes, or as a Ray task: what moves
between them is a `ChunkRef`, a folder, never records), then the filter chain in seed order with
dedup state that holds keys and signatures, never text (synth/filters/streaming.py), and its tables
are written as Parquet at once. A finished chunk is marked on disk (`done.json`), so a build killed
at any point and run again takes over the killed build's chunks and redoes only the unfinished ones.

The version's files are then assembled from the chunks' files in seed order as
`<split>-NNNNN-of-MMMMM.parquet` of at most `rows_per_file` rows, in row groups of `ROW_GROUP`
rows: their bytes depend on the records only, never on the chunk size, the number of processes or
machines, or where a build was killed, so every way of running a recipe gives one fingerprint.

Layout of the build folder while it runs (`chunks/` is removed once the version is registered):

    chunks/manifest.json                 what the chunks were made from (a rerun adopts them only if equal)
    chunks/00012/seeds.pkl               the chunk's seeds (what a worker reads)
    chunks/00012/staged.pkl              every per-seed stage's records, before the filter
    chunks/00012/out/<table>/<split>.parquet   the chunk's rows of each table
    chunks/00012/dedup-<collection>.*    what the chunk added to the dedup state
    chunks/00012/done.json               counters, rows per table; written last
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import json
import math
import os
import pickle
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pyarrow.parquet as pq

from catalog import FileEntry
from schemas import Reject, SeedProblem
from synth import console
from synth.engine import Usage
from synth.paths import written_whole
from synth.shard_files import (ROW_GROUP, default_workers, die_with_parent, fewer_collections,  # noqa: F401
                               file_name, give_back_memory, write_split)
from synth.stages.base import StageReport

CHUNKS = "chunks"
_PER_STAGE = ("seeds", "filter")  # the stages not run per chunk by `stage_chunk`


@dataclass(frozen=True)
class ChunkRef:
    """A chunk, by reference: what a task or worker process is given and returns."""

    index: int
    folder: str


@dataclass
class Streamed:
    """What the chunk loop hands on: counters and where the rows are, never the rows."""

    chunks: list[ChunkRef]
    reports: list[StageReport]
    usage: list[Usage]
    tables: dict[str, dict[str, int]]  # table -> split -> rows, in the order the build writes them
    resumed: int = 0  # chunks taken over from a killed build


# ---- seeds, chunk by chunk -------------------------------------------------------------------------

def chunk_size(recipe) -> int:
    """Seeds per chunk: `chunk_size`, or fewer so that `shards` > 1 gives at least that many chunks."""
    size = recipe.chunk_size
    if recipe.shards > 1:
        size = min(size, max(1, math.ceil(_seed_count(recipe.seeds) / recipe.shards)))
    return size


def _seed_count(spec) -> int:
    from synth.seeds import iter_seed_rows

    if getattr(spec, "type", None) == "procedural":
        return spec.count
    if getattr(spec, "limit", None):
        return spec.limit
    return sum(1 for _ in iter_seed_rows(spec))


def seed_chunks(recipe, size: int) -> Iterator[tuple[list[SeedProblem], list[Reject], StageReport]]:
    """The seeds in chunks of `size`, each with the rows left out as duplicates and its funnel row."""
    from synth.seeds import iter_seeds

    seeds: list[SeedProblem] = []
    rejects: list[Reject] = []
    t0 = time.perf_counter()

    def flush():
        report = StageReport("seeds", unit_in="problems", unit_out="problems", n_in=len(seeds) + len(rejects),
                             n_out=len(seeds), wall_seconds=time.perf_counter() - t0)
        if rejects:
            report.dropped["duplicate_problem"] = len(rejects)
        return seeds, rejects, report

    for seed, duplicate in iter_seeds(recipe.seeds):
        if seed is not None:
            seeds.append(seed)
        else:  # an exact duplicate of an earlier row is left out with its reason
            source, kept = duplicate
            rejects.append(Reject(stage="seeds", record_id=source, reason="duplicate_problem",
                                  detail=f"same problem as {kept}", payload=""))
        if len(seeds) == size:
            yield flush()
            seeds, rejects, t0 = [], [], time.perf_counter()
    if seeds or rejects:
        yield flush()


# ---- files on disk ---------------------------------------------------------------------------------

def _dump(obj: Any, path: Path) -> None:
    with written_whole(path) as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def _load(path: Path) -> Any:
    with path.open("rb") as f:
        return pickle.load(f)


def _write_json(obj: Any, path: Path) -> None:
    with written_whole(path) as f:
        f.write(json.dumps(obj, sort_keys=True).encode())


def _code_sha256() -> str:
    """The package's own code: chunks made by other code are never adopted."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.suffix in (".py", ".j2", ".yaml", ".json") and "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def manifest_of(ctx, size: int) -> dict[str, Any]:
    return {"recipe_sha256": ctx.recipe_sha256, "recipe": ctx.recipe.model_dump(mode="json"),
            "chunk_size": size, "code_sha256": _code_sha256()}


def open_chunks(ctx, size: int) -> Path:
    """The build's chunk folder. A killed build of the same recipe (same text, pinned revisions, chunk
    size and code) whose folder no running build holds hands its chunks over; its folder goes."""
    from synth.gc import unheld_lock

    folder = ctx.build_dir / CHUNKS
    manifest = manifest_of(ctx, size)
    builds = ctx.data_dir / "builds"
    if ctx.cache_path is not None and not folder.exists():  # --no-cache: everything is made again
        for other in sorted(p for p in builds.iterdir() if p.is_dir() and p != ctx.build_dir):
            mine = other / CHUNKS / "manifest.json"
            if not mine.is_file():
                continue
            try:
                if json.loads(mine.read_text()) != manifest:
                    continue
            except ValueError:
                continue
            fd = unheld_lock(other)
            if fd is None:  # a running build holds it
                continue
            try:
                (other / CHUNKS).rename(folder)
                shutil.rmtree(other, ignore_errors=True)
            finally:
                os.close(fd)
            done = sum(1 for c in folder.iterdir() if (c / "done.json").is_file())
            console.step(f"resuming from {other.name}: {done} finished chunk{'s' if done != 1 else ''} taken over")
            break
    folder.mkdir(exist_ok=True)
    _write_json(manifest, folder / "manifest.json")
    return folder


# ---- one chunk: the per-seed stages (any process) ---------------------------------------------------

def stage_chunk(ctx, ref: ChunkRef, announce: Optional[Callable[[str, Any], None]] = None) -> ChunkRef:
    """Every stage but `seeds` and `filter` on one chunk, its records written to `staged.pkl`. Runs in
    any process that sees the build folder: it is given a folder and returns it."""
    from synth import pipeline

    folder = Path(ref.folder)
    if (folder / "staged.pkl").exists():
        return ref
    with fewer_collections(paused=True):
        seeds, rejects, report = _load(folder / "seeds.pkl")
        t = pipeline.Tables(seeds=seeds, rejects=rejects, reports=[report], ran=["seeds"])
        for name in ctx.recipe.stage_names():
            if name not in _PER_STAGE:
                if announce is not None:
                    announce(name, t)
                t = pipeline.run_stage(ctx, name, t)
        _dump(t, folder / "staged.pkl")
        del t, seeds, rejects  # gone before the block's collection, which need not walk them
    # The block's full collection found no garbage here (0 unreachable objects after each of three
    # chunks of injection); it walked what stays, the modules and the parsing caches. Frozen after
    # it, they are not walked again: a worker's collection per chunk of 5,000 seeds went from
    # 0.4-0.9 s to 0.17 s (with the smaller parse_step cache). What they drop is still freed (by its
    # reference count); `run_chunks` unfreezes when the build's loop ends, a worker when it exits.
    gc.freeze()
    return ref


# Frozen objects are never finalized at shutdown, and DuckDB's bindings then print a page of 'leaked
# instances' as a worker ends: whatever `stage_chunk` froze is unfrozen when the process exits.
atexit.register(gc.unfreeze)


# ---- one chunk: filter and write (this process, in seed order) --------------------------------------

class ChunkFilter:
    """The recipe's filter blocks, kept for the whole build, with dedup state across chunks."""

    def __init__(self, ctx, folder: Path):
        from synth.stages.filter import filter_blocks

        self.ctx, self.folder = ctx, folder
        self.base = filter_blocks(ctx)
        self.blocks: dict[str, list] = {}
        self.restored: list[int] = []
        self.current: Optional[int] = None  # the chunk being filtered

    def blocks_for(self, collection: str, table: str) -> list:
        from synth.filters.blocks import ExactDedup, NearDedup
        from synth.filters.streaming import StreamExactDedup, StreamNearDedup

        if collection not in self.blocks:
            out = []
            for b in self.base(collection, table):
                if isinstance(b, ExactDedup):
                    b = StreamExactDedup(b, lambda k, c=collection: self.folder / f"{k:05d}" / f"dedup-{c}.bin")
                elif isinstance(b, NearDedup):
                    b = StreamNearDedup(b, lambda k, c=collection: self.folder / f"{k:05d}" / f"near-{c}.npz")
                out.append(b)
            for b in out:
                for index in self.restored if hasattr(b, "restore") else ():
                    b.restore(index)
                # Made while a chunk is filtered (blocks are made when their collection first comes):
                # they start on that chunk. Left at chunk 0, a resumed build's first chunk filed its
                # keys under chunk 0, and their repeats in later chunks were kept (a 20k-seed build
                # killed at chunk 10 of 20 kept 2 duplicates; 245 at 200k: another fingerprint).
                if self.current is not None and hasattr(b, "begin"):
                    b.begin(self.current)
            self.blocks[collection] = out
        return self.blocks[collection]

    def _stateful(self):
        return [b for blocks in self.blocks.values() for b in blocks if hasattr(b, "save")]

    def run(self, t, index: int):
        from synth.stages.filter import filter_step

        self.current = index
        for b in self._stateful():
            b.begin(index)
        t = filter_step(self.ctx, t, self.blocks_for)
        for b in self._stateful():
            b.save(index)
        return t

    def restore(self, index: int) -> None:
        """The state a chunk finished by a killed build left (blocks made later catch up)."""
        self.restored.append(index)
        for b in self._stateful():
            b.restore(index)


def _split_parts(ctx, name: str, records: list, published: tuple[str, ...]) -> dict[str, list]:
    from synth import pipeline

    splits = ctx.recipe.splits
    if not (splits and name in published):
        return {"train": records}
    parts: dict[str, list] = {s: [] for s in pipeline.split_names(splits)}
    for r in records:
        parts[pipeline.split_of(r.seed_id, splits)].append(r)
    return parts


def finish_chunk(ctx, ref: ChunkRef, flt: Optional[ChunkFilter]) -> dict[str, Any]:
    """The filter over one staged chunk, then its tables as Parquet, then `done.json` (last: a chunk
    is finished only once everything it wrote is complete)."""
    with fewer_collections():
        return _finish_chunk(ctx, ref, flt)


def _finish_chunk(ctx, ref: ChunkRef, flt: Optional[ChunkFilter]) -> dict[str, Any]:
    from schemas import TABLES, records_to_table
    from synth import pipeline

    folder = Path(ref.folder)
    t = _load(folder / "staged.pkl")
    if flt is not None:
        t = flt.run(t, ref.index)
    tables = pipeline.output_tables(ctx, t)
    published = pipeline.published_tables(ctx.recipe.kind, list(tables))
    rows: dict[str, dict[str, int]] = {}
    for name, records in tables.items():
        rows[name] = {}
        for split, part in _split_parts(ctx, name, records, published).items():
            rows[name][split] = len(part)
            if part:
                path = folder / "out" / name / f"{split}.parquet"
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(records_to_table(part, TABLES[name]), path, compression="zstd")
    done = {"reports": [r.as_dict() for r in t.reports], "usage": [asdict(u) for u in t.usage], "rows": rows,
            "ran": list(t.ran), "published": list(published)}
    _write_json(done, folder / "done.json")
    (folder / "staged.pkl").unlink(missing_ok=True)
    (folder / "seeds.pkl").unlink(missing_ok=True)
    return done


# ---- the loop over chunks -----------------------------------------------------------------------------

def model_free(recipe) -> bool:
    from synth import pipeline

    return not any(pipeline.stage_models(recipe, name) for name in recipe.stage_names())


def _report(d: dict[str, Any]) -> StageReport:
    return StageReport(d["stage"], d["unit_in"], d["unit_out"], d["n_in"], d["n_out"], Counter(d["dropped"]),
                       Counter(d["labels"]), d["wall_seconds"], {g: Counter(c) for g, c in d["breakdown"].items()})


def merge_reports(parts: list[list[dict[str, Any]]]) -> list[StageReport]:
    """One funnel row per stage (and filter block and collection) over all chunks, in first-seen order;
    seconds add up (chunk work is summed, also when it ran side by side)."""
    merged: dict[tuple[str, str, str], StageReport] = {}
    for reports in parts:
        for d in reports:
            key = (d["stage"], d["unit_in"], d["unit_out"])
            r = _report(d)
            if key not in merged:
                merged[key] = r
                continue
            m = merged[key]
            m.n_in += r.n_in
            m.n_out += r.n_out
            m.dropped.update(r.dropped)
            m.labels.update(r.labels)
            m.wall_seconds += r.wall_seconds
            for group, outcomes in r.breakdown.items():
                m.breakdown.setdefault(group, Counter()).update(outcomes)
    return list(merged.values())


def merge_usage(parts: list[list[dict[str, Any]]]) -> list[Usage]:
    out: dict[tuple[str, str], Usage] = {}
    for u in (Usage(**d) for part in parts for d in part):
        key = (u.stage, u.model)
        if key not in out:
            out[key] = u
            continue
        m = out[key]
        for f in ("requests", "cache_hits", "backend_requests", "parse_retries", "failures", "samples",
                  "prompt_tokens", "completion_tokens", "load_seconds", "wall_seconds"):
            setattr(m, f, getattr(m, f) + getattr(u, f))
    return list(out.values())


Submit = Callable[[ChunkRef], Any]  # returns something with .result() -> ChunkRef


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def run_chunks(ctx, submit: Optional[Submit] = None, in_flight: Optional[int] = None,
               announce: Optional[Callable[[str, Any], None]] = None) -> Streamed:
    """Every chunk through the per-seed stages (`submit`: where; default this process, or a pool of
    processes when no stage calls a model and the machine has more than one core), then, in seed
    order, the filter and the chunk's files. At most `in_flight` chunks wait to be finished, so the
    seeds read ahead stay bounded."""
    size = chunk_size(ctx.recipe)
    folder = open_chunks(ctx, size)
    workers = default_workers(ctx.recipe)
    pool = None
    if submit is None:
        if workers > 1 and model_free(ctx.recipe) and not _one_chunk(ctx.recipe, size):
            import multiprocessing

            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=die_with_parent, initargs=(os.getpid(),))
            submit = lambda ref: pool.submit(stage_chunk, ctx, ref)  # noqa: E731
        else:
            submit = lambda ref: _Done(stage_chunk(ctx, ref, announce))  # noqa: E731
    in_flight = in_flight or max(2, 2 * workers)
    flt = ChunkFilter(ctx, folder) if "filter" in ctx.recipe.stage_names() else None
    # What this process held before the loop (Prefect, pandas, pyarrow: about 500k objects) is frozen
    # out of the collector, so the full collection after each chunk walks what the chunk made: 0.4 s
    # less CPU per chunk of 5,000 seeds. The heap is collected first: garbage frozen is kept for good.
    gc.collect()
    gc.freeze()
    refs: list[ChunkRef] = []
    dones: list[dict[str, Any]] = []
    pending: list[tuple[ChunkRef, Any]] = []
    resumed = 0
    t0 = time.perf_counter()

    def finish_oldest():
        ref, fut = pending.pop(0)
        ref = fut.result()
        dones.append(finish_chunk(ctx, ref, flt))
        rows = sum(n for t, splits in dones[-1]["rows"].items() for n in splits.values() if t != "rejects")
        console.step(f"chunk {ref.index + 1} done: {rows:,} rows ({time.perf_counter() - t0:.1f} s)")

    try:
        for index, (seeds, rejects, report) in enumerate(seed_chunks(ctx.recipe, size)):
            ref = ChunkRef(index, str(folder / f"{index:05d}"))
            refs.append(ref)
            chunk = Path(ref.folder)
            if (chunk / "done.json").is_file():  # finished by a killed build
                done = json.loads((chunk / "done.json").read_text())
                dones.append(done)
                if flt is not None:
                    flt.restore(index)
                resumed += 1
                continue
            chunk.mkdir(parents=True, exist_ok=True)
            if not (chunk / "staged.pkl").exists():
                _dump((seeds, rejects, report), chunk / "seeds.pkl")
            pending.append((ref, submit(ref)))
            while len(pending) >= in_flight:
                finish_oldest()
        while pending:
            finish_oldest()
    finally:
        gc.unfreeze()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        flt = None  # the dedup state goes before the memory is given back
        give_back_memory()
    if not dones:
        from synth.errors import SeedError

        raise SeedError(f"{ctx.recipe_path}: the seeds gave no records")
    tables: dict[str, dict[str, int]] = {}
    for d in dones:
        for name, splits in d["rows"].items():
            for split, n in splits.items():
                tables.setdefault(name, {}).setdefault(split, 0)
                tables[name][split] += n
    return Streamed(refs, merge_reports([d["reports"] for d in dones]), merge_usage([d["usage"] for d in dones]),
                    tables, resumed)


def _one_chunk(recipe, size: int) -> bool:
    spec = recipe.seeds
    known = spec.count if getattr(spec, "type", None) == "procedural" else getattr(spec, "limit", None)
    return known is not None and known <= size


# ---- the version's files ----------------------------------------------------------------------------

def write_files(ctx, streamed: Streamed) -> list[FileEntry]:
    """The version's files, assembled from the chunks' files (see the module docstring)."""
    published: set[str] = set()
    for ref in streamed.chunks[:1]:
        published = set(json.loads((Path(ref.folder) / "done.json").read_text())["published"])
    entries = []
    for name, splits in streamed.tables.items():
        for split, total in splits.items():
            paths = [p for ref in streamed.chunks if (p := Path(ref.folder) / "out" / name / f"{split}.parquet").exists()]
            entries += write_split(name, split, [lambda p=p: pq.read_table(p) for p in paths], total,
                                   ctx.build_dir / "data", ctx.recipe.rows_per_file, name in published)
    return entries


def remove_chunks(ctx) -> None:
    """Once the version is registered the chunks are no longer needed."""
    shutil.rmtree(ctx.build_dir / CHUNKS, ignore_errors=True)
