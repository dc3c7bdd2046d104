"""The engine on the session's real vLLM engine: structured output, bounded retries of unparsable
output, and the response cache that makes builds resumable."""

from __future__ import annotations

import json

import jsonschema

from schemas import ChatMessage
from synth import engine
from synth.backends.base import ChatRequest
from synth.cache import ResponseCache
from synth.recipe import Sampling, VLLMModel

# The same engine settings as the tiny test recipe, so the session's one engine serves both.
SPEC = VLLMModel(max_model_len=1024, sampling=Sampling(temperature=0.7, max_tokens=48))

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "integer"}, "sure": {"type": "boolean"}},
    "required": ["answer", "sure"],
    "additionalProperties": False,
}


def requests(k: int, spec: VLLMModel = SPEC, schema: dict | None = None, n: int = 2) -> list[ChatRequest]:
    out = []
    for i in range(k):
        ask = f"What is {i + 3} + {2 * i + 5}?" + (" Reply with JSON: answer and sure." if schema else "")
        out.append(ChatRequest(messages=[ChatMessage("user", ask)], sampling=spec.sampling, n=n, sampling_seed=100 + i,
                               json_schema=schema))
    return out


def test_structured_output_is_parsed_and_matches_the_schema():
    completions, usage = engine.generate("judge", SPEC, requests(4, schema=ANSWER_SCHEMA), progress=False)
    assert len(completions) == 4
    for c in completions:
        assert len(c.samples) == 2 and c.prompt_tokens > 0
        for s in c.samples:
            assert s.ok, s.error
            assert s.parsed == json.loads(s.text)
            jsonschema.validate(s.parsed, ANSWER_SCHEMA)
            assert s.completion_tokens > 0 and s.finish_reason == "stop"
    assert usage.backend == "vllm" and usage.samples == 8 and usage.failures == 0
    assert usage.prompt_tokens == sum(c.prompt_tokens for c in completions)
    assert usage.completion_tokens == sum(sum(c.completion_tokens) for c in completions)


def test_unparsable_output_is_retried_with_new_seeds_then_failed_with_its_reason():
    """Three tokens cannot hold the object: every try fails, and each sample says why, keeps its raw
    text and how many tries it had; nothing is turned into None silently."""
    spec = SPEC.model_copy(update={"sampling": Sampling(temperature=0.7, max_tokens=3), "max_parse_retries": 2})
    completions, usage = engine.generate("judge", spec, requests(2, spec, schema=ANSWER_SCHEMA), progress=False)
    samples = [s for c in completions for s in c.samples]
    assert len(samples) == 4
    for s in samples:
        assert not s.ok and s.parsed is None
        assert s.error.startswith("invalid JSON (output hit max_tokens)")
        assert s.text and s.attempts == 3
    assert usage.parse_retries == 8  # 4 samples x 2 retries
    assert usage.backend_requests == 2 + 8 and usage.failures == 4


def test_cache_replays_responses_without_calling_the_backend(tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite")
    first, u1 = engine.generate("generate", SPEC, requests(4), cache=cache, progress=False)
    assert (u1.backend_requests, u1.cache_hits, cache.count()) == (4, 0, 4)
    cache.close()

    reopened = ResponseCache(tmp_path / "responses.sqlite")  # persisted, not held in memory
    again, u2 = engine.generate("generate", SPEC, requests(4), cache=reopened, progress=False)
    assert (u2.backend_requests, u2.cache_hits, u2.completion_tokens) == (0, 4, 0)
    assert [c.texts for c in again] == [c.texts for c in first]
    assert [c.completion_tokens for c in again] == [c.completion_tokens for c in first]
    assert all(c.cached for c in again) and not any(c.cached for c in first)

    colder = SPEC.model_copy(update={"sampling": Sampling(temperature=0.3, max_tokens=48)})
    _, u3 = engine.generate("generate", colder, requests(4, colder), cache=reopened, progress=False)
    assert (u3.backend_requests, u3.cache_hits) == (4, 0)  # sampling settings are part of the key
    assert reopened.count() == 8
