"""Record types. Dataclasses rather than dicts so a stage cannot silently drop or misspell a field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

AnswerStatus = Literal["correct", "incorrect", "no_answer"]


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Seed:
    """A problem with its gold solution: the ground truth every label is checked against."""

    seed_id: str
    source: str  # where it came from: "procedural:<seed>" or a file path with its line
    problem: str
    gold_steps: list[str]
    gold_answer: str


@dataclass(frozen=True)
class Solution:
    """One sampled solution and its verification label."""

    solution_id: str
    seed_id: str
    problem: str
    model: str
    sample_index: int
    text: str
    steps: list[str]
    extracted_answer: Optional[str]
    gold_answer: str
    answer_status: AnswerStatus
    is_correct: bool
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class PreferencePair:
    """A verified pair: chosen reaches the gold answer, rejected does not (same prompt)."""

    pair_id: str
    seed_id: str
    prompt: list[ChatMessage]
    chosen: list[ChatMessage]
    rejected: list[ChatMessage]
    chosen_solution_id: str
    rejected_solution_id: str
    chosen_answer: str
    rejected_answer: Optional[str]
    gold_answer: str
    chosen_length: int
    rejected_length: int


@dataclass(frozen=True)
class Reject:
    """A record a stage dropped, kept with its reason so nothing is lost silently."""

    stage: str
    record_id: str
    reason: str
    detail: str = ""
    payload: str = field(default="")  # JSON of the dropped record where there is one


@dataclass(frozen=True)
class Generation:
    """A raw sample from the generator, before its answer is checked (not stored as a table)."""

    generation_id: str
    seed_id: str
    model: str
    sample_index: int
    messages: list[ChatMessage]
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


# ---- error injection, step labels, critiques ------------------------------------------------------

@dataclass(frozen=True)
class ErrorInjection:
    """A correct solution corrupted by one error of a known type. `first_error_step` is 0-based in
    `corrupted_steps` and was found by comparing the two step lists, not taken from the injector."""

    injection_id: str
    seed_id: str
    source_id: str  # "gold" or the solution_id of a verified-correct sample
    source_model: str  # "gold", or the model that wrote the original solution
    method: str  # "rule", or "llm:<teacher model>"
    error_type: str
    problem: str
    original_steps: list[str]
    corrupted_steps: list[str]
    first_error_step: int
    original_answer: str
    corrupted_answer: str
    gold_answer: str
    detail: str  # what the operator changed, or the teacher's own explanation
    claimed_error_step: Optional[int] = None  # the teacher's claim (never used as the label)


@dataclass(frozen=True)
class LabelledSolution:
    """A solution with ground-truth step labels, whatever made them (injection, Monte Carlo rollouts,
    a gold solution). Exports and the critique stage read these; not stored as a table itself."""

    label_id: str
    seed_id: str
    problem: str
    steps: list[str]
    first_error_step: int  # -1: no wrong step
    final_answer_correct: bool
    step_labels: list[bool]  # per step: True for a good step (Math-Shepherd's "+")
    label_source: str  # injected | original | monte_carlo
    generator: str  # who wrote the steps: "gold" or a model identity
    gold_answer: str
    error_type: Optional[str] = None
    error_detail: str = ""


@dataclass(frozen=True)
class MCStepLabels:
    """Math-Shepherd's automatic process labels: from each step's prefix, `rollouts` completions are
    sampled and checked against the gold answer. Soft label: the share that reach it; hard label:
    whether any does. The last step is labelled by the solution's own final answer."""

    solution_id: str
    seed_id: str
    problem: str
    model: str  # the model that wrote the solution
    completer: str  # the model that wrote the rollouts
    steps: list[str]
    rollouts: int
    correct_rollouts: list[int]
    soft_labels: list[float]
    hard_labels: list[bool]
    first_error_step: int  # first step whose hard label is False; -1 when none
    final_answer_correct: bool
    gold_answer: str


@dataclass(frozen=True)
class StepVerdict:
    step: int  # 0-based
    correct: bool
    explanation: str


@dataclass(frozen=True)
class Critique:
    """A step-wise critique whose first wrong step and final verdict agree with the ground truth."""

    critique_id: str
    target_id: str  # the LabelledSolution it judges
    seed_id: str
    problem: str
    steps: list[str]
    label_source: str
    error_type: Optional[str]
    true_first_error_step: int
    true_final_answer_correct: bool
    critic_model: str
    sample_index: int
    hint_given: bool  # whether the critic was told the known error (AutoMathCritique)
    step_verdicts: list[StepVerdict]
    first_error_step: int  # from the verdicts: first step judged incorrect, -1 when none
    final_answer_correct: bool
    critique: str  # the verdicts rendered as text, the training target


# ---- export formats (what trainers load) ----------------------------------------------------------

@dataclass(frozen=True)
class ProcessBenchRecord:
    """ProcessBench (Zheng et al. 2024): `label` is the earliest wrong step, -1 when there is none."""

    id: str
    generator: str
    problem: str
    steps: list[str]
    final_answer_correct: bool
    label: int


@dataclass(frozen=True)
class MathShepherdRecord:
    """Math-Shepherd's released format: `input` has a "ки" tag after each step, `label` has "+" or "-"
    in its place."""

    input: str
    label: str
    task: str


@dataclass(frozen=True)
class PRMStepwiseRecord:
    """TRL's stepwise-supervision format (PRMTrainer): one boolean label per completion step."""

    prompt: str
    completions: list[str]
    labels: list[bool]


@dataclass(frozen=True)
class CritiqueSFTRecord:
    """Critique Fine-Tuning (Wang et al. 2025): instruction, input (problem and solution), output (critique)."""

    instruction: str
    input: str
    output: str
