"""Label each sampled solution by checking it: a math answer against gold, code against its tests.

Outcome supervision is the label source for verified pairs and for the "correct solution" side of
error injection: final answers against gold (Cobbe et al. 2021, GSM8K; math-verify for equivalence),
and programs against the problem's unit tests, run in a sandbox (Chen et al. 2021, HumanEval).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Optional

from schemas import Generation, Seed, Solution
from synth.answers import answers_match, extract_answer
from synth.code import checking_program, extract_code
from synth.recipe import VerifyStage
from synth.sandbox import Limits, run_program
from synth.stages.base import StageReport, StageResult


def split_steps(text: str) -> list[str]:
    """A step is a non-empty line: the prompt asks for one calculation per line."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


@dataclass(frozen=True)
class Check:
    status: str  # correct | incorrect | no_answer | unverified
    answer: Optional[str] = None  # the extracted answer, or the extracted program
    error_type: Optional[str] = None
    error_detail: str = ""


class VerifyAnswers:
    """`check_answers` is off when the prompt did not ask for a final answer line (free-form
    responses): their labels are `unverified`, and a judge, not a check, decides between them."""

    name = "verify"

    def __init__(self, config: VerifyStage = VerifyStage(), check_answers: bool = True):
        self.config, self.check_answers = config, check_answers
        self.limits = Limits(timeout_s=config.timeout_s, memory_mb=config.memory_mb,
                             cpu_seconds=max(1, int(config.timeout_s)))

    def _math(self, g: Generation, seed: Seed) -> Check:
        answer = extract_answer(g.text)
        if answer is None:
            return Check("no_answer")
        return Check("correct" if answers_match(answer, seed.gold_answer) else "incorrect", answer)

    def _code(self, g: Generation, seed: Seed) -> Check:
        code = extract_code(g.text, header=seed.problem)
        if code is None:
            return Check("no_answer", error_type="NoCode", error_detail="no Python code in the reply")
        r = run_program(checking_program(seed, code), self.limits)
        if r.passed:
            return Check("correct", code)
        last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        return Check("incorrect", code, r.error_type, r.error_line or last[:300])

    def check(self, g: Generation, seed: Seed) -> Check:
        if not self.check_answers:
            return Check("unverified")
        if seed.tests is not None:
            return self._code(g, seed)
        return self._math(g, seed) if seed.gold_answer else Check("unverified")

    def run(self, generations: list[Generation], seeds: list[Seed]) -> StageResult[Solution]:
        t0 = time.perf_counter()
        by_id = {s.seed_id: s for s in seeds}
        report = StageReport(self.name, unit_in="solutions", unit_out="solutions", n_in=len(generations))
        # Programs run in their own processes: threads only wait on them.
        workers = self.config.workers or os.cpu_count() or 1
        with ThreadPoolExecutor(max_workers=workers) as pool:
            checks = list(pool.map(lambda g: self.check(g, by_id[g.seed_id]), generations))
        out: list[Solution] = []
        for g, c in zip(generations, checks):
            seed = by_id[g.seed_id]
            report.labels[c.status] += 1
            if c.error_type:
                report.count("tests failed with", c.error_type)
            out.append(
                Solution(
                    solution_id=g.generation_id,
                    seed_id=g.seed_id,
                    problem=seed.problem,
                    model=g.model,
                    sample_index=g.sample_index,
                    text=g.text,
                    steps=split_steps(g.text),
                    extracted_answer=c.answer,
                    gold_answer=seed.gold_answer,
                    answer_status=c.status,
                    is_correct=c.status == "correct",
                    finish_reason=g.finish_reason,
                    prompt_tokens=g.prompt_tokens,
                    completion_tokens=g.completion_tokens,
                    error_type=c.error_type,
                    error_detail=c.error_detail,
                )
            )
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, [], report)
