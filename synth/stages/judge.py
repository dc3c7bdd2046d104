"""UltraFeedback's fine-grained ratings: a judge rates every completion on each aspect, 1 to 5, with
a rationale (Cui et al. 2023, "UltraFeedback: Boosting Language Models with High-quality Feedback").

UltraFeedback shows the judge all four completions of a prompt together; here each completion is
rated alone, so its rating cannot depend on which completions sit beside it or in what order (the
position effect pairwise judging suffers from). Each aspect is its own request with its own rubric,
as in the paper's per-aspect annotation. Ratings come through structured output; a judgment that
still fails its schema after the retries rejects the completion with the reason; nothing is guessed.
"""

from __future__ import annotations

import time
from dataclasses import replace
from collections import defaultdict
from statistics import mean
from typing import Optional

from schemas import AspectRating, Comparison, RatedCompletion, SeedProblem, Solution
from synth import engine
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.prompts import chat
from synth.config import JudgeStage, ModelSpec
from synth import exports, suites
from synth.stages.base import Collection, Release, Stage, StageReport, StageResult, added, reject, with_cache
from synth.stages.judge_pairwise import JudgePairwise, reference_for


def rating_schema(rationale_chars: int) -> dict:
    """Rationale first, so the rating follows from it rather than the other way round."""
    return {
        "type": "object",
        "properties": {"rationale": {"type": "string", "minLength": 1, "maxLength": rationale_chars},
                       "rating": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        "required": ["rationale", "rating"],
        "additionalProperties": False,
    }


class JudgeRatings:
    name = "judge"

    def __init__(self, config: JudgeStage, models: dict[str, ModelSpec], build_seed: int,
                 cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.models, self.build_seed = config, models, build_seed
        self.cache, self.progress = cache, progress

    def _request(self, key: str, s: Solution, seed: SeedProblem, aspect: str) -> ChatRequest:
        spec = self.models[key]
        return ChatRequest(
            messages=chat("judge_rating", aspect=aspect, instruction=seed.problem, response=s.text,
                          reference=reference_for(seed, self.config)),
            sampling=spec.sampling, n=1, sampling_seed=derive_seed(f"{self.build_seed}:judge:{key}:{s.solution_id}:{aspect}"),
            json_schema=rating_schema(self.config.max_rationale_chars))

    def run(self, solutions: list[Solution], seeds: list[SeedProblem]) -> tuple[StageResult[RatedCompletion], list[Usage]]:
        t0 = time.perf_counter()
        by_seed = {s.seed_id: s for s in seeds}
        aspects = list(self.config.aspects)
        report = StageReport(self.name, unit_in="completions", unit_out="rated completions", n_in=len(solutions))
        rejects: list = []
        usages: list[Usage] = []
        ratings: dict[str, list[AspectRating]] = defaultdict(list)
        failed: dict[str, list[str]] = defaultdict(list)
        jobs = [(s, a) for s in solutions for a in aspects]
        for key in self.config.models:
            requests = [self._request(key, s, by_seed[s.seed_id], a) for s, a in jobs]
            completions, usage = engine.generate(self.name, self.models[key], requests, cache=self.cache,
                                                 progress=self.progress)
            usages.append(usage)
            for (s, aspect), comp in zip(jobs, completions):
                sample = comp.samples[0]
                report.count(key, "tried")
                if sample.ok and not sample.parsed["rationale"].strip():
                    sample = replace(sample, error="the rationale is blank")
                if not sample.ok:
                    report.count(key, "unparsable_output")
                    failed[s.solution_id].append(f"{key}/{aspect}: {sample.error} (after {sample.attempts} attempts)")
                    continue
                rating = int(sample.parsed["rating"])
                report.count(key, f"rating_{rating}")
                ratings[s.solution_id].append(AspectRating(
                    aspect=aspect, judge=usage.model, rating=rating,
                    rationale=" ".join(sample.parsed["rationale"].split())))
        out: list[RatedCompletion] = []
        for s in solutions:
            if failed[s.solution_id]:
                reject(report, rejects, s.solution_id, "unparsable_judgment", "; ".join(failed[s.solution_id]), s)
                continue
            got = ratings[s.solution_id]
            scores = {a: mean(r.rating for r in got if r.aspect == a) for a in aspects}
            out.append(RatedCompletion(solution_id=s.solution_id, seed_id=s.seed_id, model=s.model, text=s.text,
                                       ratings=got, aspect_scores=scores, score=mean(scores.values())))
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), usages


def judge_step(ctx, t):
    r = ctx.recipe
    cfg = r.stages.judge
    judge = JudgeRatings if cfg.mode == "ratings" else JudgePairwise
    result, usage = with_cache(ctx, lambda cache: judge(cfg, r.models, r.random_seed, cache, ctx.progress).run(
        t.solutions, t.seeds))
    if cfg.mode == "ratings":
        return added(t, "judge", result, usage, rated=result.records)
    return added(t, "judge", result, usage, comparisons=result.records)


def _mode(mode: str):
    return lambda recipe: recipe.stages.judge.mode == mode


def _check(recipe) -> None:
    st = recipe.stages
    if st.pair is None or st.pair.method != st.judge.mode:
        raise ValueError(f"stages.judge (mode {st.judge.mode}) needs stages.pair with method {st.judge.mode}: "
                         f"otherwise its judgments decide nothing")


def _announce(ctx, t) -> str:
    cfg = ctx.recipe.stages.judge
    what = "rating each completion" if cfg.mode == "ratings" else "comparing completions in both orders"
    return f"{what} with {', '.join(cfg.models)}"


STAGE = Stage(
    name="judge", order=70, step=judge_step, config=JudgeStage, needs=("generate",),
    reads=("solutions", "seeds"), writes=(Collection("rated", RatedCompletion), Collection("comparisons", Comparison)),
    models=lambda r: [("models", k) for k in r.stages.judge.models],
    prompts=lambda r: ["judge_rating" if r.stages.judge.mode == "ratings" else "judge_pairwise"],
    templates=("judge_rating", "judge_pairwise"),
    releases=(Release("ratings", lambda ctx, t: t.rated, when=_mode("ratings"), derive=suites.ratings),
              Release("ultrafeedback", lambda ctx, t: exports.to_ultrafeedback(t.seeds, t.rated), when=_mode("ratings"),
                      derive=suites.ultrafeedback, citations=("ultrafeedback",)),
              Release("comparisons", lambda ctx, t: t.comparisons, when=_mode("pairwise"), derive=suites.comparisons)),
    method_citations={"ratings": ("ultrafeedback",), "pairwise": ("mt-bench",)},
    announce=_announce, check=_check,
)
