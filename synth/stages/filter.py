"""The quality filter chain over what a build releases, one funnel row per block and collection.

Blocks (synth/filters/blocks.py) run in order, each on what the previous kept: format, length,
exact dedup, near dedup, decontamination. Every drop goes to rejects with its reason and the record;
decontamination drops also go to the contamination report. Dedup keeps the first record of each
group, so the result does not depend on anything but the records' order, which the stages fix.
"""

from __future__ import annotations

import time
from dataclasses import asdict, is_dataclass
from typing import Any

from schemas import Contamination
from synth.filters.benchmarks import BenchmarkNgrams, benchmark_ngrams
from synth.filters.blocks import Block, Decontaminate, ExactDedup, FormatFilter, LengthFilter, NearDedup
from synth.filters.text import TextView, view
from synth.recipe import FilterStage
from synth.stages.base import StageReport, reject


def build_blocks(config: FilterStage, earlier: list[TextView] = (),
                 benchmarks: BenchmarkNgrams | None = None) -> list[Block]:
    """The configured blocks, in order. `benchmarks` may be passed in so its n-grams are read once."""
    blocks: list[Block] = []
    if config.format:
        blocks.append(FormatFilter())
    if config.length is not None:
        blocks.append(LengthFilter(config.length.min_chars, config.length.max_chars, config.length.max_prompt_chars))
    if config.exact_dedup:
        blocks.append(ExactDedup(earlier))
    if config.near_dedup is not None:
        nd = config.near_dedup
        blocks.append(NearDedup(nd.threshold, nd.num_perm, nd.ngram, earlier))
    if config.decontaminate is not None:
        table = benchmarks if benchmarks is not None else benchmark_ngrams(
            config.decontaminate.benchmarks, config.decontaminate.ngram)
        blocks.append(Decontaminate(table, config.decontaminate.ngram))
    return blocks


def run_chain(collection: str, records: list[Any], blocks: list[Block]) -> tuple[list[Any], list, list[StageReport],
                                                                                 list[Contamination]]:
    """Kept records (in order), rejects, one report per block, and the contamination rows."""
    items = [view(r) for r in records]
    rejects: list = []
    reports: list[StageReport] = []
    found: list[Contamination] = []
    for block in blocks:
        t0 = time.perf_counter()
        report = StageReport(block.name, unit_in=collection, unit_out=collection, n_in=len(items))
        if isinstance(block, Decontaminate):
            block.matches.clear()
        kept = []
        for it, drop in zip(items, block.decide(items)):
            if drop is None:
                kept.append(it)
            else:
                reject(report, rejects, it.record_id, drop[0], drop[1],
                       it.record if is_dataclass(it.record) else asdict(it))
        if isinstance(block, Decontaminate):
            found += [Contamination(collection=collection, **m) for m in block.matches]
        items = kept
        report.n_out = len(items)
        report.wall_seconds = time.perf_counter() - t0
        reports.append(report)
    return [it.record for it in items], rejects, reports, found
