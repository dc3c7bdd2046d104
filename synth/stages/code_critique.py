"""Code critiques with a verdict, kept only when the verdict matches what the tests say.

Critique-Coder (2025) trains critics on critiques of programs that end in `\\conclusion{T}` (the
solution is correct) or `\\conclusion{F}`; the label here is execution: a program is correct when the
problem's tests pass in the sandbox. Targets are programs with injected bugs (F), their originals (T),
and the generator's own programs (labelled by running them). The agreement rate is reported per target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from schemas import CodeCritique, CodeInjection, CritiqueSFTRecord, SeedProblem, Solution
from synth import engine
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.prompts import chat, render
from synth.config import CodeCritiqueStage, ModelSpec
from synth import suites
from synth.code import verdict_of
from synth.stages.base import Collection, Release, Stage, StageReport, StageResult, added, reject, with_cache

@dataclass(frozen=True)
class Target:
    target_id: str
    seed_id: str
    problem: str
    code: str
    label_source: str
    error_type: Optional[str]
    passes_tests: bool


def code_targets(kinds: list[str], injections: list[CodeInjection], solutions: list[Solution],
                 seeds: list[SeedProblem]) -> list[Target]:
    out: list[Target] = []
    if "injected" in kinds:
        out += [Target(i.injection_id, i.seed_id, i.problem, i.corrupted_code, "injected", i.error_type, False)
                for i in injections]
    if "original" in kinds:
        seen: set[tuple[str, str]] = set()
        for i in injections:
            if (i.seed_id, i.source_id) not in seen:
                seen.add((i.seed_id, i.source_id))
                out.append(Target(f"{i.seed_id}-{i.source_id}-original", i.seed_id, i.problem, i.original_code,
                                  "original", None, True))
    if "sample" in kinds:
        coded = {s.seed_id for s in seeds if s.tests is not None}
        out += [Target(s.solution_id, s.seed_id, s.problem, s.extracted_answer, "sample", s.error_type, s.is_correct)
                for s in solutions if s.seed_id in coded and s.extracted_answer]
    return out


def to_code_critique_sft(c: CodeCritique) -> CritiqueSFTRecord:
    """The critic's prompt as instruction and input (the same templates), its critique as output."""
    return CritiqueSFTRecord(instruction=render("critique_code_instruction"),
                             input=render("critique_code_input", problem=c.problem, code=c.code), output=c.critique,
                             seed_id=c.seed_id)


class CritiqueCode:
    name = "code_critique"

    def __init__(self, config: CodeCritiqueStage, models: dict[str, ModelSpec], build_seed: int,
                 cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.spec, self.build_seed = config, models[config.model], build_seed
        self.cache, self.progress = cache, progress

    def request(self, t: Target) -> ChatRequest:
        return ChatRequest(messages=chat(self.config.prompt, problem=t.problem, code=t.code),
                           sampling=self.spec.sampling, n=self.config.n,
                           sampling_seed=derive_seed(f"{self.build_seed}:code_critique:{t.target_id}"))

    def run(self, injections: list[CodeInjection], solutions: list[Solution],
            seeds: list[SeedProblem]) -> tuple[StageResult[CodeCritique], list[Usage]]:
        t0 = time.perf_counter()
        targets = code_targets(list(self.config.targets), injections, solutions, seeds)
        report = StageReport(self.name, unit_in="programs", unit_out="critiques", n_in=len(targets))
        rejects: list = []
        requests = [self.request(t) for t in targets]
        completions, usage = engine.generate(self.name, self.spec, requests, cache=self.cache, progress=self.progress)
        out: list[CodeCritique] = []
        for t, comp in zip(targets, completions):
            for j, sample in enumerate(comp.samples):
                cid = f"{t.target_id}-c{j}"
                report.count(t.label_source, "tried")
                verdict = verdict_of(sample.text)
                record = CodeCritique(critique_id=cid, target_id=t.target_id, seed_id=t.seed_id, problem=t.problem,
                                      code=t.code, label_source=t.label_source, error_type=t.error_type,
                                      passes_tests=t.passes_tests, critic_model=usage.model, sample_index=j,
                                      critique=sample.text.strip(), verdict=bool(verdict))
                if verdict is None:
                    report.count(t.label_source, "no_verdict")
                    reject(report, rejects, cid, "no_verdict", "no \\conclusion{T} or \\conclusion{F}", record)
                elif verdict != t.passes_tests:
                    report.count(t.label_source, "verdict_disagrees")
                    reject(report, rejects, cid, "verdict_disagrees",
                           f"critic says {'T' if verdict else 'F'}; the tests {'pass' if t.passes_tests else 'fail'}",
                           record)
                else:
                    report.count(t.label_source, "kept")
                    report.labels[t.label_source] += 1
                    out.append(record)
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), [usage]


def code_critique_step(ctx, t):
    r = ctx.recipe
    result, usage = with_cache(ctx, lambda cache: CritiqueCode(
        r.stages.code_critique, r.models, r.random_seed, cache, ctx.progress).run(t.code_injections, t.solutions, t.seeds))
    return added(t, "code_critique", result, usage, code_critiques=result.records)


STAGE = Stage(
    name="code_critique", order=51, step=code_critique_step, config=CodeCritiqueStage,
    needs=("code_inject", "generate"), reads=("code_injections", "solutions", "seeds"),
    writes=(Collection("code_critiques", CodeCritique),),
    models=lambda r: [("model", r.stages.code_critique.model)],
    prompts=lambda r: [r.stages.code_critique.prompt],  # its hash covers critique_code*.j2, the SFT parts included
    templates=("critique_code", "critique_code_input", "critique_code_instruction"),
    releases=(Release("code_critiques", lambda ctx, t: t.code_critiques, derive=suites.code_critiques),
              Release("critique_sft", lambda ctx, t: [to_code_critique_sft(c) for c in t.code_critiques],
                      citations=("cft",))),
    citations={"code_critique": ("critique-coder",)},
)
