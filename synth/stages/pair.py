"""Binarization: chosen and rejected completions of one prompt, decided one of three ways.

- `verified`: a solution whose answer checks out (math) or whose tests pass (code, run in the
  sandbox) against one that does not, no judge needed; the correct-vs-incorrect pairing of
  "Iterative Reasoning Preference Optimization" (Pang et al. 2024).
- `ratings`: by the mean of UltraFeedback's aspect ratings (Cui et al. 2023), as Zephyr's
  UltraFeedback binarization does (Tunstall et al. 2023): chosen is the best-rated completion,
  rejected a random lower-rated one (or the worst, the other common choice); a tie for best drops
  the prompt, and a pair below the minimum margin is dropped.
- `pairwise`: the winner and loser of a comparison judged the same way in both orders (MT-Bench).

Every pair counts whether chosen is the longer response: judges (and reward models trained on
their pairs) favour length (Singhal et al. 2023, "A Long Way to Go"), so the card reports the share.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from schemas import ChatMessage, Comparison, PreferencePair, RatedCompletion, Seed, Solution
from synth.recipe import GenerateStage, PairStage
from synth.stages.base import StageReport, StageResult, reject
from synth.stages.generate import prompt_messages


def count_length(report: StageReport, pair: PreferencePair) -> None:
    if pair.chosen_length > pair.rejected_length:
        report.count("length", "chosen_longer")
    elif pair.chosen_length < pair.rejected_length:
        report.count("length", "rejected_longer")
    else:
        report.count("length", "same_length")


class PairPreferences:
    name = "pair"

    def __init__(self, config: PairStage, generate: GenerateStage, build_seed: int):
        self.config, self.generate, self.build_seed = config, generate, build_seed

    def run(self, seeds: list[Seed], solutions: list[Solution], rated: list[RatedCompletion],
            comparisons: list[Comparison]) -> StageResult[PreferencePair]:
        t0 = time.perf_counter()
        report = StageReport(self.name, unit_in="problems", unit_out="pairs", n_in=len(seeds))
        rejects: list = []
        self.by_id = {s.solution_id: s for s in solutions}
        pairs: list[PreferencePair] = []
        method = self.config.method
        groups: dict[str, list] = defaultdict(list)
        for r in {"verified": solutions, "ratings": rated, "pairwise": comparisons}[method]:
            groups[r.seed_id].append(r)
        for seed in seeds:
            rng = random.Random(f"{self.build_seed}:{seed.seed_id}")  # the same choice however batches fall
            group = groups.get(seed.seed_id, [])
            if method == "verified":
                made = self._verified(seed, group, rng, report, rejects)
            elif method == "ratings":
                made = self._rated(seed, group, rng, report, rejects)
            else:
                made = self._pairwise(seed, group, rng, report, rejects)
            for p in made:
                count_length(report, p)
                report.labels[method] += 1
            pairs += made
        report.n_out = len(pairs)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(pairs, rejects, report)

    def _pair(self, seed: Seed, chosen: Solution, rejected: Solution, **fields) -> PreferencePair:
        pid = hashlib.sha256(f"{chosen.solution_id}|{rejected.solution_id}".encode()).hexdigest()[:16]
        defaults = dict(score_chosen=None, score_rejected=None, chosen_ratings=[], rejected_ratings=[], verdicts=[],
                        chosen_answer=None, rejected_answer=None, gold_answer=seed.gold_answer or None)
        return PreferencePair(
            pair_id=pid, seed_id=seed.seed_id, method=self.config.method,
            prompt=prompt_messages(self.generate.prompt, seed.problem),
            chosen=[ChatMessage("assistant", chosen.text)], rejected=[ChatMessage("assistant", rejected.text)],
            chosen_solution_id=chosen.solution_id, rejected_solution_id=rejected.solution_id,
            chosen_model=chosen.model, rejected_model=rejected.model,
            chosen_length=len(chosen.text), rejected_length=len(rejected.text), **{**defaults, **fields})

    def _verified(self, seed: Seed, group: list[Solution], rng: random.Random, report: StageReport,
                  rejects: list) -> list[PreferencePair]:
        correct = [s for s in group if s.is_correct]
        wrong = [s for s in group if s.answer_status in ("incorrect", "no_answer")]
        if not seed.gold_answer and seed.tests is None:
            reject(report, rejects, seed.seed_id, "no_gold_answer", "verified pairs need a gold answer or tests", seed)
            return []
        if not group:
            reject(report, rejects, seed.seed_id, "no_solutions", "every sample was dropped upstream", seed)
            return []
        if not correct:
            reject(report, rejects, seed.seed_id, "no_correct_solution", f"{len(group)} samples, none correct", seed)
            return []
        if not wrong:
            reject(report, rejects, seed.seed_id, "no_incorrect_solution", f"{len(group)} samples, all correct", seed)
            return []
        combos = [(c, w) for c in correct for w in wrong]
        rng.shuffle(combos)
        return [self._pair(seed, c, w, score_chosen=1.0, score_rejected=0.0, chosen_answer=c.extracted_answer,
                           rejected_answer=w.extracted_answer)
                for c, w in combos[: self.config.max_pairs_per_problem]]

    def _rated(self, seed: Seed, group: list[RatedCompletion], rng: random.Random, report: StageReport,
               rejects: list) -> list[PreferencePair]:
        if len(group) < 2:
            reject(report, rejects, seed.seed_id, "fewer_than_two_rated", f"{len(group)} rated completions", seed)
            return []
        ranked = sorted(group, key=lambda r: (-r.score, r.solution_id))
        best = ranked[0]
        scores = ", ".join(f"{r.score:.2f}" for r in ranked)
        if ranked[1].score == best.score:
            reject(report, rejects, seed.seed_id, "tied_best", f"scores {scores}", seed)
            return []
        lower = [r for r in ranked[1:] if best.score - r.score >= self.config.min_margin and r.text != best.text]
        if not lower:
            reject(report, rejects, seed.seed_id, "below_min_margin",
                   f"scores {scores}; min_margin {self.config.min_margin} (a copy of chosen's text never counts)", seed)
            return []
        if self.config.binarize == "best_vs_worst":
            worst = [r for r in lower if r.score == lower[-1].score]
            rejected = rng.choice(worst)
        else:
            rejected = rng.choice(lower)
        return [self._pair(seed, self.by_id[best.solution_id], self.by_id[rejected.solution_id],
                           score_chosen=best.score, score_rejected=rejected.score,
                           chosen_ratings=list(best.ratings), rejected_ratings=list(rejected.ratings))]

    def _pairwise(self, seed: Seed, group: list[Comparison], rng: random.Random, report: StageReport,
                  rejects: list) -> list[PreferencePair]:
        if not group:
            reject(report, rejects, seed.seed_id, "no_consistent_comparison",
                   "no comparison of this prompt's completions survived judging", seed)
            return []
        chosen = sorted(group, key=lambda c: c.comparison_id)
        rng.shuffle(chosen)
        return [self._pair(seed, self.by_id[c.winner_id], self.by_id[c.loser_id], verdicts=list(c.verdicts))
                for c in chosen[: self.config.max_pairs_per_problem]]

