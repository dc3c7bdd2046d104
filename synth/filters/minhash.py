"""MinHash signatures and LSH banding, vectorized over a whole batch of documents with numpy.

The signatures are datasketch's: `datasketch.MinHash(num_perm, seed, hashfunc=ngram_hash)` updated
with a document's word n-grams gives the same hash values (its default `affine32` scheme: the
MurmurHash3 finalizer, then `a * h + b` modulo 2^32 with datasketch's own `a`, `b`); a test checks
it. The band layout for a Jaccard threshold is datasketch's own optimum (`MinHashLSH`'s weighting of
false positives and negatives). What differs is speed: datasketch updates one document at a time in
Python; here the n-gram hashes of every document in a batch come from one rolling computation over
their word hashes, and the permutations and minima are a few numpy calls on all cores, so
near-duplicate removal keeps up with the rest of the filter chain (bench/filters.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from synth.filters.text import word_hash

# Documents per numpy batch: temporaries stay a few MB, so memory is reused rather than newly mapped
# (first touches of fresh pages cost more than the arithmetic on some machines).
CHUNK = 64
_PERM_BLOCK = 16  # permutations per pass: (16, grams) stays in cache; all 128 at once is 3x slower

# Per-position multipliers of the n-gram hashes (odd, so each position's word stays fully mixed).
_POS32 = np.array([(0x9E3779B1 * (2 * k + 1)) & 0xFFFFFFFF for k in range(64)], dtype=np.uint32)
_POS64 = np.array([(0x9E3779B97F4A7C15 * (2 * k + 1)) & 0xFFFFFFFFFFFFFFFF for k in range(64)], dtype=np.uint64)


def ngram_hash(gram: bytes) -> int:
    """The 32-bit hash of one n-gram (normalized words joined by single spaces), as a datasketch
    `hashfunc`: a position-weighted sum of its words' hashes, modulo 2^32."""
    return sum(int(_POS32[k]) * word_hash(w) for k, w in enumerate(gram.split(b" "))) & 0xFFFFFFFF


def ngram_hashes(words: np.ndarray, lengths: np.ndarray, n: int, wide: bool = False,
                 short_doc_gram: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every document's word n-gram hashes, concatenated, and how many each document has, from the
    documents' word hashes (concatenated) and word counts (synth.filters.text.word_hashes).
    `wide`: 64-bit hashes (for exact-match lookups), else 32-bit (MinHash). A document shorter than n
    words has one n-gram of all its words when `short_doc_gram`, else none."""
    dtype, weights = (np.uint64, _POS64) if wide else (np.uint32, _POS32)
    flat = words.astype(dtype)
    total = len(flat)
    acc = np.zeros(total, dtype=dtype)
    for k in range(min(n, total)):
        acc[: total - k] += weights[k] * flat[k:]
    counts = np.maximum(lengths - n + 1, 0)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    before = np.cumsum(counts) - counts
    idx = np.repeat(starts, counts) + (np.arange(int(counts.sum())) - np.repeat(before, counts))
    grams = acc[idx]
    if short_doc_gram:
        short = np.flatnonzero(counts == 0)
        if short.size:
            vals = np.array([np.sum(weights[: lengths[d]] * flat[starts[d]:starts[d] + lengths[d]], dtype=dtype)
                             for d in short], dtype=dtype)
            grams = np.insert(grams, before[short], vals)
            counts = counts.copy()
            counts[short] = 1
    return grams, counts


@dataclass(frozen=True)
class Bands:
    b: int
    r: int

    @classmethod
    def for_threshold(cls, threshold: float, num_perm: int) -> "Bands":
        from datasketch.lsh import _optimal_param  # in use only: datasketch brings scipy and redis

        b, r = _optimal_param(threshold, num_perm, 0.5, 0.5)
        return cls(b, r)


class MinHasher:
    def __init__(self, num_perm: int = 128, seed: int = 1, ngram: int = 5, threads: int = 1):
        if ngram > len(_POS32):
            raise ValueError(f"ngram must be at most {len(_POS32)}")
        self.num_perm, self.ngram = num_perm, ngram
        self.threads = threads
        from datasketch import MinHash

        reference = MinHash(num_perm=num_perm, seed=seed)
        if reference.scheme != "affine32":
            raise RuntimeError(f"datasketch's default scheme is {reference.scheme}; this code computes affine32")
        a, b = reference.permutations
        self.a, self.b = a.astype(np.uint32)[:, None], b.astype(np.uint32)[:, None]

    def _chunk(self, docs: list[np.ndarray]) -> np.ndarray:
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        grams, counts = ngram_hashes(np.concatenate(docs), lengths, self.ngram)
        from datasketch.minhash import _fmix

        mixed = _fmix(grams, 32)[None, :]
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        out = np.empty((self.num_perm, len(counts)), dtype=np.uint32)
        for k in range(0, self.num_perm, _PERM_BLOCK):
            permuted = self.a[k:k + _PERM_BLOCK] * mixed  # wraps modulo 2^32, as datasketch's does
            permuted += self.b[k:k + _PERM_BLOCK]
            out[k:k + _PERM_BLOCK] = np.minimum.reduceat(permuted, offsets, axis=1)
        return out.T

    def signatures(self, docs: list[np.ndarray]) -> np.ndarray:
        """(len(docs), num_perm) uint32 signatures of documents given as their words' hashes
        (synth.filters.text.with_hashes). `threads` > 1 runs batches in parallel (numpy releases the
        GIL, but batches are small, so a second thread gains little on two cores)."""
        if not docs:
            return np.zeros((0, self.num_perm), dtype=np.uint32)
        parts = [docs[i:i + CHUNK] for i in range(0, len(docs), CHUNK)]
        if self.threads == 1:
            return np.concatenate([self._chunk(p) for p in parts])
        with ThreadPoolExecutor(max_workers=self.threads) as pool:
            return np.concatenate(list(pool.map(self._chunk, parts)))


def band_keys(signatures: np.ndarray, bands: Bands, chunk: int = 4096) -> np.ndarray:
    """(n, b) int64 keys: each band's r values folded into one number (equal bands, equal keys;
    unequal bands collide with probability about 2^-64)."""
    n = signatures.shape[0]
    out = np.empty((n, bands.b), dtype=np.int64)
    for s in range(0, n, chunk):
        rows = signatures[s:s + chunk, : bands.b * bands.r].astype(np.uint64).reshape(-1, bands.b, bands.r)
        keys = (rows * _POS64[None, None, : bands.r]).sum(axis=2, dtype=np.uint64)
        out[s:s + chunk] = (keys ^ (keys >> np.uint64(29))).view(np.int64)
    return out


def near_pairs(sigs: np.ndarray, bands: Bands, start: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Each record from `start` on paired with the first earlier record it shares a band with, where
    their estimated Jaccard similarity reaches `threshold`: (pairs (later, earlier), similarities).
    One candidate per band, the earliest, so the work grows with the records, not their pairs."""
    keys = band_keys(sigs, bands)
    first = np.empty(keys.shape, dtype=np.int64)
    for j in range(keys.shape[1]):
        _, where, inverse = np.unique(keys[:, j], return_index=True, return_inverse=True)
        first[:, j] = where[inverse]
    rows, cols = np.nonzero(first[start:] < np.arange(start, len(sigs))[:, None])
    pairs = np.unique(np.stack([rows + start, first[rows + start, cols]], axis=1), axis=0)
    sim = (sigs[pairs[:, 0]] == sigs[pairs[:, 1]]).mean(axis=1) if len(pairs) else np.zeros(0)
    return pairs[sim >= threshold], sim[sim >= threshold]
