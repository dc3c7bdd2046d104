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
