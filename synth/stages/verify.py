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

from schemas import Generation, SeedProblem, Solution
from synth.answers import answers_match, read_answer
from synth.code import checking_program, extract_code
from synth.config import VerifyStage
from synth.sandbox import Limits, require_isolation, run_program
from synth import suites
from synth.stages.base import Collection, Release, Stage, StageReport, StageResult, added


def split_steps(text: str) -> list[str]:
    """A step is a non-empty line: the prompt asks for one calculation per line."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


@dataclass(frozen=True)
class Check:
    status: str  # correct | incorrect | no_answer | ambiguous | unverified
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

    def _math(self, g: Generation, seed: SeedProblem) -> Check:
        """A solution cut off at max_tokens has only the answers it stated, not the last number it
        reached. One stating different answers is `ambiguous` when one of them is gold's (it is not
        correct, and not a fair rejected solution either), else plainly incorrect."""
        reading = read_answer(g.text, finished=g.finish_reason != "length")
        if reading.status == "none":
            detail = "cut off at max_tokens before stating an answer" if g.finish_reason == "length" else ""
            return Check("no_answer", error_detail=detail)
        if reading.status == "ambiguous":
            values = [st.value for st in reading.statements]
            detail = "states different final answers: " + ", ".join(dict.fromkeys(values))
            if any(answers_match(v, seed.gold_answer) for v in values):
                return Check("ambiguous", None, error_detail=detail)
            return Check("incorrect", values[-1], error_detail=detail)
        return Check("correct" if answers_match(reading.answer, seed.gold_answer) else "incorrect", reading.answer)

    def _code(self, g: Generation, seed: SeedProblem) -> Check:
        code = extract_code(g.text, header=seed.problem)
        if code is None:
            return Check("no_answer", error_type="NoCode", error_detail="no Python code in the reply")
        r = run_program(checking_program(seed, code), self.limits, self.config.isolation)
        if r.passed:
            return Check("correct", code)
        if r.status == "error":  # the sandbox failed, not the program: no label either way
            return Check("unverified", code, r.error_type, f"sandbox error: {r.stderr.strip()[-300:]}")
        return Check("incorrect", code, r.error_type, r.error_line or r.detail or r.error_type or r.status)

    def check(self, g: Generation, seed: SeedProblem) -> Check:
        if not self.check_answers:
            return Check("unverified")
        if seed.tests is not None:
            return self._code(g, seed)
        return self._math(g, seed) if seed.gold_answer else Check("unverified")

    def run(self, generations: list[Generation], seeds: list[SeedProblem]) -> StageResult[Solution]:
        t0 = time.perf_counter()
        by_id = {s.seed_id: s for s in seeds}
        report = StageReport(self.name, unit_in="solutions", unit_out="solutions", n_in=len(generations))
        if self.check_answers and any(by_id[g.seed_id].tests is not None for g in generations):
            require_isolation(self.config.isolation)  # before running anything
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


def verify_step(ctx, t):
    r = ctx.recipe
    result = VerifyAnswers(r.stages.verify, check_answers=r.stages.generate.prompt != "respond").run(
        t.generations, t.seeds)
    return added(t, "verify", result, solutions=result.records)


STAGE = Stage(
    name="verify", order=11, step=verify_step, config=VerifyStage, default=True, runs_with="generate",
    reads=("generations", "seeds"), writes=(Collection("solutions", Solution),),
    releases=(Release("solutions", lambda ctx, t: t.solutions, derive=suites.solutions),),
    method_citations={"solve_math": ("gsm8k", "math-verify"), "solve_code": ("humaneval",)},
)
