"""The generation engine: one batch interface over every backend, with the response cache, schema
checks with bounded retries, and token and time accounting per stage and model.

Backends are kept in a process-wide registry so every stage (and every build in a long-lived
process, such as a test session or a Prefect worker) reuses a loaded engine instead of paying its
start-up again. Only one in-process vLLM engine is resident at a time: loading a second model frees
the first, so models that do not fit together run one after another.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Optional

from synth.backends.base import Backend, ChatRequest, Completion, Sample, derive_seed
from synth.cache import ResponseCache, request_key
from synth.errors import GenerationError
from synth.config import ModelSpec, OpenAIModel, VLLMModel

_BACKENDS: dict[tuple, Backend] = {}


@dataclass
class Usage:
    """Accounting for one stage's calls to one model. Tokens are what the backend processed in this
    build; responses replayed from the cache cost nothing and are counted as cache hits."""

    stage: str
    model: str
    backend: str = ""
    requests: int = 0  # asked for by the stage
    cache_hits: int = 0  # of those, answered from the response cache
    backend_requests: int = 0  # sent to the backend, schema retries included
    parse_retries: int = 0  # new samples asked for because output failed its schema
    failures: int = 0  # samples still failing after the retries: they go to rejects
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    load_seconds: float = 0.0  # engine start-up, when this stage had to start one
    wall_seconds: float = 0.0  # generation, cache lookups and checks


def model_identity(spec: ModelSpec) -> str:
    """The model as the cache and the card name it: name plus revision or weight hash."""
    if isinstance(spec, OpenAIModel):
        return f"{spec.model}@{spec.revision or 'unpinned'}"
    from synth.models import resolve_model

    return resolve_model(spec.model, spec.revision).identity


def _registry_key(spec: ModelSpec) -> tuple:
    """What needs a new backend; sampling settings and seeds travel with each request instead."""
    return (spec.backend, spec.model_dump_json(exclude={"sampling", "max_parse_retries", "commit_every"}))


def get_backend(spec: ModelSpec) -> Backend:
    key = _registry_key(spec)
    if key not in _BACKENDS:
        if isinstance(spec, VLLMModel):
            for other in [k for k in _BACKENDS if k[0] == "vllm"]:
                _BACKENDS.pop(other).close()  # free the GPU (or RAM) before the next model loads
            from synth.backends.vllm_backend import VLLMBackend
            from synth.models import resolve_model

            _BACKENDS[key] = VLLMBackend(resolve_model(spec.model, spec.revision), spec)
        else:
            from synth.backends.openai_backend import OpenAIBackend

            _BACKENDS[key] = OpenAIBackend(spec)
    return _BACKENDS[key]


def retry_seed(seed: int, sample_index: int, attempt: int) -> int:
    """A new seed for a retried sample, fixed by the original seed so a rebuild retries identically."""
    return derive_seed(f"retry:{seed}:{sample_index}:{attempt}")


def check_schema(sample: Sample, schema: dict) -> Sample:
    """Parses a sample as JSON and checks it against the request's schema; says why when it fails."""
    import jsonschema

    try:
        obj = json.loads(sample.text)
    except json.JSONDecodeError as e:
        cut = " (output hit max_tokens)" if sample.finish_reason == "length" else ""
        return replace(sample, parsed=None, error=f"invalid JSON{cut}: {e.msg} at char {e.pos}")
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(obj))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return replace(sample, parsed=None, error=f"does not match the schema at {where}: {error.message}")
    return replace(sample, parsed=obj, error=None)


