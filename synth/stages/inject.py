"""Typed error injection with deterministic operators, labels checked before anything is kept.

Follows LEMMA's error-type grounded mistake augmentation (Pan et al. 2025: errors of a named type
in otherwise correct solutions, including the model's own, "on-policy", solutions) and yields
ProcessBench-style earliest-error labels (Zheng et al. 2024). For each source solution and error
type, the operator's candidate edits are tried in a seeded order until one gives values a solver
would write; the result is then checked (synth.inject.checks) and kept only if every check passes.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Optional, Sequence

from schemas import ErrorInjection, LabelledSolution, SeedProblem, Solution
from synth.answers import answers_match, extract_answer, read_answer
from synth.inject.checks import failed_check
from synth.inject.operators import OPERATORS, SourceSolution
from synth.inject.propagate import Implausible, propagate
from synth.inject.steps import repeated_line, restated_old_value, value_combined_with_itself
from synth.process import _PLACEHOLDER, goes_on_after_answer
from synth.config import InjectStage
from synth.seeds import gold_solution_steps
from synth import labels, suites
from synth.stages.base import Collection, Kind, Release, Stage, StageReport, StageResult, added, reject

MAX_TRIES = 12  # candidate edits tried per (source, error type) before giving up on implausible values


@dataclass(frozen=True)
class Source:
    """A correct solution to corrupt: a seed's gold solution or a verified-correct sample."""

    seed: SeedProblem
    source_id: str
    model: str  # "gold" or the sample's model
    steps: list[str]
    finished: bool = True  # False for a sample cut off at max_tokens

    @property
    def key(self) -> str:
        return source_key(self.seed.seed_id, self.source_id)


def source_key(seed_id: str, source_id: str) -> str:
    """One name per source solution, the same for a Source and for the injections made from it."""
    return f"{seed_id}-gold" if source_id == "gold" else source_id


def injection_sources(sources: Sequence[str], seeds: list[SeedProblem], solutions: list[Solution]) -> list[Source]:
    out: list[Source] = []
    if "gold" in sources:
        out += [Source(s, "gold", "gold", gold_solution_steps(s)) for s in seeds]
    if "samples" in sources:
        by_id = {s.seed_id: s for s in seeds}
        out += [Source(by_id[s.seed_id], s.solution_id, s.model, list(s.steps), s.finish_reason != "length")
                for s in solutions if s.is_correct]
    return out


def source_flaw(steps: list[str], finished: bool) -> Optional[tuple[str, str]]:
    """(reason, detail) when a solution with the right answer is still no correct worked solution to
    corrupt: cut off, carrying the prompt's template `The answer is N`, stating no answer, or going on
    after its final answer. Corrupting such a source gives a record whose original is already broken
    and whose new answer is never stated where a reader looks for it."""
    text = "\n".join(steps)
    if not finished:
        return "source_cut_off", "the solution hit max_tokens before it ended"
    if _PLACEHOLDER.search(text):
        return "source_placeholder_answer", "writes the prompt's template 'The answer is N'"
    reading = _finished_reading(text)
    if reading.status in ("none", "ambiguous"):
        return "source_no_stated_answer", f"no single final answer ({reading.status})"
    # (a last sentence that says the answer in words is read as its last number)
    if reading.status == "stated" and (more := goes_on_after_answer(text, reading)) is not None:
        return "source_goes_on_after_answer", more
    return None


# A source's answer is read by the flaw check and again for the records: read once (AnswerReading is
# frozen, so sharing it is safe).
_finished_reading = lru_cache(maxsize=64)(lambda text: read_answer(text, finished=True))


def pick_types(types: list[str], limit: Optional[int], rng: random.Random) -> list[str]:
    return list(types) if limit is None or limit >= len(types) else rng.sample(list(types), limit)


