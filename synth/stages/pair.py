"""Verified preference pairs: a correct and an incorrect solution to the same problem, no judge needed.

Follows the correct-vs-incorrect pairing of "Iterative Reasoning Preference Optimization"
(Pang et al. 2024) and the verified-pair construction used for math DPO data.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict

from schemas import ChatMessage, PreferencePair, Seed, Solution
from synth.stages.generate import prompt_messages
from synth.recipe import GenerateStage, PairStage
from synth.stages.base import StageReport, StageResult, reject


class PairCorrectIncorrect:
    name = "pair"

    def __init__(self, config: PairStage, generate: GenerateStage, build_seed: int):
        self.config, self.generate, self.build_seed = config, generate, build_seed

    def run(self, solutions: list[Solution], seeds: list[Seed]) -> StageResult[PreferencePair]:
        t0 = time.perf_counter()
        report = StageReport(self.name, unit_in="problems", unit_out="pairs", n_in=len(seeds))
        rejects: list = []
        groups: dict[str, list[Solution]] = defaultdict(list)
        for s in solutions:
            groups[s.seed_id].append(s)
        pairs: list[PreferencePair] = []
        for seed in seeds:
            group = groups.get(seed.seed_id, [])
            correct = [s for s in group if s.is_correct]
            wrong = [s for s in group if not s.is_correct]
            if not group:
                reject(report, rejects, seed.seed_id, "no_solutions", "every sample was dropped upstream", seed)
                continue
            if not correct:
                reject(report, rejects, seed.seed_id, "no_correct_solution", f"{len(group)} samples, none correct", seed)
                continue
            if not wrong:
                reject(report, rejects, seed.seed_id, "no_incorrect_solution", f"{len(group)} samples, all correct", seed)
                continue
            # Seeded by problem so the choice is the same however the batch is ordered.
            rng = random.Random(f"{self.build_seed}:{seed.seed_id}")
            combos = [(c, w) for c in correct for w in wrong]
            rng.shuffle(combos)
            prompt = prompt_messages(self.generate.prompt, seed.problem)
            for chosen, rejected in combos[: self.config.max_pairs_per_problem]:
                pid = hashlib.sha256(f"{chosen.solution_id}|{rejected.solution_id}".encode()).hexdigest()[:16]
                pairs.append(
                    PreferencePair(
                        pair_id=pid,
                        seed_id=seed.seed_id,
                        prompt=prompt,
                        chosen=[ChatMessage("assistant", chosen.text)],
                        rejected=[ChatMessage("assistant", rejected.text)],
                        chosen_solution_id=chosen.solution_id,
                        rejected_solution_id=rejected.solution_id,
                        chosen_answer=chosen.extracted_answer or "",
                        rejected_answer=rejected.extracted_answer,
                        gold_answer=seed.gold_answer,
                        chosen_length=len(chosen.text),
                        rejected_length=len(rejected.text),
                    )
                )
        report.n_out = len(pairs)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(pairs, rejects, report)