class _Fetcher:
    """Answers requests from the cache or the backend, committing each result as the backend reports it."""

    def __init__(self, spec: ModelSpec, cache: Optional[ResponseCache], usage: Usage, progress: bool):
        self.spec, self.cache, self.usage, self.progress = spec, cache, usage, progress
        self.identity = usage.model

    def fetch(self, requests: list[ChatRequest]) -> list[Completion]:
        keys = [request_key(self.spec.backend, self.identity, r) for r in requests]
        results: list[Optional[Completion]] = [None] * len(requests)
        hits = self.cache.get_many(list(dict.fromkeys(keys))) if self.cache else {}
        positions: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            if k in hits:
                results[i] = hits[k]
                self.usage.cache_hits += 1
            else:
                positions.setdefault(k, []).append(i)  # identical requests are sent once
        if positions:
            send_keys = list(positions)
            send = [requests[positions[k][0]] for k in send_keys]
            t_load = time.perf_counter()
            backend = get_backend(self.spec)
            self.usage.load_seconds += time.perf_counter() - t_load

            def on_done(done: list[int], completions: list[Completion]) -> None:
                if self.cache:
                    self.cache.put_many([(send_keys[p], self.identity, c) for p, c in zip(done, completions)])
                for p, c in zip(done, completions):
                    for i in positions[send_keys[p]]:
                        results[i] = c
                    self.usage.backend_requests += 1
                    self.usage.prompt_tokens += c.prompt_tokens
                    self.usage.completion_tokens += sum(c.completion_tokens)

            # vLLM: a call's results are committed together, so calls are the resume granularity.
            step = getattr(self.spec, "commit_every", None) or len(send)
            try:
                for start in range(0, len(send), step):
                    chunk = send[start:start + step]
                    backend.generate(chunk, lambda done, cs, s=start: on_done([s + d for d in done], cs),
                                     progress=self.progress)
            except GenerationError as e:
                where = (f"Finished responses are in the response cache {self.cache.path}: run the same build "
                         f"again to resume." if self.cache else "No response cache was in use: nothing was kept.")
                raise type(e)(f"stage {self.usage.stage}: {e} {where}") from None  # RequestRefused stays one
        missing = [i for i, r in enumerate(results) if r is None]
        if missing:  # a backend broke its contract: say so rather than return holes
            raise RuntimeError(f"backend {self.spec.backend} returned no result for {len(missing)} requests")
        return results  # type: ignore[return-value]


def generate(stage: str, spec: ModelSpec, requests: list[ChatRequest], cache: Optional[ResponseCache] = None,
             progress: bool = True) -> tuple[list[Completion], Usage]:
    """Runs a stage's whole batch for one model and accounts for it.

    Requests with a JSON schema get each sample parsed and checked; a failing sample is asked for
    again with a new seed up to `max_parse_retries` times, then returned with its `error` set (the
    stage puts it in rejects with the raw text). Reproducibility comes from each request's seed (and
    the cache), so it does not depend on how requests are batched.
    """
    usage = Usage(stage=stage, model=model_identity(spec), backend=spec.backend, requests=len(requests))
    fetcher = _Fetcher(spec, cache, usage, progress)
    t0 = time.perf_counter()
    completions = fetcher.fetch(requests)
    checked: list[list[Sample]] = [
        [check_schema(s, r.json_schema) if r.json_schema is not None else s for s in c.samples]
        for r, c in zip(requests, completions)
    ]
    for attempt in range(1, spec.max_parse_retries + 1):
        todo = [(i, j) for i, r in enumerate(requests) if r.json_schema is not None
                for j, s in enumerate(checked[i]) if not s.ok]
        if not todo:
            break
        usage.parse_retries += len(todo)
        retries = [replace(requests[i], n=1, sampling_seed=retry_seed(requests[i].sampling_seed, j, attempt)) for i, j in todo]
        for (i, j), c in zip(todo, fetcher.fetch(retries)):
            checked[i][j] = replace(check_schema(c.samples[0], requests[i].json_schema), attempts=attempt + 1)
    out = []
    for c, samples in zip(completions, checked):
        out.append(replace(c, samples=samples))
        usage.samples += len(samples)
        usage.failures += sum(not s.ok for s in samples)
    usage.wall_seconds = time.perf_counter() - t0 - usage.load_seconds
    return out, usage


def close_all() -> None:
    """Shuts every loaded engine down (end of a process or test session), before interpreter exit."""
    for key in list(_BACKENDS):
        _BACKENDS.pop(key).close()

