"""Dedup state that lives across the chunks of a streamed build.

A build streamed in chunks (synth/stream.py) runs the filter chain once per chunk, in seed order;
exact and near dedup must still keep the first record of each group over the whole build. These
blocks wrap the per-build blocks of synth/filters/blocks.py and keep only what later chunks need:

- `StreamExactDedup`: the 64-bit prefix of each first-seen text key (sorted runs, merged as they
  grow), the chunk that had it and its row there: 16 bytes per distinct text, never the text. The
  full 16-byte key and the first record's id are kept on disk, per chunk (`dedup-<collection>.bin`,
  a `KeyFile`), and one row of it is read back only to confirm a cross-chunk hit and to name the
  record it duplicates.
- `StreamNearDedup`: every record's MinHash signature and whether it was kept (num_perm x 4 bytes
  per record, as datatrove's and NeMo Curator's signature stages keep), plus its id.

Both decide exactly what the whole-build block decides over all records at once (the whole build's
first of a group is in the earliest chunk that has one), and both rebuild their state from the
chunk files of finished chunks, so a build resumed after a kill filters as an uninterrupted one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from synth.filters.blocks import Drop, ExactDedup, NearDedup, text_key
from synth.filters.minhash import near_pairs
from synth.filters.text import TextView, with_hashes
from synth.paths import written_whole


class KeyRuns:
    """A set of 64-bit keys, each with where it was first seen (a chunk and a row of that chunk's
    dedup file), as sorted runs; a run is merged with the one before it once that one is at most
    twice its size, so lookups touch O(log n) runs and each key is re-sorted O(log n) times over the
    build."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(k) for k, _, _ in self.runs)

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes + c.nbytes + r.nbytes for k, c, r in self.runs)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key, the chunk that had it first (-1: none) and its row there."""
        chunk = np.full(len(keys), -1, dtype=np.int32)
        row = np.zeros(len(keys), dtype=np.int32)
        for ks, cs, rs in self.runs:
            pos = np.minimum(np.searchsorted(ks, keys), len(ks) - 1)
            hit = ks[pos] == keys
            chunk[hit], row[hit] = cs[pos[hit]], rs[pos[hit]]
        return chunk, row

    def add(self, keys: np.ndarray, chunk: int) -> None:
        """`keys` in the order of the chunk's dedup file (row i is keys[i])."""
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], np.full(len(keys), chunk, dtype=np.int32), order.astype(np.int32)))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k1, c1, r1), (k2, c2, r2) = self.runs.pop(-2), self.runs.pop(-1)
            keys_ = np.concatenate([k1, k2])
            order = np.argsort(keys_, kind="stable")
            self.runs.append((keys_[order], np.concatenate([c1, c2])[order], np.concatenate([r1, r2])[order]))


def _prefix(keys: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(k[:8] for k in keys), dtype="<u8") if keys else np.zeros(0, dtype="<u8")


class KeyFile:
    """One chunk's first-seen keys and the ids of their records, laid out so that one row is read
    with four small reads, never the file: a later chunk that repeats a text confirms its full key
    and names the first record at any distance (a Parquet file per hit, read whole, grew a 400k-seed
    build's filter from 1.3 to 4.5 s per chunk by chunk 60).

        n (u8) | n keys of 16 bytes | n + 1 offsets (u8) into the ids | the ids, UTF-8
    """

    KEY = 16

    @staticmethod
    def write(path: Path, keys: list[bytes], ids: list[str]) -> None:
        blobs = [i.encode() for i in ids]
        offsets = np.zeros(len(blobs) + 1, dtype="<u8")
        np.cumsum([len(b) for b in blobs], out=offsets[1:])
        with written_whole(path) as f:
            f.write(np.uint64(len(keys)).astype("<u8").tobytes())
            f.write(b"".join(keys))
            f.write(offsets.tobytes())
            f.write(b"".join(blobs))

    @staticmethod
    def keys(path: Path) -> list[bytes]:
        """The keys, in row order; a file of another length than its header says is refused (a
        resumed build would otherwise keep the duplicates of whatever the damage lost)."""
        data = path.read_bytes()  # read only when a resumed build takes a chunk over
        n = int(np.frombuffer(data[:8], dtype="<u8")[0]) if len(data) >= 8 else -1
        ids_at = 8 + (KeyFile.KEY + 8) * n  # where the last offset is
        if n < 0 or len(data) < ids_at + 8 or len(data) != ids_at + 8 + int(
                np.frombuffer(data[ids_at:ids_at + 8], dtype="<u8")[0]):
            from synth.errors import SynthError

            raise SynthError(f"{path}: damaged dedup key file ({len(data)} bytes, header says {max(n, 0)} keys); "
                            f"remove this build's folder with `synth gc` or rerun with `synth build --no-cache`")
        raw = data[8:8 + KeyFile.KEY * n]
        return [raw[i:i + KeyFile.KEY] for i in range(0, len(raw), KeyFile.KEY)]

    @staticmethod
    def row(path: Path, i: int) -> tuple[bytes, str]:
        fd = os.open(path, os.O_RDONLY)
        try:
            n = int(np.frombuffer(os.pread(fd, 8, 0), dtype="<u8")[0])
            key = os.pread(fd, KeyFile.KEY, 8 + KeyFile.KEY * i)
            start, end = np.frombuffer(os.pread(fd, 16, 8 + KeyFile.KEY * n + 8 * i), dtype="<u8").tolist()
            rid = os.pread(fd, end - start, 8 + KeyFile.KEY * n + 8 * (n + 1) + start).decode()
        finally:
            os.close(fd)
        return key, rid


