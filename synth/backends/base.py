"""One interface for a batch of chat requests, whatever runs them.

A stage hands the engine its whole batch at once so the backend can batch it (vLLM schedules the
batch continuously; the OpenAI backend keeps a bounded number of requests in flight). Per-request
seeds make a build reproducible. A backend reports results as soon as they are durable-worthy
(`on_done`), so the engine can put them in the response cache before the batch ends: a killed build
loses only what was still running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from schemas import ChatMessage
from synth.config import Sampling


def derive_seed(text: str) -> int:
    """A 31-bit seed fixed by `text` alone (for example "<build seed>:<problem id>"), so the seed of a
    request, a retry or a sample does not depend on batch order or on the process."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF


@dataclass(frozen=True)
class ChatRequest:
    messages: list[ChatMessage]
    sampling: Sampling
    n: int = 1
    sampling_seed: int = 0  # the request's own seed (the recipe's random_seed and the request decide it)
    json_schema: Optional[dict] = None
    # The last message is an unfinished assistant turn to continue (Monte Carlo rollouts from a
    # solution prefix), not a turn to answer.
    continue_final: bool = False


@dataclass(frozen=True)
class Sample:
    """One sample of a request. `parsed` holds the JSON object when the request had a schema and the
    text matched it; `error` says why it did not. A sample is never quietly left unparsed."""

    text: str
    finish_reason: str
    completion_tokens: int
    parsed: Any = None
    error: Optional[str] = None
    attempts: int = 1  # 1 + the retries it took (schema requests only)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Completion:
    """All n samples of one request, in order, and what the prompt cost."""

    samples: list[Sample]
    prompt_tokens: int
    cached: bool = False  # served from the response cache, not the backend

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.samples]

    @property
    def completion_tokens(self) -> list[int]:
        return [s.completion_tokens for s in self.samples]

OnDone = Callable[[list[int], list[Completion]], None]
"""Called by a backend with the positions (in its request list) of requests that finished, and their results."""


class Backend(Protocol):
    identity: str  # model name and revision or weight hash: part of the response cache key

    def generate(self, requests: list[ChatRequest], on_done: OnDone, progress: bool = True) -> None:
        """Runs every request and reports each through `on_done` exactly once. Raises
        `synth.errors.GenerationError` after the batch if some requests could not be completed; the
        ones that could have been reported by then."""
        ...

    def close(self) -> None: ...