class InjectErrors:
    name = "inject"

    def __init__(self, config: InjectStage, build_seed: int):
        self.config, self.build_seed = config, build_seed

    def run(self, seeds: list[SeedProblem], solutions: list[Solution]) -> StageResult[ErrorInjection]:
        t0 = time.perf_counter()
        sources = injection_sources(self.config.sources, seeds, solutions)
        report = StageReport(self.name, unit_in="solutions", unit_out="injections", n_in=len(sources))
        rejects: list = []
        out: list[ErrorInjection] = []
        for src in sources:
            flaw = source_flaw(src.steps, src.finished)
            if flaw is not None:
                reject(report, rejects, src.key, flaw[0], flaw[1], src.seed)
                continue
            parsed = SourceSolution.parse(src.seed.problem, src.steps)
            answer = _finished_reading("\n".join(src.steps)).answer
            if not answers_match(answer, src.seed.gold_answer):
                reject(report, rejects, src.key, "source_answer_mismatch",
                       f"extracted {answer!r}, gold {src.seed.gold_answer!r}", src.seed)
                continue
            calcs = parsed.calcs()
            if not calcs:
                reject(report, rejects, src.key, "no_calculations", "no written-out computation to corrupt", src.seed)
                continue
            if any(not c.holds for _, c in calcs):
                bad = next(c.text(src.steps[i]) for i, c in calcs if not c.holds)
                reject(report, rejects, src.key, "source_arithmetic_error", f"'{bad}' does not hold", src.seed)
                continue
            rng = random.Random(f"{self.build_seed}:inject:{src.key}")
            kept_before, outcomes = len(out), []
            # Types in a seeded random order until max_per_source are kept: a type with no place in this
            # solution (no sum to miscount) gives way to the next rather than leaving the source short.
            limit = self.config.max_per_source or len(self.config.error_types)
            for error_type in rng.sample(list(self.config.error_types), len(self.config.error_types)):
                if len(out) - kept_before >= limit:
                    break
                record = self._inject(src, parsed, answer or "", error_type, report)
                if record is None:
                    outcomes.append(f"{error_type}: no plausible place")
                    continue
                reason = failed_check(record, recompute=True)
                if reason:
                    report.count(error_type, reason)
                    reject(report, rejects, record.injection_id, reason, record.detail, record)
                    outcomes.append(f"{error_type}: {reason}")
                else:
                    report.count(error_type, "kept")
                    if record.slip:
                        report.count(error_type, f"slip:{record.slip}")
                    report.labels[error_type] += 1
                    out.append(record)
            if len(out) == kept_before:  # the source leaves the funnel here: say so, with what was tried
                reject(report, rejects, src.key, "no_error_injected", "; ".join(outcomes), src.seed)
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report)

    def _inject(self, src: Source, parsed: SourceSolution, answer: str, error_type: str,
                report: StageReport) -> Optional[ErrorInjection]:
        """The first plausible candidate of the operator, corrupted through to the end; None when the
        type does not apply to this solution (counted per type, no record to keep)."""
        report.count(error_type, "tried")
        candidates = OPERATORS[error_type].candidates(parsed)
        if not candidates:
            report.count(error_type, "not_applicable")
            return None
        rng = random.Random(f"{self.build_seed}:{src.key}:{error_type}")
        rng.shuffle(candidates)
        candidates = _steps_in_turn(_kinds_in_turn(candidates), rng)
        final = _answer_value(answer)
        for edit in candidates[:MAX_TRIES]:
            try:
                corrupted = propagate(edit, set(parsed.question_values), final)
            except Implausible:
                continue
            if restated_old_value(src.steps, corrupted) is not None:
                continue  # the old value still stands beside the new one: the next candidate reads better
            if repeated_line(src.steps, corrupted) is not None or value_combined_with_itself(src.steps, corrupted):
                continue  # two identical lines in a row, or `x + x`: seams, not slips
            return ErrorInjection(
                injection_id=f"{src.key}-{error_type}", seed_id=src.seed.seed_id, source_id=src.source_id,
                source_model=src.model, method="rule", error_type=error_type, problem=src.seed.problem,
                original_steps=list(src.steps), corrupted_steps=corrupted, first_error_step=edit.label,
                original_answer=answer, corrupted_answer=extract_answer("\n".join(corrupted)) or "",
                gold_answer=src.seed.gold_answer, detail=edit.detail, slip=edit.slip)
        report.count(error_type, "no_plausible_candidate")
        return None


def _kinds_in_turn(candidates: list) -> list:
    """Shuffled calculation slips, one of each kind in turn: every kind the computation allows is as
    likely to be made (a digit can be transposed in any result, a carry forgotten only in some)."""
    rank: dict = {}
    order = []
    for c in candidates:
        n = rank.get(c.slip, 0)
        rank[c.slip] = n + 1
        order.append(n)
    return [c for _, c in sorted(zip(order, candidates), key=lambda p: p[0])]


def _steps_in_turn(candidates: list, rng: random.Random) -> list:
    """Every step that can hold the error is as likely to hold it, in a random order of steps: left to
    the number of candidates per step, the last, busiest computation would hold most errors, and a
    critic could learn the position instead of the error."""
    by_step: dict = {}
    for c in candidates:
        by_step.setdefault(c.label, []).append(c)
    steps = sorted(by_step)
    rng.shuffle(steps)
    out = []
    for r in range(max((len(v) for v in by_step.values()), default=0)):
        out += [by_step[s][r] for s in steps if r < len(by_step[s])]
    return out


def _answer_value(answer: str):
    from synth.inject.arith import numbers_in

    values = numbers_in(answer)
    return next(iter(values)) if len(values) == 1 else None


def inject_step(ctx, t):
    cfg = ctx.recipe.stages.inject
    result = InjectErrors(cfg, ctx.recipe.random_seed).run(t.seeds, t.solutions)
    made = labels.from_injections(result.records, cfg.include_originals)
    t = added(t, "inject", result, injections=t.injections + result.records, labelled=t.labelled + made)
    return replace(t, reports=t.reports + [labels.labelled_report("inject", result.records, made)])


def samples_need_generate(name: str):
    """The recipe check of a stage whose `sources` may name the generator's own solutions."""
    def check(recipe) -> None:
        if "samples" in getattr(recipe.stages, name).sources and recipe.stages.generate is None:
            raise ValueError(f"stages.{name}.sources has 'samples', which needs stages.generate")
    return check


INJECTIONS = Release("injections", lambda ctx, t: t.injections, derive=suites.injections)
INJECTED = (Collection("injections", ErrorInjection), Collection("labelled", LabelledSolution))

STAGE = Stage(
    name="inject", order=20, step=inject_step, config=InjectStage,
    reads=("seeds", "solutions"), writes=INJECTED, releases=(INJECTIONS, *labels.LABELLED_RELEASES),
    citations={"inject": ("lemma", "processbench")}, check=samples_need_generate("inject"),
    kinds=(Kind("error_injection", needs=(("inject", "inject_llm", "code_inject"),),
                publishes=("processbench", "injections", "code_injections", "math_shepherd", "prm_stepwise"),
                tags=("process-supervision", "error-detection", "prm"),
                description="inject, inject_llm or code_inject"),),
)
