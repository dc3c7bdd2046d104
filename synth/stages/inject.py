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
from dataclasses import dataclass
from typing import Optional

from schemas import ErrorInjection, Seed, Solution
from synth.answers import answers_match, extract_answer
from synth.inject.checks import failed_check
from synth.inject.operators import OPERATORS, SourceSolution
from synth.inject.propagate import Implausible, propagate
from synth.inject.steps import restated_old_value
from synth.recipe import InjectStage
from synth.seeds import gold_solution_steps
from synth.stages.base import StageReport, StageResult, reject

MAX_TRIES = 12  # candidate edits tried per (source, error type) before giving up on implausible values


@dataclass(frozen=True)
class Source:
    """A correct solution to corrupt: a seed's gold solution or a verified-correct sample."""

    seed: Seed
    source_id: str
    model: str  # "gold" or the sample's model
    steps: list[str]

    @property
    def key(self) -> str:
        return source_key(self.seed.seed_id, self.source_id)


def source_key(seed_id: str, source_id: str) -> str:
    """One name per source solution, the same for a Source and for the injections made from it."""
    return f"{seed_id}-gold" if source_id == "gold" else source_id


def injection_sources(sources: list[str], seeds: list[Seed], solutions: list[Solution]) -> list[Source]:
    out: list[Source] = []
    if "gold" in sources:
        out += [Source(s, "gold", "gold", gold_solution_steps(s)) for s in seeds]
    if "samples" in sources:
        by_id = {s.seed_id: s for s in seeds}
        out += [Source(by_id[s.seed_id], s.solution_id, s.model, list(s.steps)) for s in solutions if s.is_correct]
    return out


def pick_types(types: list[str], limit: Optional[int], rng: random.Random) -> list[str]:
    return list(types) if limit is None or limit >= len(types) else rng.sample(list(types), limit)


class InjectErrors:
    name = "inject"

    def __init__(self, config: InjectStage, build_seed: int):
        self.config, self.build_seed = config, build_seed

    def run(self, seeds: list[Seed], solutions: list[Solution]) -> StageResult[ErrorInjection]:
        t0 = time.perf_counter()
        sources = injection_sources(self.config.sources, seeds, solutions)
        report = StageReport(self.name, unit_in="solutions", unit_out="injections", n_in=len(sources))
        rejects: list = []
        out: list[ErrorInjection] = []
        for src in sources:
            parsed = SourceSolution.parse(src.seed.problem, src.steps)
            answer = extract_answer("\n".join(src.steps))
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
            for error_type in pick_types(self.config.error_types, self.config.max_per_source, rng):
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
        random.Random(f"{self.build_seed}:{src.key}:{error_type}").shuffle(candidates)
        candidates = _kinds_in_turn(candidates)
        final = _answer_value(answer)
        for edit in candidates[:MAX_TRIES]:
            try:
                corrupted = propagate(edit, set(parsed.question_values), final)
            except Implausible:
                continue
            if restated_old_value(src.steps, corrupted) is not None:
                continue  # the old value still stands beside the new one: the next candidate reads better
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


def _answer_value(answer: str):
    from synth.inject.arith import numbers_in

    values = numbers_in(answer)
    return next(iter(values)) if len(values) == 1 else None
