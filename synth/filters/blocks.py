"""The filter blocks. Each is one short class with one job: given the records still in, say which to
drop and why (datatrove's filters are the model). The chain (synth/stages/filter.py) counts and
keeps every drop with its reason.

- `FormatFilter`: text a trainer cannot use (blank, broken characters, an unclosed code fence, a pair
  whose two responses are the same text).
- `LengthFilter`: responses or prompts outside the configured bounds.
- `ExactDedup`: the same normalized text seen before (in this build, or in an earlier version).
- `NearDedup`: MinHash LSH near-duplicates at a Jaccard threshold (Broder 1997), same scope.
- `Decontaminate`: word n-gram overlap with benchmark sets (GPT-3's 13-gram test, Brown et al. 2020).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Optional, Protocol

import numpy as np

from synth.filters.minhash import CHUNK, Bands, MinHasher, near_pairs, ngram_hashes
from synth.filters.text import TextView, with_hashes

if TYPE_CHECKING:
    from synth.filters.benchmarks import BenchmarkNgrams

Drop = Optional[tuple[str, str]]  # (reason, detail), or None to keep


class Block(Protocol):
    name: str

    def decide(self, items: list[TextView]) -> list[Drop]: ...


class FormatFilter:
    name = "format"

    def decide(self, items: list[TextView]) -> list[Drop]:
        out: list[Drop] = []
        for it in items:
            texts = [it.prompt, *it.responses]
            if any(not t.strip() for t in texts):
                out.append(("empty_text", "the prompt or a response is blank"))
            elif any("\x00" in t or "\ufffd" in t for t in texts):
                out.append(("bad_characters", "NUL or U+FFFD (undecodable bytes) in the text"))
            elif any(t.count("```") % 2 for t in it.responses):
                out.append(("unclosed_code_fence", "a response opens a ``` block it never closes"))
            elif len(it.responses) == 2 and it.responses[0].strip() == it.responses[1].strip():
                out.append(("identical_responses", "chosen and rejected are the same text"))
            else:
                out.append(None)
        return out


class LengthFilter:
    name = "length"

    def __init__(self, min_chars: int, max_chars: int, max_prompt_chars: int):
        self.min_chars, self.max_chars, self.max_prompt_chars = min_chars, max_chars, max_prompt_chars

    def decide(self, items: list[TextView]) -> list[Drop]:
        out: list[Drop] = []
        for it in items:
            sizes = [len(r) for r in it.responses]
            if min(sizes) < self.min_chars:
                out.append(("too_short", f"a response has {min(sizes)} characters (min {self.min_chars})"))
            elif max(sizes) > self.max_chars:
                out.append(("too_long", f"a response has {max(sizes)} characters (max {self.max_chars})"))
            elif len(it.prompt) > self.max_prompt_chars:
                out.append(("prompt_too_long", f"{len(it.prompt)} characters (max {self.max_prompt_chars})"))
            else:
                out.append(None)
        return out


def text_key(it: TextView) -> bytes:
    return hashlib.blake2b(it.norm, digest_size=16).digest()


class ExactDedup:
    """Keeps the first of records whose normalized words are the same."""

    name = "exact_dedup"

    def __init__(self, earlier: list[TextView] = ()):
        self.seen = {text_key(e): f"earlier version record {e.record_id}" for e in earlier}

    def decide(self, items: list[TextView]) -> list[Drop]:
        out: list[Drop] = []
        for it in items:
            k = text_key(it)
            first = self.seen.get(k)
            if first is not None:
                reason = "duplicate_of_earlier_version" if first.startswith("earlier") else "exact_duplicate"
                out.append((reason, f"same text as {first}"))
            else:
                self.seen[k] = it.record_id
                out.append(None)
        return out


class NearDedup:
    """Keeps the first of each group of records whose estimated Jaccard similarity (word n-gram
    shingles, MinHash) reaches the threshold. Candidates are earlier records sharing an LSH band
    (the first record seen with that band's key); each is confirmed on the full signatures, and a
    record is dropped only for a confirmed candidate that was itself kept."""

    name = "near_dedup"

    def __init__(self, threshold: float, num_perm: int, ngram: int, earlier: list[TextView] = ()):
        self.threshold = threshold
        self.hasher = MinHasher(num_perm=num_perm, ngram=ngram)
        self.bands = Bands.for_threshold(threshold, num_perm)
        self.earlier_ids = [e.record_id for e in earlier]
        self.earlier_sigs = self.hasher.signatures(with_hashes(list(earlier)))

    def decide(self, items: list[TextView]) -> list[Drop]:
        n_early = len(self.earlier_ids)
        sigs = np.concatenate([self.earlier_sigs, self.hasher.signatures(with_hashes(items))])
        near, near_sim = near_pairs(sigs, self.bands, n_early, self.threshold)
        by_record: dict[int, list[tuple[float, int]]] = {}
        for (i, c), j in zip(near.tolist(), near_sim.tolist()):
            by_record.setdefault(i, []).append((j, c))
        kept = np.ones(len(sigs), dtype=bool)
        out: list[Drop] = [None] * len(items)
        for i in sorted(by_record):  # in order, so "kept" is known for every earlier candidate
            live = [(j, c) for j, c in by_record[i] if kept[c]]
            if not live:
                continue
            j, c = max(live)
            kept[i] = False
            if c < n_early:
                out[i - n_early] = ("near_duplicate_of_earlier_version",
                                    f"estimated Jaccard {j:.2f} with earlier version record {self.earlier_ids[c]}")
            else:
                out[i - n_early] = ("near_duplicate", f"estimated Jaccard {j:.2f} with {items[c - n_early].record_id}")
        return out


class Decontaminate:
    """Drops a record when any word n-gram of its prompt or responses appears in a benchmark. N-grams
    are compared as 64-bit hashes (a bitmap first, then a sorted search), and the one reported is
    checked word for word."""

    name = "decontaminate"

    def __init__(self, table: "BenchmarkNgrams", n: int):
        self.table, self.n = table, n
        self.matches: list[dict] = []  # the contamination report

    def decide(self, items: list[TextView]) -> list[Drop]:
        n_hits = np.zeros(len(items), dtype=np.int64)
        n_grams = np.zeros(len(items), dtype=np.int64)
        first_hit: dict[int, int] = {}
        docs = with_hashes(items)
        for start in range(0, len(items), CHUNK):  # small batches: see minhash.CHUNK
            part = docs[start:start + CHUNK]
            lengths = np.fromiter((len(d) for d in part), dtype=np.int64, count=len(part))
            grams, counts = ngram_hashes(np.concatenate(part), lengths, self.n, wide=True, short_doc_gram=False)
            hit = self.table.contains(grams)
            n_grams[start:start + len(counts)] = counts
            if not hit.any():
                continue
            doc = np.repeat(np.arange(len(counts)), counts)
            n_hits[start:start + len(counts)] = np.bincount(doc[hit], minlength=len(counts))
            for pos in np.flatnonzero(hit).tolist():
                first_hit.setdefault(start + int(doc[pos]), int(grams[pos]))
        counts = n_grams
        out: list[Drop] = [None] * len(items)
        for d, key in first_hit.items():
            bench, where, words = self.table.info[key]
            it = items[d]
            if b" " + b" ".join(words) + b" " not in b" " + it.norm + b" ":  # a 64-bit collision, not an overlap
                continue
            self.matches.append({"record_id": it.record_id, "benchmark": bench, "benchmark_id": where,
                                 "ngram": b" ".join(words).decode("utf-8", "replace"),
                                 "matched_ngrams": int(n_hits[d]), "record_ngrams": int(counts[d])})
            out[d] = ("contaminated", f"{n_hits[d]} of {counts[d]} {self.n}-grams found in {bench} ({where})")
        return out

