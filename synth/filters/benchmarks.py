"""Benchmark texts for decontamination, from a JSONL (.gz) or Parquet file or a local `datasets`
folder (saved with `save_to_disk`), and the table of their word n-grams."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from synth.errors import SeedError
from synth.filters.minhash import ngram_hashes
from synth.filters.text import normalize, word_hashes
from synth.config import BenchmarkSpec


def benchmark_rows(spec: BenchmarkSpec) -> Iterator[tuple[str, dict]]:
    """(line N or row N, row) for each record of a benchmark: a Hub dataset at its (pinned) revision, a local
    `datasets` folder, a Parquet file, or JSONL (.gz; UTF-8, a BOM accepted)."""
    if spec.repo is not None:
        from synth.seeds import iter_hub, resolve_hub

        for row in iter_hub(resolve_hub(spec.repo, spec.config, spec.split, spec.revision)):
            yield row.label, row.data
        return
    path = spec.path
    if path.is_dir():
        import datasets

        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            ds = datasets.concatenate_datasets(list(ds.values()))
        for i, row in enumerate(ds):
            yield f"row {i}", row
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"row {i}", row
    else:
        from synth.seeds import iter_jsonl

        for row in iter_jsonl(path):
            yield row.label, row.data


class BenchmarkNgrams:
    """The benchmarks' word n-grams as 64-bit hashes: a 2^24-bit bitmap answers most lookups, a sorted
    array the rest; `info` says where each n-gram first occurs and what its words are."""

    _BITS = 24

    def __init__(self, info: dict[int, tuple[str, str, tuple[bytes, ...]]]):
        self.info = info
        self.keys = np.array(sorted(info), dtype=np.uint64)
        self.bitmap = np.zeros(1 << self._BITS, dtype=bool)
        self.bitmap[(self.keys & np.uint64((1 << self._BITS) - 1)).astype(np.int64)] = True

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, grams: np.ndarray) -> np.ndarray:
        maybe = self.bitmap[(grams & np.uint64((1 << self._BITS) - 1)).astype(np.int64)]
        out = np.zeros(len(grams), dtype=bool)
        if len(self.keys) and maybe.any():
            cand = grams[maybe]
            pos = np.minimum(np.searchsorted(self.keys, cand), len(self.keys) - 1)
            out[np.flatnonzero(maybe)] = self.keys[pos] == cand
        return out


def require_fields(spec: BenchmarkSpec, where: str, row: dict) -> None:
    """A benchmark row without a field the recipe names: the file, the row and what to fix."""
    from synth.config import did_you_mean

    missing = [f for f in spec.fields if f not in row]
    if missing:
        names = set(map(str, row))
        raise SeedError(f"{spec.path or spec.repo}: {where}: benchmark {spec.name!r} has no field {missing[0]!r} "
                        f"(fields: {', '.join(sorted(names))}){did_you_mean(missing[0], names)}; fix "
                        f"benchmarks[].fields in the recipe")


def benchmark_ngrams(specs: list[BenchmarkSpec], n: int) -> BenchmarkNgrams:
    """Every word n-gram of every named field of every benchmark record, with the first record that
    has it. Texts shorter than n words have no n-gram (a bare final answer is not evidence of
    contamination)."""
    info: dict[int, tuple[str, str, tuple[bytes, ...]]] = {}
    for spec in specs:
        found = 0
        for where, row in benchmark_rows(spec):
            require_fields(spec, where, row)
            for field in spec.fields:
                norm = normalize(str(row[field]))
                grams, _ = ngram_hashes(*word_hashes([norm]), n, wide=True, short_doc_gram=False)
                words = norm.split(b" ")
                for i, key in enumerate(grams.tolist()):
                    if key not in info:
                        info[key] = (spec.name, where, tuple(words[i:i + n]))
            found += 1
        if not found:
            raise SeedError(f"{spec.path or spec.repo}: benchmark {spec.name!r} has no records")
    return BenchmarkNgrams(info)
