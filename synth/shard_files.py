"""The files of a version as every writer writes them (a whole build, a streamed one, a reviewed
version): `<split>-NNNNN-of-MMMMM.parquet` of bounded size, and the worker-process helpers the
driver (synth/stream.py) and the validation (synth/shard_checks.py) share. It sits below both, so
neither imports the other through it."""

from __future__ import annotations

import ctypes
import gc
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from catalog import FileEntry
from synth.paths import sha256_file

ROW_GROUP = 50_000  # rows per Parquet row group of the version's files (the datasets viewer reads row groups)


def die_with_parent(parent: int) -> None:
    """A worker process ends when the build that started it dies (SIGKILL included), instead of
    waiting for work forever (Linux: PR_SET_PDEATHSIG). A build killed while the worker was still
    starting (before this ran) has already gone: the worker sees another parent and ends at once."""
    import signal

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:  # not Linux: the pool's own broken-pipe handling ends it later
        pass
    if os.getppid() != parent:
        os._exit(1)


# Python's cyclic garbage collector runs every 700 new objects and, every so often, walks every live
# object: a chunk's records, caches of parsed steps. Records form no cycles, so collecting far less
# often took 10% off injection and half off the filter-and-write of a chunk (measured on 5,000
# procedural seeds, bench/scale.py's recipe); one full collection when the block ends frees what
# cycles it made (GX's contexts make some), so memory does not grow from block to block.
FEW_COLLECTIONS = (100_000, 50, 1_000)


@contextmanager
def fewer_collections(paused: bool = False) -> Iterator[None]:
    """FEW_COLLECTIONS while the block runs (a chunk's stages, its filter and files), the thresholds
    before it after. `paused`: no collection at all until the block ends, for blocks that make no
    reference cycles (a chunk's per-seed stages: 0 unreachable objects per chunk, compiled or not;
    tests/test_native.py checks it), where each collection only walks live records: a worker's
    chunk of 5,000 seeds spent 0.25 s in them, 7% of its CPU."""
    before = gc.get_threshold()
    gc.set_threshold(0 if paused else FEW_COLLECTIONS[0], *FEW_COLLECTIONS[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.collect()


def give_back_memory() -> None:
    """Returns the heap's free pages to the system (glibc's malloc_trim): a build process that
    filtered and wrote chunk after chunk keeps their freed memory as its own otherwise, while the
    validation's worker processes start beside it."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory stays with the process
        pass


def default_workers(recipe) -> int:
    return recipe.workers or len(os.sched_getaffinity(0))


class _Rows:
    """Rows of one table and split from its sources in order (the chunks' files, or one table held
    in memory), taken n at a time."""

    def __init__(self, sources: list[Callable[[], pa.Table]]):
        self.sources, self.buffer, self.buffered = iter(sources), [], 0

    def take(self, n: int) -> pa.Table:
        while self.buffered < n:
            t = next(self.sources)()
            self.buffer.append(t)
            self.buffered += t.num_rows
        whole = pa.concat_tables(self.buffer) if len(self.buffer) > 1 else self.buffer[0]
        out, rest = whole.slice(0, n), whole.slice(n)
        self.buffer, self.buffered = ([rest] if rest.num_rows else []), rest.num_rows
        return out.combine_chunks()


def file_name(split: str, k: int, n: int) -> str:
    return f"{split}-{k:05d}-of-{n:05d}.parquet"


def write_split(table: str, split: str, sources: list[Callable[[], pa.Table]], total: int, folder: Path,
                rows_per_file: int, published: bool) -> list[FileEntry]:
    """One table's split as `<split>-NNNNN-of-MMMMM.parquet` files of at most `rows_per_file` rows, in
    row groups of ROW_GROUP rows, with zstd and page checksums (CRC32, which pyarrow verifies on
    read). Every writer of a version's files writes through here, so the bytes depend on the rows
    only, however they arrived."""
    from schemas import TABLES

    schema = TABLES[table].schema
    rows = _Rows(sources)
    n_files = max(1, math.ceil(total / rows_per_file))
    entries = []
    for k in range(n_files):
        path = folder / table / file_name(split, k, n_files)
        path.parent.mkdir(parents=True, exist_ok=True)
        in_file = min(rows_per_file, total - k * rows_per_file)
        with pq.ParquetWriter(path, schema, compression="zstd", write_page_checksum=True) as w:
            if in_file == 0:
                w.write_table(schema.empty_table())
            for start in range(0, in_file, ROW_GROUP):
                w.write_table(rows.take(min(ROW_GROUP, in_file - start)).cast(schema), row_group_size=ROW_GROUP)
        entries.append(FileEntry(table=table, path=str(path), sha256=sha256_file(path), rows=in_file,
                                 bytes=path.stat().st_size, published=published))
    return entries
