"""The formats trainers load, made from the stored records (never from anything else).

- ProcessBench (Zheng et al. 2024): `problem`, `steps`, `label` = earliest wrong step or -1,
  `final_answer_correct`; the format process reward models are evaluated in.
- Math-Shepherd (Wang et al. 2024): `input` with a "ки" tag after each step, `label` with "+"/"-" there.
- TRL stepwise supervision (`PRMTrainer`): `prompt`, `completions` (steps), `labels` (one bool a step).
- Critique fine-tuning (CFT, Wang et al. 2025): `instruction`, `input`, `output`.
- TRL preference (DPOTrainer, RewardTrainer): `prompt`, `chosen`, `rejected` as chat messages.
- UltraFeedback (Cui et al. 2023): one record per instruction with every completion and its
  per-aspect `Rating` and `Rationale`, and the completion's `fine-grained_score`.
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean

from schemas import (
    ASPECTS,
    Critique,
    DPORecord,
    PreferencePair,
    RatedCompletion,
    SeedProblem,
    UFAnnotation,
    UFAnnotations,
    UFCompletion,
    UltraFeedbackRecord,
    CritiqueSFTRecord,
    LabelledSolution,
    MathShepherdRecord,
    PRMStepwiseRecord,
    ProcessBenchRecord,
)
from synth.prompts import render

STEP_TAG = "ки"  # Math-Shepherd's step tag: one token in its tokenizer, never in the text itself


def to_processbench(s: LabelledSolution) -> ProcessBenchRecord:
    return ProcessBenchRecord(id=s.label_id, generator=s.generator, problem=s.problem, steps=list(s.steps),
                              final_answer_correct=s.final_answer_correct, label=s.first_error_step,
                              seed_id=s.seed_id)


def to_math_shepherd(s: LabelledSolution, task: str) -> MathShepherdRecord:
    def body(tags: list[str]) -> str:
        return "\n".join(f"Step {i + 1}: {step} {tag}" for i, (step, tag) in enumerate(zip(s.steps, tags)))

    return MathShepherdRecord(input=f"{s.problem} {body([STEP_TAG] * len(s.steps))}",
                              label=f"{s.problem} {body(['+' if ok else '-' for ok in s.step_labels])}", task=task,
                              seed_id=s.seed_id)


def to_prm_stepwise(s: LabelledSolution) -> PRMStepwiseRecord:
    return PRMStepwiseRecord(prompt=s.problem, completions=list(s.steps), labels=list(s.step_labels),
                             seed_id=s.seed_id)


def critique_input(problem: str, steps: list[str]) -> str:
    """The problem and the numbered steps, as the critic and the SFT input show them."""
    return render("critique_input", problem=problem, steps=steps)


def to_critique_sft(c: Critique) -> CritiqueSFTRecord:
    return CritiqueSFTRecord(instruction=render("critique_sft_instruction"),
                             input=critique_input(c.problem, c.steps), output=c.critique, seed_id=c.seed_id)


def to_dpo(p: PreferencePair) -> DPORecord:
    return DPORecord(prompt=list(p.prompt), chosen=list(p.chosen), rejected=list(p.rejected), seed_id=p.seed_id)


def _annotation(c: RatedCompletion, aspect: str) -> UFAnnotation | None:
    """One judge: its rating and rationale. Several: the mean rating, and each judge's rationale by name."""
    got = [r for r in c.ratings if r.aspect == aspect]
    if not got:
        return None
    if len(got) == 1:
        return UFAnnotation(Rating=str(got[0].rating), Rationale=got[0].rationale)
    return UFAnnotation(Rating=f"{mean(r.rating for r in got):g}",
                        Rationale="\n".join(f"[{r.judge}] {r.rationale}" for r in got))


def to_ultrafeedback(seeds: list[SeedProblem], rated: list[RatedCompletion]) -> list[UltraFeedbackRecord]:
    """Instructions with at least one rated completion, in seed order."""
    groups: dict[str, list[RatedCompletion]] = defaultdict(list)
    for c in rated:
        groups[c.seed_id].append(c)
    out = []
    for seed in seeds:
        group = groups.get(seed.seed_id)
        if not group:
            continue
        completions = [UFCompletion(model=c.model, response=c.text, fine_grained_score=c.score,
                                    annotations=UFAnnotations(**{a: _annotation(c, a) for a in ASPECTS}))
                       for c in group]
        out.append(UltraFeedbackRecord(source=seed.source, instruction=seed.problem,
                                       models=[c.model for c in group], completions=completions,
                                       correct_answers=[seed.gold_answer] if seed.gold_answer else [],
                                       incorrect_answers=[], seed_id=seed.seed_id))
    return out
