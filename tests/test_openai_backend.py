"""The `openai` backend against a real vLLM OpenAI-compatible server started on loopback, and
through a proxy that injects the faults hosted APIs produce (429, 503, stalls)."""

from __future__ import annotations

import json
import sqlite3

import jsonschema
import pytest

from synth import engine
from synth.cache import ResponseCache
from synth.errors import GenerationError, RequestRefused
from synth.recipe import OpenAIModel, Sampling
from tests.servers import SERVED_NAME, FlakyProxy
from tests.test_engine import ANSWER_SCHEMA, requests


def spec(base_url: str, **kw) -> OpenAIModel:
    fields = dict(backend="openai", base_url=base_url, model=SERVED_NAME, max_in_flight=1, backoff_s=0.05,
                  sampling=Sampling(temperature=0.8, max_tokens=12))
    fields.update(kw)
    return OpenAIModel(**fields)


def test_structured_output_through_the_server(vllm_server):
    before = vllm_server.served_requests()
    s = spec(vllm_server.base_url, max_in_flight=8, sampling=Sampling(temperature=0.7, max_tokens=48))
    completions, usage = engine.generate("judge", s, requests(4, s, schema=ANSWER_SCHEMA), progress=False)
    for c in completions:
        assert len(c.samples) == 2
        for sample in c.samples:
            assert sample.ok, sample.error
            assert sample.parsed == json.loads(sample.text)
            jsonschema.validate(sample.parsed, ANSWER_SCHEMA)
            assert sample.completion_tokens > 0
    assert usage.backend == "openai" and usage.model == f"{SERVED_NAME}@unpinned"
    assert usage.backend_requests == 4 and usage.failures == 0 and usage.prompt_tokens > 0
    # Each of the n samples is its own API request: 4 requests x 2 samples reached the engine.
    assert vllm_server.served_requests() - before == 8


def test_429_503_and_stalls_are_retried_and_change_nothing(vllm_server):
    # Greedy, answered well inside the client's 8 s timeout. On a loaded machine an answer that
    # outlasts the timeout is asked again while the first is still running, and a server batches the
    # two differently: a sampled token can then differ in its low bits ('3 + 5 = 8' against '3 + 5 =
    # 8 in total.', seen in CI); the argmax does not.
    short = Sampling(temperature=0.0, max_tokens=8)
    direct, _ = engine.generate("generate", spec(vllm_server.base_url, sampling=short), requests(3, n=1),
                                progress=False)
    # Request numbers as the proxy sees them: 1 is refused with 429, its retry (2) with 503, the next
    # try (3) stalls past the client's timeout and is never forwarded, then 4 goes through.
    with FlakyProxy(vllm_server.base_url, faults={1: "429", 2: "503", 3: "stall", 6: "429"}, stall_s=12.0) as proxy:
        # 8 s: on a loaded 2-core machine a real 8-token answer once took over 4 s and was retried.
        flaky = spec(proxy.base_url, timeout_s=8.0, max_retries=4, sampling=short)
        via_proxy, usage = engine.generate("generate", flaky, requests(3, n=1), progress=False)
    # Every fault was met in order and retried; on a loaded machine an answer can also outlast the
    # client's timeout and be asked again, which adds an "ok" but changes nothing below.
    assert [x for x in proxy.seen if x != "ok"] == ["429", "503", "stall", "429"]
    assert proxy.seen[:4] == ["429", "503", "stall", "ok"] and proxy.seen.count("ok") >= 3
    assert [c.texts for c in via_proxy] == [c.texts for c in direct]
    assert usage.backend_requests == 3 and usage.failures == 0


def test_a_refused_request_stops_the_batch_with_what_to_check(vllm_server):
    wrong = spec(vllm_server.base_url, model="no-such-model")
    with pytest.raises(RequestRefused) as err:  # a GenerationError the flows do not retry
        engine.generate("generate", wrong, requests(3, n=1), progress=False)
    message = str(err.value)
    assert "'no-such-model'" in message and "HTTP 404" in message and "/models" in message


def test_failed_requests_are_reported_and_finished_ones_kept_for_the_rerun(vllm_server, tmp_path):
    cache = ResponseCache(tmp_path / "responses.sqlite")
    # The first request goes through; every try of the other two gets a 503.
    with FlakyProxy(vllm_server.base_url, faults={n: "503" for n in range(2, 20)}) as proxy:
        flaky = spec(proxy.base_url, max_retries=1)
        with pytest.raises(GenerationError) as err:
            engine.generate("generate", flaky, requests(3, n=1), cache=cache, progress=False)
    assert "2 of 3 requests" in str(err.value) and "1 finished" in str(err.value)
    assert f"in the response cache {cache.path}: run the same build again to resume" in str(err.value)
    assert "InternalServerError" in str(err.value)
    assert cache.count() == 1
    _, usage = engine.generate("generate", spec(vllm_server.base_url), requests(3, n=1), cache=cache,
                               progress=False)
    assert (usage.cache_hits, usage.backend_requests) == (1, 2)


def test_api_key_comes_from_the_named_environment_variable_only(vllm_server, monkeypatch, tmp_path):
    from synth.errors import ModelError

    monkeypatch.delenv("SYNTH_TEST_KEY", raising=False)
    keyed = spec(vllm_server.base_url, api_key_env="SYNTH_TEST_KEY")
    with pytest.raises(ModelError, match="api_key_env names SYNTH_TEST_KEY, which is not set"):
        engine.generate("generate", keyed, requests(1, n=1), progress=False)
    monkeypatch.setenv("SYNTH_TEST_KEY", "sk-test-secret-value")
    cache = ResponseCache(tmp_path / "responses.sqlite")
    engine.generate("generate", keyed, requests(1, n=1), cache=cache, progress=False)
    cache.close()
    with sqlite3.connect(tmp_path / "responses.sqlite") as con:
        dump = "\n".join(con.iterdump())
    assert "sk-test-secret-value" not in dump and "responses" in dump


def test_continuing_an_assistant_turn_renders_the_same_prompt_as_in_process(vllm_server):
    """Monte Carlo rollouts continue a solution prefix: the server must continue the last assistant
    message (not close it and answer anew), exactly as the in-process engine does."""
    from schemas import ChatMessage
    from synth.backends.base import ChatRequest
    from synth.recipe import VLLMModel

    short = Sampling(temperature=0.0, max_tokens=4)
    messages = [ChatMessage("user", "What is 2 + 3?"), ChatMessage("assistant", "2 + 3 =")]
    asked = [ChatRequest(messages=messages, sampling=short, sampling_seed=1, continue_final=flag) for flag in (True, False)]
    served, _ = engine.generate("mc_label", spec(vllm_server.base_url, sampling=short), asked, progress=False)
    local, _ = engine.generate("mc_label", VLLMModel(max_model_len=1024, sampling=short), asked[:1], progress=False)
    continued, answered = served
    assert continued.prompt_tokens == local[0].prompt_tokens
    assert continued.prompt_tokens < answered.prompt_tokens  # no end-of-turn and no new assistant header
