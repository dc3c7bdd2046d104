"""Any OpenAI-compatible server through `openai.AsyncOpenAI`: vLLM's own server, a hosted API.

A bounded number of requests is in flight at once; 429s, 5xx answers, timeouts and lost
connections are retried with exponential backoff and jitter (honouring Retry-After); anything else
(a wrong model name, a bad key) stops the batch at once, since every other request would fail the
same way. Each of a request's n samples is its own API request with its own seed: many servers do
not support `n`, and one sample per request gives exact token counts per sample.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import random
from typing import Optional

from synth.backends.base import ChatRequest, Completion, OnDone, Sample, derive_seed
from synth.errors import GenerationError, ModelError, RequestRefused
from synth.config import OpenAIModel


def sample_seed(seed: int, index: int) -> int:
    """Sample 0 keeps the request's seed; later samples get seeds derived from it."""
    return seed if index == 0 else derive_seed(f"sample:{seed}:{index}")


class _Fatal(Exception):
    """An error retrying cannot fix."""


class OpenAIBackend:
    def __init__(self, spec: OpenAIModel):
        self.spec = spec
        self.identity = f"{spec.model}@{spec.revision or 'unpinned'}"
        self._api_key = "EMPTY"  # what vLLM's server accepts when started without --api-key
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise ModelError(
                    f"model {spec.model!r} at {spec.base_url}: api_key_env names {spec.api_key_env}, which is not "
                    f"set; export {spec.api_key_env}=... and run again")
            self._api_key = key  # kept in memory only: never logged, cached or written to the catalog

    def generate(self, requests: list[ChatRequest], on_done: OnDone, progress: bool = True) -> None:
        if not requests:
            return
        coro_args = (requests, on_done, progress)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self._run(*coro_args))
            return
        # Called from inside a running event loop (a notebook, an async flow): use a loop of our own.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._run(*coro_args)).result()

    async def _run(self, requests: list[ChatRequest], on_done: OnDone, progress: bool) -> None:
        import openai
        from rich.progress import Progress

        from synth.console import console

        spec = self.spec
        client = openai.AsyncOpenAI(base_url=spec.base_url, api_key=self._api_key, max_retries=0,
                                    timeout=spec.timeout_s)
        slots = asyncio.Semaphore(spec.max_in_flight)
        failed: list[tuple[int, str]] = []
        with Progress(console=console, disable=not progress, transient=True) as bar:
            task = bar.add_task(f"{spec.model} @ {spec.base_url}", total=sum(r.n for r in requests))

            async def sample(r: ChatRequest, index: int) -> tuple[Sample, int]:
                async with slots:
                    s = await self._call(client, r, sample_seed(r.sampling_seed, index))
                bar.advance(task)
                return s

            async def one(position: int, r: ChatRequest) -> None:
                try:
                    got = await asyncio.gather(*(sample(r, j) for j in range(r.n)))
                except _Fatal:
                    raise
                except Exception as e:  # retries exhausted: note it, keep the others going
                    failed.append((position, f"{type(e).__name__}: {e}"))
                    return
                on_done([position], [Completion(samples=[s for s, _ in got], prompt_tokens=got[0][1])])

            try:
                await asyncio.gather(*(one(p, r) for p, r in enumerate(requests)))
            except _Fatal as e:
                raise RequestRefused(
                    f"model {spec.model!r} at {spec.base_url} refused a request: {e}. Check the model name "
                    f"(GET {spec.base_url.rstrip('/')}/models lists what the server serves), the key and the "
                    f"request settings.") from None
            finally:
                await client.close()
        if failed:
            raise GenerationError(
                f"{len(failed)} of {len(requests)} requests to model {spec.model!r} at {spec.base_url} failed after "
                f"{spec.max_retries} retries (first: request {failed[0][0]}: {failed[0][1]}); "
                f"{len(requests) - len(failed)} finished."
                + (f" No request got through: check that the server at {spec.base_url} is up and reachable."
                   if len(failed) == len(requests) else ""))

    async def _call(self, client, r: ChatRequest, seed: int) -> tuple[Sample, int]:
        import openai

        spec = self.spec
        kwargs = dict(
            model=spec.model,
            messages=[{"role": m.role, "content": m.content} for m in r.messages],
            temperature=r.sampling.temperature,
            top_p=r.sampling.top_p,
            max_tokens=r.sampling.max_tokens,
            seed=seed,
            n=1,
        )
        if r.sampling.stop:
            kwargs["stop"] = list(r.sampling.stop)
        if r.continue_final:
            # vLLM's server (and others built on it) continue the last assistant message this way; an
            # API without it answers the turn anew, so rollouts there are not prefix continuations.
            kwargs["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        if r.json_schema is not None:
            kwargs["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "output", "schema": r.json_schema, "strict": True}}
        for attempt in range(spec.max_retries + 1):
            try:
                resp = await client.chat.completions.create(**kwargs)
                break
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError) as e:
                if attempt == spec.max_retries:
                    raise
                await asyncio.sleep(self._wait(attempt, e))
            except openai.APIStatusError as e:
                raise _Fatal(f"HTTP {e.status_code}: {e.message}") from None
        choice = resp.choices[0]
        usage = resp.usage
        if usage is None:
            raise _Fatal("the server's response has no token usage; synth accounts for every token")
        text = choice.message.content or ""
        return Sample(text=text, finish_reason=choice.finish_reason or "unknown",
                      completion_tokens=usage.completion_tokens), usage.prompt_tokens

    def _wait(self, attempt: int, error: Exception) -> float:
        retry_after: Optional[str] = None
        response = getattr(error, "response", None)
        if response is not None:
            retry_after = response.headers.get("retry-after")
        try:
            if retry_after is not None:
                return min(float(retry_after), 60.0)
        except ValueError:
            pass
        return min(self.spec.backoff_s * (2 ** attempt) * (0.5 + random.random()), 60.0)

    def close(self) -> None:
        pass
