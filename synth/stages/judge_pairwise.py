"""Pairwise judging in both orders (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and
Chatbot Arena").

LLM judges favour a position: asked which of A and B is better, they often name the same position
whatever is in it. MT-Bench's remedy is to ask twice with the two responses swapped and to count a
verdict only when it names the same response both times. Here a comparison is kept only when every
judge names the same winner in both orders; a flip is dropped and counted, and each judge's flip
rate (and how often it picks the first position) is reported.
"""

from __future__ import annotations

import hashlib
import random
import time
from dataclasses import replace
from collections import defaultdict
from itertools import combinations
from typing import Optional

from schemas import Comparison, PairwiseVerdict, SeedProblem, Solution
from synth import engine
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.prompts import chat
from synth.config import JudgeStage, ModelSpec
from synth.stages.base import StageReport, StageResult, reject


def verdict_schema(rationale_chars: int) -> dict:
    return {
        "type": "object",
        "properties": {"rationale": {"type": "string", "minLength": 1, "maxLength": rationale_chars},
                       "winner": {"type": "string", "enum": ["A", "B"]}},
        "required": ["rationale", "winner"],
        "additionalProperties": False,
    }


def pairs_to_compare(solutions: list[Solution], limit: Optional[int], build_seed: int) -> list[tuple[Solution, Solution]]:
    """Every pair of a prompt's completions, or a random subset seeded by the prompt (so the choice
    does not depend on batch order)."""
    groups: dict[str, list[Solution]] = defaultdict(list)
    for s in solutions:
        groups[s.seed_id].append(s)
    out = []
    for seed_id, group in groups.items():
        pairs = list(combinations(group, 2))
        if limit is not None and len(pairs) > limit:
            pairs = random.Random(f"{build_seed}:pairwise:{seed_id}").sample(pairs, limit)
        out += pairs
    return out



def reference_for(seed: SeedProblem, config: JudgeStage) -> str:
    return seed.gold_answer if config.reference and seed.gold_answer else ""


class JudgePairwise:
    name = "judge"

    def __init__(self, config: JudgeStage, models: dict[str, ModelSpec], build_seed: int,
                 cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.models, self.build_seed = config, models, build_seed
        self.cache, self.progress = cache, progress

    def _request(self, key: str, first: Solution, second: Solution, seed: SeedProblem) -> ChatRequest:
        spec = self.models[key]
        return ChatRequest(
            messages=chat("judge_pairwise", instruction=seed.problem, first=first.text, second=second.text,
                          reference=reference_for(seed, self.config)),
            sampling=spec.sampling, n=1,
            sampling_seed=derive_seed(f"{self.build_seed}:pairwise:{key}:{first.solution_id}:{second.solution_id}"),
            json_schema=verdict_schema(self.config.max_rationale_chars))

    def run(self, solutions: list[Solution], seeds: list[SeedProblem]) -> tuple[StageResult[Comparison], list[Usage]]:
        t0 = time.perf_counter()
        by_seed = {s.seed_id: s for s in seeds}
        candidates = pairs_to_compare(solutions, self.config.max_pairs_per_prompt, self.build_seed)
        report = StageReport(self.name, unit_in="completion pairs", unit_out="comparisons", n_in=len(candidates))
        rejects: list = []
        pairs = []
        for a, b in candidates:
            if a.text.strip() == b.text.strip():  # nothing to prefer: not worth a judge's call
                reject(report, rejects, f"{a.solution_id}|{b.solution_id}", "identical_responses", "", a)
            else:
                pairs.append((a, b))
        usages: list[Usage] = []
        # per pair: each judge's two verdicts, or why it has none
        verdicts: list[list[PairwiseVerdict]] = [[] for _ in pairs]
        problems: list[list[tuple[str, str]]] = [[] for _ in pairs]
        for key in self.config.models:
            orders = [(a, b) for a, b in pairs] + [(b, a) for a, b in pairs]
            requests = [self._request(key, x, y, by_seed[x.seed_id]) for x, y in orders]
            completions, usage = engine.generate(self.name, self.models[key], requests, cache=self.cache,
                                                 progress=self.progress)
            usages.append(usage)
            n = len(pairs)
            for i in range(n):
                report.count(key, "tried")
                got = []
                for (x, y), comp in ((orders[i], completions[i]), (orders[n + i], completions[n + i])):
                    sample = comp.samples[0]
                    if sample.ok and not sample.parsed["rationale"].strip():
                        sample = replace(sample, error="the rationale is blank")
                    if not sample.ok:
                        got.append(None)
                        problems[i].append(("unparsable_judgment", f"{key}: {sample.error}"))
                        continue
                    pos = sample.parsed["winner"]
                    report.count(key, "verdicts")
                    if pos == "A":
                        report.count(key, "first_position_wins")
                    got.append(PairwiseVerdict(judge=usage.model, first_id=x.solution_id, second_id=y.solution_id,
                                               winner_position=pos,
                                               winner_id=x.solution_id if pos == "A" else y.solution_id,
                                               rationale=" ".join(sample.parsed["rationale"].split())))
                if None in got:
                    report.count(key, "unparsable_output")
                    continue
                verdicts[i] += got
                if got[0].winner_id != got[1].winner_id:
                    report.count(key, "position_flip")
                    problems[i].append(("position_flip", f"{key} picked position {got[0].winner_position} both times"))
                else:
                    report.count(key, "consistent")
        out: list[Comparison] = []
        for (a, b), vs, probs in zip(pairs, verdicts, problems):
            cid = hashlib.sha256(f"{a.solution_id}|{b.solution_id}".encode()).hexdigest()[:16]
            payload = {"a_id": a.solution_id, "b_id": b.solution_id, "verdicts": [v.__dict__ for v in vs]}
            if probs:
                reason = probs[0][0]
                reject(report, rejects, cid, reason, "; ".join(d for _, d in probs), payload)
                continue
            winners = {v.winner_id for v in vs}
            if len(winners) > 1:
                reject(report, rejects, cid, "judges_disagree", f"{len(self.config.models)} judges, winners {sorted(winners)}",
                       payload)
                continue
            winner = winners.pop()
            out.append(Comparison(comparison_id=cid, seed_id=a.seed_id, a_id=a.solution_id, b_id=b.solution_id,
                                  verdicts=vs, winner_id=winner,
                                  loser_id=b.solution_id if winner == a.solution_id else a.solution_id))
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), usages
