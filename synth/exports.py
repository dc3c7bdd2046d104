"""The formats trainers load, made from the stored records (never from anything else).

- ProcessBench (Zheng et al. 2024): `problem`, `steps`, `label` = earliest wrong step or -1,
  `final_answer_correct`; the format process reward models are evaluated in.
- Math-Shepherd (Wang et al. 2024): `input` with a "ки" tag after each step, `label` with "+"/"-" there.
- TRL stepwise supervision (`PRMTrainer`): `prompt`, `completions` (steps), `labels` (one bool a step).
- Critique fine-tuning (CFT, Wang et al. 2025): `instruction`, `input`, `output`.
"""

from __future__ import annotations

from schemas import (
    Critique,
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
                              final_answer_correct=s.final_answer_correct, label=s.first_error_step)


def to_math_shepherd(s: LabelledSolution, task: str) -> MathShepherdRecord:
    def body(tags: list[str]) -> str:
        return "\n".join(f"Step {i + 1}: {step} {tag}" for i, (step, tag) in enumerate(zip(s.steps, tags)))

    return MathShepherdRecord(input=f"{s.problem} {body([STEP_TAG] * len(s.steps))}",
                              label=f"{s.problem} {body(['+' if ok else '-' for ok in s.step_labels])}", task=task)


def to_prm_stepwise(s: LabelledSolution) -> PRMStepwiseRecord:
    return PRMStepwiseRecord(prompt=s.problem, completions=list(s.steps), labels=list(s.step_labels))


def critique_input(problem: str, steps: list[str]) -> str:
    """The problem and the numbered steps, as the critic and the SFT input show them."""
    return render("critique_input", problem=problem, steps=steps)


def to_critique_sft(c: Critique) -> CritiqueSFTRecord:
    return CritiqueSFTRecord(instruction=render("critique_sft_instruction"),
                             input=critique_input(c.problem, c.steps), output=c.critique)
