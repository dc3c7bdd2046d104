"""The generation engine: one backend per model per process, with token and time accounting.

Backends are kept in a process-wide registry so every stage (and every build in a long-lived
process, such as a test session or a Prefect worker) reuses a loaded engine instead of paying its
start-up again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from synth.backends.base import Backend, ChatRequest, Completion
from synth.models import resolve_model
from synth.recipe import ModelSpec

_BACKENDS: dict[tuple, Backend] = {}


@dataclass
class Usage:
    """Accounting for one stage's calls to one model."""

    stage: str
    model: str
    requests: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.wall_seconds if self.wall_seconds else 0.0


def _key(spec: ModelSpec) -> tuple:
    """What needs a new engine; sampling settings and seeds travel with each request instead."""
    return (spec.backend, spec.model, spec.revision, spec.max_model_len, spec.dtype, spec.enforce_eager,
            spec.tensor_parallel_size, spec.max_num_seqs, spec.block_size, spec.kv_cache_gib, spec.gpu_memory_utilization)


def get_backend(spec: ModelSpec) -> Backend:
    key = _key(spec)
    if key not in _BACKENDS:
        # Models that do not fit together load one after another: free the others first.
        for other in list(_BACKENDS):
            _BACKENDS.pop(other).close()
        resolved = resolve_model(spec.model, spec.revision)
        from synth.backends.vllm_backend import VLLMBackend

        _BACKENDS[key] = VLLMBackend(resolved, spec)
    return _BACKENDS[key]


def generate(stage: str, spec: ModelSpec, requests: list[ChatRequest],
             progress: bool = True) -> tuple[list[Completion], Usage]:
    """Sends a whole stage's batch in one call and accounts for it. Reproducibility comes from each
    request's own seed, so it does not depend on how requests are batched."""
    backend = get_backend(spec)
    usage = Usage(stage=stage, model=backend.identity)
    t0 = time.perf_counter()
    completions = backend.generate(requests, progress=progress)
    usage.wall_seconds = time.perf_counter() - t0
    usage.requests = len(requests)
    for c in completions:
        usage.samples += len(c.texts)
        usage.prompt_tokens += c.prompt_tokens
        usage.completion_tokens += sum(c.completion_tokens)
    return completions, usage


def close_all() -> None:
    """Shuts every loaded engine down (end of a process or test session), before interpreter exit."""
    for key in list(_BACKENDS):
        _BACKENDS.pop(key).close()
