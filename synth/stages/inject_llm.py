"""Typed error injection by a teacher model (LEMMA's error-type grounded mistake augmentation).

The teacher sees a correct solution, an error type with its description and an example, and writes
the solution again with one error of that type. What it claims is recorded but never trusted: the
first wrong step is where its steps first differ from the original's (synth.inject.steps), and the
record is kept only if the final answer changed and that step is wrong on its face
(synth.inject.checks). The keep rate is reported per error type.
"""

from __future__ import annotations

import random
from dataclasses import replace
import time
from typing import Collection, Optional

from schemas import ErrorInjection, SeedProblem, Solution
from synth import engine
from synth.answers import answers_match, extract_answer
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.exports import critique_input
from synth.inject.checks import failed_check
from synth.inject.operators import taxonomy
from synth.inject.steps import first_change
from synth.prompts import chat
from synth.config import InjectLLMStage, ModelSpec
from synth import labels
from synth.stages.base import Stage, StageReport, StageResult, added, reject, with_cache
from synth.stages.inject import (INJECTED, INJECTIONS, Source, injection_sources, pick_types, samples_need_generate,
                                 source_flaw, source_key)


def injection_schema(n_steps: int) -> dict:
    """The teacher's answer: the rewritten steps (one more or fewer than the original allowed, for a
    missing or an extra step), the step it says holds the error, and why."""
    return {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"type": "string", "maxLength": 400},
                      "minItems": max(1, n_steps - 1), "maxItems": n_steps + 1},
            "error_step": {"type": "integer"},
            "explanation": {"type": "string", "maxLength": 400},
        },
        "required": ["steps", "error_step", "explanation"],
        "additionalProperties": False,
    }


def uncovered(sources: list[Source], covered: Collection[str]) -> list[Source]:
    """The sources no rule-made injection was kept for (`covered`: their keys, synth.stages.inject.source_key)."""
    return [s for s in sources if s.key not in covered]


