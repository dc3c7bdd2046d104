"""The quality filter chain over what a build releases, one funnel row per block and collection.

Blocks (synth/filters/blocks.py) run in order, each on what the previous kept: format, length,
exact dedup, near dedup, decontamination. Every drop goes to rejects with its reason and the record;
decontamination drops also go to the contamination report. Dedup keeps the first record of each
group, so the result does not depend on anything but the records' order, which the stages fix.
"""

from __future__ import annotations

import time
from dataclasses import asdict, is_dataclass, replace
from typing import Any

from schemas import Contamination
from synth.filters.benchmarks import BenchmarkNgrams, benchmark_ngrams
from synth.filters.blocks import Block, Decontaminate, ExactDedup, FormatFilter, LengthFilter, NearDedup
from synth.filters.text import TextView, view
from synth.config import FilterStage
from synth.stages.base import Collection, Release, Stage, StageReport, canonical, reject


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


def earlier_views(ctx, table: str) -> list:
    """The records of every earlier version of this dataset built from another recipe, as filter views."""
    import pyarrow.parquet as pq

    from catalog import Catalog
    from synth.filters.text import view_of_row

    if not ctx.catalog_path.exists():
        return []
    catalog = Catalog(ctx.catalog_path)
    rows = catalog.query("SELECT f.* FROM files f JOIN versions v ON f.dataset = v.dataset AND "
                         "f.version = v.version WHERE v.dataset = ? AND v.recipe_sha256 <> ? AND f.table_name = ? "
                         "ORDER BY v.created_at", [ctx.recipe.name, ctx.recipe_sha256, table])
    for f in rows:  # what is compared against is what was registered
        catalog.require_intact(f["dataset"], f["version"], [f])
    return [view_of_row(table, r) for f in rows
            for r in pq.read_table(f["path"], page_checksum_verification=True).to_pylist()]


def filter_blocks(ctx):
    """The build's blocks for each filtered collection, `(collection, table) -> blocks`: benchmark
    n-grams are read once per build. A streamed build keeps what this gives for all its chunks."""
    cfg = ctx.recipe.stages.filter
    decon = cfg.decontaminate
    bench = benchmark_ngrams(decon.benchmarks, decon.ngram) if decon is not None else None

    def blocks_for(collection: str, table: str) -> list[Block]:
        earlier = earlier_views(ctx, table) if cfg.against_earlier_versions else []
        return build_blocks(cfg, earlier, bench)

    return blocks_for


def filter_step(ctx, t, blocks_for=None):
    """The chain over each collection a stage that ran releases for filtering (`Tables.FILTERED`:
    the releases that declare `filtered`), after putting every collection in seed order (dedup keeps
    the first of a group: the same first however the build was run). `blocks_for`: blocks that
    carry dedup state from chunk to chunk (synth/stream.py); by default, this build's own."""
    t = canonical(t)
    blocks_for = blocks_for or filter_blocks(ctx)
    updates: dict[str, Any] = {}
    rejects, reports, found = list(t.rejects), list(t.reports), list(t.contamination)
    for collection, makers, table in t.FILTERED:
        if not set(makers) & set(t.ran):
            continue
        kept, dropped, block_reports, contaminated = run_chain(
            collection, getattr(t, collection), blocks_for(collection, table))
        updates[collection] = kept
        rejects += dropped
        reports += block_reports
        found += contaminated
    if "labelled" in updates:  # what was built from a dropped labelled solution goes with it
        ids = {s.label_id for s in updates["labelled"]}
        updates["injections"] = [i for i in t.injections if i.injection_id in ids]
        updates["mc_labels"] = [m for m in t.mc_labels if m.solution_id in ids]
    return replace(t, rejects=rejects, reports=reports, contamination=found, ran=t.ran + ["filter"], **updates)


STAGE = Stage(
    name="filter", order=1000, step=filter_step, config=FilterStage,
    writes=(Collection("contamination", Contamination, by_seed=False),),
    releases=(Release("contamination", lambda ctx, t: t.contamination,
                      when=lambda r: r.stages.filter.decontaminate is not None),),
    citations={"near_dedup": ("minhash",), "decontaminate": ("gpt3-decontamination",)},
)
