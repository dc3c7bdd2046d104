"""The seed problems: read from the recipe's source (the procedural generator, a file, a Hub
dataset), an exact duplicate of an earlier row left out with its reason."""

from __future__ import annotations

import time

from schemas import Reject, SeedProblem
from synth.seeds import read_seeds
from synth.stages.base import Collection, Release, Stage, StageReport, StageResult, added


def seeds_step(ctx, t):
    t0 = time.perf_counter()
    got = read_seeds(ctx.recipe.seeds)
    seeds = got.seeds
    # An exact duplicate of an earlier row is left out with its reason (it would be one problem twice).
    rejects = [Reject(stage="seeds", record_id=source, reason="duplicate_problem", detail=f"same problem as {kept}",
                      payload="") for source, kept in got.duplicates]
    report = StageReport("seeds", unit_in="problems", unit_out="problems", n_in=len(seeds) + len(rejects),
                         n_out=len(seeds), wall_seconds=time.perf_counter() - t0)
    if rejects:
        report.dropped["duplicate_problem"] = len(rejects)
    return added(t, "seeds", StageResult(seeds, rejects, report), seeds=seeds)


STAGE = Stage(
    name="seeds", order=0, step=seeds_step,
    writes=(Collection("seeds", SeedProblem, by_seed=False),),
    releases=(Release("seeds", lambda ctx, t: t.seeds),),
    method_citations={"gsm8k": ("gsm8k",), "humaneval": ("humaneval",)},
)