class InjectErrorsLLM:
    name = "inject_llm"

    def __init__(self, config: InjectLLMStage, models: dict[str, ModelSpec], build_seed: int,
                 cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.spec, self.build_seed = config, models[config.model], build_seed
        self.cache, self.progress = cache, progress

    def run(self, seeds: list[SeedProblem], solutions: list[Solution],
            covered: Collection[str] = ()) -> tuple[StageResult[ErrorInjection], list[Usage]]:
        """`covered`: source keys the rule-based stage already corrupted; with `only_uncovered` the
        teacher gets only the others (the funnel row then counts "solutions the rules left")."""
        t0 = time.perf_counter()
        sources = injection_sources(self.config.sources, seeds, solutions)
        unit_in = "solutions"
        if self.config.only_uncovered:
            sources, unit_in = uncovered(sources, covered), "solutions the rules left"
        report = StageReport(self.name, unit_in=unit_in, unit_out="injections", n_in=len(sources))
        rejects: list = []
        jobs = self.plan(sources, report, rejects)
        requests = [self.request(src, error_type) for src, error_type, _ in jobs]
        completions, usage = engine.generate(self.name, self.spec, requests, cache=self.cache, progress=self.progress)
        out: list[ErrorInjection] = []
        for (src, error_type, answer), comp in zip(jobs, completions):
            report.count(error_type, "tried")
            sample = comp.samples[0]
            key = f"{src.key}-{error_type}-llm"
            if not sample.ok:
                report.count(error_type, "unparsable_output")
                reject(report, rejects, key, "unparsable_output",
                       f"{sample.error} (after {sample.attempts} attempts)", {"raw": sample.text})
                continue
            record = self._record(key, src, error_type, answer, sample.parsed, usage.model)
            reason = failed_check(record, recompute=False)
            if reason:
                report.count(error_type, reason)
                reject(report, rejects, key, reason, record.detail, record)
                continue
            report.count(error_type, "kept")
            if record.claimed_error_step == record.first_error_step:
                report.count(error_type, "claim_matched_label")
            report.labels[error_type] += 1
            out.append(record)
        kept = {(r.seed_id, r.source_id) for r in out}
        left = {src.key: src for src, _, _ in jobs if (src.seed.seed_id, src.source_id) not in kept}
        for key, src in left.items():  # a source that leaves the funnel says so
            reject(report, rejects, key, "no_error_injected", "no rewrite of this solution passed the checks", src.seed)
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), [usage]

    def plan(self, sources: list[Source], report: Optional[StageReport] = None,
             rejects: Optional[list] = None) -> list[tuple[Source, str, str]]:
        """(source, error type, source's answer) for every request the teacher gets; a source whose
        answer does not check out is dropped (into `report` and `rejects` when given)."""
        jobs: list[tuple[Source, str, str]] = []
        for src in sources:
            flaw = source_flaw(src.steps, src.finished)  # the same sources as the rule-made errors refuse
            if flaw is not None:
                if report is not None:
                    reject(report, rejects, src.key, flaw[0], flaw[1], src.seed)
                continue
            answer = extract_answer("\n".join(src.steps))
            if not answers_match(answer, src.seed.gold_answer):
                if report is not None:
                    reject(report, rejects, src.key, "source_answer_mismatch",
                           f"extracted {answer!r}, gold {src.seed.gold_answer!r}", src.seed)
                continue
            rng = random.Random(f"{self.build_seed}:inject_llm:{src.key}")
            jobs += [(src, t, answer or "") for t in pick_types(self.config.error_types, self.config.max_per_source, rng)]
        return jobs

    def request(self, src: Source, error_type: str) -> ChatRequest:
        return ChatRequest(
            messages=chat(self.config.prompt, error=taxonomy()[error_type],
                          solution=critique_input(src.seed.problem, src.steps)),
            sampling=self.spec.sampling, n=1,
            sampling_seed=derive_seed(f"{self.build_seed}:inject_llm:{src.key}:{error_type}"),
            json_schema=injection_schema(len(src.steps)))

    def _record(self, key: str, src: Source, error_type: str, answer: str, obj: dict, model: str) -> ErrorInjection:
        steps = [s.strip() for s in obj["steps"] if s.strip()]
        change = first_change(src.steps, steps)
        return ErrorInjection(
            injection_id=key, seed_id=src.seed.seed_id, source_id=src.source_id, source_model=src.model,
            method=f"llm:{model}", error_type=error_type, problem=src.seed.problem, original_steps=list(src.steps),
            corrupted_steps=steps, first_error_step=change.corrupted if change else -1, original_answer=answer,
            corrupted_answer=extract_answer("\n".join(steps)) or "", gold_answer=src.seed.gold_answer,
            detail=obj["explanation"].strip(), claimed_error_step=int(obj["error_step"]) - 1)


def inject_llm_step(ctx, t):
    r = ctx.recipe
    cfg = r.stages.inject_llm
    covered = {source_key(i.seed_id, i.source_id) for i in t.injections if i.method == "rule"} \
        if cfg.only_uncovered else set()
    result, usage = with_cache(ctx, lambda cache: InjectErrorsLLM(
        cfg, r.models, r.random_seed, cache, ctx.progress).run(t.seeds, t.solutions, covered))
    made = labels.from_injections(result.records, cfg.include_originals)
    t = added(t, "inject_llm", result, usage, injections=t.injections + result.records, labelled=t.labelled + made)
    return replace(t, reports=t.reports + [labels.labelled_report("inject_llm", result.records, made)])


def _check(recipe) -> None:
    if recipe.stages.inject_llm.only_uncovered and recipe.stages.inject is None:
        raise ValueError("stages.inject_llm.only_uncovered takes the sources stages.inject could not corrupt; "
                         "add stages.inject, or set only_uncovered: false")
    samples_need_generate("inject_llm")(recipe)


STAGE = Stage(
    name="inject_llm", order=21, step=inject_llm_step, config=InjectLLMStage,
    reads=("seeds", "solutions", "injections"), writes=INJECTED, releases=(INJECTIONS, *labels.LABELLED_RELEASES),
    models=lambda r: [("model", r.stages.inject_llm.model)], prompts=lambda r: [r.stages.inject_llm.prompt],
    templates=("inject_error",), citations={"inject_llm": ("lemma",)},
    announce=lambda ctx, t: f"asking {ctx.recipe.stages.inject_llm.model} to inject typed errors",
    check=_check,
)