class StreamExactDedup:
    """ExactDedup over every chunk of a build (see the module docstring)."""

    name = "exact_dedup"

    def __init__(self, base: ExactDedup, sidecar: Callable[[int], Path]):
        self.earlier = dict(base.seen)  # earlier versions' keys (against_earlier_versions)
        self.sidecar = sidecar  # chunk -> its dedup file (KeyFile)
        self.index = KeyRuns()
        self.chunk = 0
        self.new: dict[bytes, str] = {}

    def begin(self, chunk: int) -> None:
        self.chunk, self.new = chunk, {}

    def decide(self, items: list[TextView]) -> list[Drop]:
        keys = [text_key(it) for it in items]
        if len(self.index):
            prior, rows = self.index.find(_prefix(keys))
        else:
            prior, rows = np.full(len(keys), -1, dtype=np.int32), np.zeros(len(keys), dtype=np.int32)
        out: list[Drop] = []
        for it, k, c, r in zip(items, keys, prior.tolist(), rows.tolist()):
            first = self.earlier.get(k)
            if first is not None:
                out.append(("duplicate_of_earlier_version", f"same text as {first}"))
                continue
            if c >= 0:
                key, rid = KeyFile.row(self.sidecar(c), r)
                first = rid if key == k else None  # None: the 64-bit prefixes collided, the texts differ
            if first is None:
                first = self.new.get(k)
            if first is not None:
                out.append(("exact_duplicate", f"same text as {first}"))
            else:
                self.new[k] = it.record_id
                out.append(None)
        self.index.add(_prefix(list(self.new)), self.chunk)
        return out

    def save(self, chunk: int) -> None:
        """What this chunk added, for later chunks' lookups and for a resumed build."""
        KeyFile.write(self.sidecar(chunk), list(self.new), list(self.new.values()))

    def restore(self, chunk: int) -> None:
        self.index.add(_prefix(KeyFile.keys(self.sidecar(chunk))), chunk)


class StreamNearDedup:
    """NearDedup over every chunk of a build: the signatures of every record seen so far (kept or
    not: a dropped record still decides which record is first for its band keys, as in the whole
    build) are the candidates of each new chunk."""

    name = "near_dedup"

    def __init__(self, base: NearDedup, sidecar: Callable[[int], Path]):
        self.threshold, self.hasher, self.bands = base.threshold, base.hasher, base.bands
        self.n_earlier = len(base.earlier_ids)  # earlier versions' records come first
        self.ids: list[str] = list(base.earlier_ids)
        self.sigs = base.earlier_sigs
        self.kept = np.ones(len(self.ids), dtype=bool)
        self.sidecar = sidecar
        self.chunk = 0
        self._added: Optional[tuple[np.ndarray, np.ndarray, list[str]]] = None

    def begin(self, chunk: int) -> None:
        self.chunk, self._added = chunk, None

    @property
    def nbytes(self) -> int:
        return self.sigs.nbytes + self.kept.nbytes

    def decide(self, items: list[TextView]) -> list[Drop]:
        n_prev = len(self.ids)
        new_sigs = self.hasher.signatures(with_hashes(items))
        sigs = np.concatenate([self.sigs, new_sigs]) if n_prev else new_sigs
        near, near_sim = near_pairs(sigs, self.bands, n_prev, self.threshold)
        by_record: dict[int, list[tuple[float, int]]] = {}
        for (i, c), j in zip(near.tolist(), near_sim.tolist()):
            by_record.setdefault(i, []).append((j, c))
        kept = np.concatenate([self.kept, np.ones(len(items), dtype=bool)])
        out: list[Drop] = [None] * len(items)
        for i in sorted(by_record):
            live = [(j, c) for j, c in by_record[i] if kept[c]]
            if not live:
                continue
            j, c = max(live)
            kept[i] = False
            if c < self.n_earlier:
                out[i - n_prev] = ("near_duplicate_of_earlier_version",
                                   f"estimated Jaccard {j:.2f} with earlier version record {self.ids[c]}")
            else:
                other = self.ids[c] if c < n_prev else items[c - n_prev].record_id
                out[i - n_prev] = ("near_duplicate", f"estimated Jaccard {j:.2f} with {other}")
        ids = [it.record_id for it in items]
        self._append(new_sigs, kept[n_prev:], ids)
        return out

    def _append(self, sigs: np.ndarray, kept: np.ndarray, ids: list[str]) -> None:
        self.sigs = np.concatenate([self.sigs, sigs]) if len(self.ids) else sigs
        self.kept = np.concatenate([self.kept, kept])
        self.ids += ids
        self._added = (sigs, kept, ids)

    def save(self, chunk: int) -> None:
        sigs, kept, ids = self._added if self._added is not None else (
            np.zeros((0, self.sigs.shape[1] if self.sigs.ndim == 2 else 0), dtype=np.uint32), np.zeros(0, bool), [])
        with written_whole(self.sidecar(chunk)) as f:
            np.savez(f, sigs=sigs, kept=kept, ids=np.array(ids, dtype=str))
        self._added = None

    def restore(self, chunk: int) -> None:
        with np.load(self.sidecar(chunk)) as z:
            if len(z["ids"]):
                self._append(z["sigs"], z["kept"], [str(i) for i in z["ids"]])
        self._added = None
