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

from schemas import AspectRating, RatedCompletion, Seed, Solution
from synth import engine
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.prompts import chat
from synth.recipe import JudgeStage, ModelSpec
from synth.stages.base import StageReport, StageResult, reject


def rating_schema(rationale_chars: int) -> dict:
    """Rationale first, so the rating follows from it rather than the other way round."""
    return {
        "type": "object",
        "properties": {"rationale": {"type": "string", "minLength": 1, "maxLength": rationale_chars},
                       "rating": {"type": "integer", "enum": [1, 2, 3, 4, 5]}},
        "required": ["rationale", "rating"],
        "additionalProperties": False,
    }


def reference_for(seed: Seed, config: JudgeStage) -> str:
    return seed.gold_answer if config.reference and seed.gold_answer else ""


class JudgeRatings:
    name = "judge"

    def __init__(self, config: JudgeStage, models: dict[str, ModelSpec], build_seed: int,
                 cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.models, self.build_seed = config, models, build_seed
        self.cache, self.progress = cache, progress

    def _request(self, key: str, s: Solution, seed: Seed, aspect: str) -> ChatRequest:
        spec = self.models[key]
        return ChatRequest(
            messages=chat("judge_rating", aspect=aspect, instruction=seed.problem, response=s.text,
                          reference=reference_for(seed, self.config)),
            sampling=spec.sampling, n=1, seed=derive_seed(f"{self.build_seed}:judge:{key}:{s.solution_id}:{aspect}"),
            json_schema=rating_schema(self.config.max_rationale_chars))

    def run(self, solutions: list[Solution], seeds: list[Seed]) -> tuple[StageResult[RatedCompletion], list[Usage]]:
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
