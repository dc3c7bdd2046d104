"""One interface for a batch of chat requests, whatever runs them.

A stage hands the engine its whole batch at once so the backend can batch it (vLLM schedules the
batch continuously); per-request seeds make a build reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Protocol

from schemas import ChatMessage
from synth.recipe import Sampling


@dataclass(frozen=True)
class ChatRequest:
    messages: list[ChatMessage]
    sampling: Sampling
    n: int = 1
    seed: int = 0
    json_schema: Optional[dict] = None


@dataclass(frozen=True)
class Completion:
    """All n samples of one request, in order."""

    texts: list[str]
    finish_reasons: list[str]
    prompt_tokens: int
    completion_tokens: list[int] = field(default_factory=list)


class Backend(Protocol):
    identity: str

    def generate(self, requests: list[ChatRequest], progress: bool = True) -> list[Completion]: ...

    def close(self) -> None: ...
