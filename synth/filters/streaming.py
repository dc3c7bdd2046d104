"""Dedup state that lives across the chunks of a streamed build.

A build streamed in chunks (synth/stream.py) runs the filter chain once per chunk, in seed order;
exact and near dedup must still keep the first record of each group over the whole build. These
blocks wrap the per-build blocks of synth/filters/blocks.py and keep only what later chunks need:

- `StreamExactDedup`: the 64-bit prefix of each first-seen text key (sorted runs, merged as they
  grow) and the chunk that had it: 12 bytes per distinct text, never the text. The full 16-byte key
  and the first record's id are kept on disk, per chunk (`dedup-<collection>.parquet`), read back
  only to confirm a cross-chunk hit and to name the record it duplicates.
- `StreamNearDedup`: every record's MinHash signature and whether it was kept (num_perm x 4 bytes
  per record, as datatrove's and NeMo Curator's signature stages keep), plus its id.

Both decide exactly what the whole-build block decides over all records at once (the whole build's
first of a group is in the earliest chunk that has one), and both rebuild their state from the
chunk files of finished chunks, so a build resumed after a kill filters as an uninterrupted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from synth.filters.blocks import Drop, ExactDedup, NearDedup, text_key
from synth.filters.minhash import near_pairs
from synth.filters.text import TextView, with_hashes


class KeyRuns:
    """A set of 64-bit keys, each with the chunk that first had it, as sorted runs; a run is merged
    with the one before it once that one is at most twice its size, so lookups touch O(log n) runs
    and each key is re-sorted O(log n) times over the build."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(k) for k, _ in self.runs)

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes + c.nbytes for k, c in self.runs)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """For each key, the chunk that had it first, or -1."""
        out = np.full(len(keys), -1, dtype=np.int32)
        for ks, cs in self.runs:
            pos = np.minimum(np.searchsorted(ks, keys), len(ks) - 1)
            hit = ks[pos] == keys
            out[hit] = cs[pos[hit]]
        return out

    def add(self, keys: np.ndarray, chunk: int) -> None:
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        self.runs.append((keys[order], np.full(len(keys), chunk, dtype=np.int32)))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (k1, c1), (k2, c2) = self.runs.pop(-2), self.runs.pop(-1)
            keys_, chunks = np.concatenate([k1, k2]), np.concatenate([c1, c2])
            order = np.argsort(keys_, kind="stable")
            self.runs.append((keys_[order], chunks[order]))


def _prefix(keys: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(k[:8] for k in keys), dtype="<u8") if keys else np.zeros(0, dtype="<u8")


class StreamExactDedup:
    """ExactDedup over every chunk of a build (see the module docstring)."""

    name = "exact_dedup"

    def __init__(self, base: ExactDedup, sidecar: Callable[[int], Path]):
        self.earlier = dict(base.seen)  # earlier versions' keys (against_earlier_versions)
        self.sidecar = sidecar  # chunk -> its dedup file
        self.index = KeyRuns()
        self.chunk = 0
        self.new: dict[bytes, str] = {}
        self._ids: dict[int, dict[bytes, str]] = {}

    def begin(self, chunk: int) -> None:
        self.chunk, self.new = chunk, {}

    def _first_ids(self, chunk: int) -> dict[bytes, str]:
        if chunk not in self._ids:
            if len(self._ids) > 8:
                self._ids.pop(next(iter(self._ids)))
            t = pq.read_table(self.sidecar(chunk), page_checksum_verification=True)
            self._ids[chunk] = dict(zip(t.column("key").to_pylist(), t.column("record_id").to_pylist()))
        return self._ids[chunk]

    def decide(self, items: list[TextView]) -> list[Drop]:
        keys = [text_key(it) for it in items]
        prior = self.index.find(_prefix(keys)) if len(self.index) else np.full(len(keys), -1, dtype=np.int32)
        out: list[Drop] = []
        for it, k, c in zip(items, keys, prior.tolist()):
            first = self.earlier.get(k)
            if first is not None:
                out.append(("duplicate_of_earlier_version", f"same text as {first}"))
                continue
            if c >= 0:
                first = self._first_ids(c).get(k)  # None: the 64-bit prefixes collided, the texts differ
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
        path = self.sidecar(chunk)
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table({"key": pa.array(list(self.new), pa.binary()),
                                 "record_id": pa.array(list(self.new.values()), pa.string())}),
                       tmp, compression="zstd", write_page_checksum=True)
        tmp.replace(path)

    def restore(self, chunk: int) -> None:
        keys = pq.read_table(self.sidecar(chunk), columns=["key"]).column("key").to_pylist()
        self.index.add(_prefix(keys), chunk)


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
        path = self.sidecar(chunk)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, sigs=sigs, kept=kept, ids=np.array(ids, dtype=str))
        tmp.replace(path)
        self._added = None

    def restore(self, chunk: int) -> None:
        with np.load(self.sidecar(chunk)) as z:
            if len(z["ids"]):
                self._append(z["sigs"], z["kept"], [str(i) for i in z["ids"]])
        self._added = None
