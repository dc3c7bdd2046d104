"""Label each sampled solution by checking its final answer against the gold answer.

Outcome supervision from the gold answer is the label source for verified pairs and for the
"correct solution" side of error injection (Cobbe et al. 2021, GSM8K; math-verify for equivalence).
"""

from __future__ import annotations

import time

from schemas import Generation, Seed, Solution
from synth.answers import answers_match, extract_answer
from synth.stages.base import StageReport, StageResult


def split_steps(text: str) -> list[str]:
    """A step is a non-empty line: the prompt asks for one calculation per line."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


class VerifyAnswers:
    name = "verify"

    def run(self, generations: list[Generation], seeds: list[Seed]) -> StageResult[Solution]:
        t0 = time.perf_counter()
        by_id = {s.seed_id: s for s in seeds}
        report = StageReport(self.name, unit_in="solutions", unit_out="solutions", n_in=len(generations))
        out: list[Solution] = []
        for g in generations:
            seed = by_id[g.seed_id]
            answer = extract_answer(g.text)
            if answer is None:
                status = "no_answer"
            elif answers_match(answer, seed.gold_answer):
                status = "correct"
            else:
                status = "incorrect"
            report.labels[status] += 1
            out.append(
                Solution(
                    solution_id=g.generation_id,
                    seed_id=g.seed_id,
                    problem=seed.problem,
                    model=g.model,
                    sample_index=g.sample_index,
                    text=g.text,
                    steps=split_steps(g.text),
                    extracted_answer=answer,
                    gold_answer=seed.gold_answer,
                    answer_status=status,
                    is_correct=status == "correct",
                    finish_reason=g.finish_reason,
                    prompt_tokens=g.prompt_tokens,
                    completion_tokens=g.completion_tokens,
                )
            )
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, [], report)
