"""Ground-truth step labels, whatever made them, as one record type (`LabelledSolution`).

Injected errors give exact labels (the first wrong step is known); Math-Shepherd rollouts give
estimated ones. Exports and the critique stage read only `LabelledSolution`, so a new way of
labelling steps needs one function here, not changes downstream.
"""

from __future__ import annotations

from collections import Counter

from schemas import ErrorInjection, LabelledSolution, MCStepLabels
from synth import exports, suites
from synth.config import FileSeeds, HubSeeds
from synth.inject.steps import wrong_calc_steps
from synth.stages.base import Release, StageReport


def _source_key(inj: ErrorInjection) -> str:
    return f"{inj.seed_id}-gold" if inj.source_id == "gold" else inj.source_id


def from_injections(injections: list[ErrorInjection], include_originals: bool) -> list[LabelledSolution]:
    """Each corrupted solution (every step from the first wrong one on is bad, as Math-Shepherd labels a
    solution after its first error) and, when asked, each corrupted source's original once: all good,
    unless it writes a computation that does not hold (a right answer reached through `7 / 12 =
    0.875`): then that step is its first wrong one, by the same rule, so no step released as
    correct has a false computation."""
    out: list[LabelledSolution] = []
    originals: dict[str, ErrorInjection] = {}
    for inj in injections:
        k, n = inj.first_error_step, len(inj.corrupted_steps)
        out.append(LabelledSolution(
            label_id=inj.injection_id, seed_id=inj.seed_id, problem=inj.problem, steps=list(inj.corrupted_steps),
            first_error_step=k, final_answer_correct=False, step_labels=[i < k for i in range(n)],
            label_source="injected", generator=inj.source_model, gold_answer=inj.gold_answer,
            error_type=inj.error_type, error_detail=inj.detail))
        originals.setdefault(_source_key(inj), inj)
    if include_originals:
        for key, inj in originals.items():
            n = len(inj.original_steps)
            k = next(iter(wrong_calc_steps(list(inj.original_steps))), -1)
            out.append(LabelledSolution(
                label_id=f"{key}-original", seed_id=inj.seed_id, problem=inj.problem,
                steps=list(inj.original_steps), first_error_step=k, final_answer_correct=True,
                step_labels=[k < 0 or i < k for i in range(n)], label_source="original", generator=inj.source_model,
                gold_answer=inj.gold_answer, error_detail="a written computation does not hold" if k >= 0 else ""))
    return out


def from_mc(records: list[MCStepLabels]) -> list[LabelledSolution]:
    return [LabelledSolution(
        label_id=r.solution_id, seed_id=r.seed_id, problem=r.problem, steps=list(r.steps),
        first_error_step=r.first_error_step, final_answer_correct=r.final_answer_correct,
        step_labels=list(r.hard_labels), label_source="monte_carlo", generator=r.model, gold_answer=r.gold_answer)
        for r in records]


def labelled_report(stage: str, injections: list[ErrorInjection], labelled: list[LabelledSolution]) -> StageReport:
    """The funnel row between injections and labelled solutions: each kept injection, plus (with
    include_originals) one original per corrupted source, so the filter's input count is explained."""
    kinds = Counter(s.label_source for s in labelled)
    return StageReport(f"{stage}_labels", unit_in="injections", unit_out="labelled", n_in=len(injections),
                       n_out=len(labelled), labels=kinds)


def seeds_task_name(recipe) -> str:
    """Math-Shepherd's `task` column: the seeds' kind of problem (never a file name, which would make
    the same data under another name a different dataset)."""
    if isinstance(recipe.seeds, (FileSeeds, HubSeeds)):
        return {"gsm8k": "GSM8K", "math": "MATH"}.get(recipe.seeds.format, recipe.seeds.format)
    return "procedural"


# The process-supervision formats made from labelled solutions, whichever stages labelled them
# (inject, inject_llm, mc_label each declare these same releases, so they are written once).
LABELLED_RELEASES = (
    Release("processbench", lambda ctx, t: [exports.to_processbench(s) for s in t.labelled],
            derive=suites.processbench, citations=("processbench",), filtered="labelled"),
    Release("math_shepherd", lambda ctx, t: [exports.to_math_shepherd(s, seeds_task_name(ctx.recipe))
                                             for s in t.labelled],
            derive=suites.math_shepherd, citations=("math-shepherd",)),
    Release("prm_stepwise", lambda ctx, t: [exports.to_prm_stepwise(s) for s in t.labelled], derive=suites.prm_stepwise),
)
