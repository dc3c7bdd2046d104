"""Sample n solutions per problem from the generator in one batched engine call.

Sampling several solutions per problem and labelling them by answer correctness is how verified
preference and error data start (Math-Shepherd, Wang et al. 2024; "Iterative Reasoning Preference
Optimization", Pang et al. 2024).
"""

from __future__ import annotations

import hashlib
import time

from schemas import ChatMessage, Generation, Seed
from synth import engine
from synth.backends.base import ChatRequest
from synth.engine import Usage
from synth.prompts import render
from synth.recipe import GenerateStage, ModelSpec
from synth.stages.base import StageReport, StageResult, reject


def request_seed(build_seed: int, seed_id: str) -> int:
    """A per-request seed that depends only on the recipe seed and the problem, not on batch order."""
    digest = hashlib.sha256(f"{build_seed}:{seed_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def prompt_messages(template: str, problem: str) -> list[ChatMessage]:
    """A short system message of our own: otherwise chat templates may add a long default one,
    which every one of the n samples prefills again (on CPU prefill is half the cost)."""
    return [ChatMessage(role="system", content=render(f"{template}.system")),
            ChatMessage(role="user", content=render(template, problem=problem))]


class GenerateSolutions:
    name = "generate"

    def __init__(self, config: GenerateStage, model: ModelSpec, build_seed: int, progress: bool = True):
        self.config, self.model, self.build_seed, self.progress = config, model, build_seed, progress

    def run(self, seeds: list[Seed]) -> tuple[StageResult[Generation], Usage]:
        t0 = time.perf_counter()
        report = StageReport(self.name, unit_in="problems", unit_out="solutions", n_in=len(seeds))
        rejects: list = []
        requests = [
            ChatRequest(
                messages=prompt_messages(self.config.prompt, s.problem),
                sampling=self.model.sampling,
                n=self.config.n,
                seed=request_seed(self.build_seed, s.seed_id),
            )
            for s in seeds
        ]
        completions, usage = engine.generate(self.name, self.model, requests, progress=self.progress)
        out: list[Generation] = []
        for seed, req, comp in zip(seeds, requests, completions):
            for i, (text, reason, ntok) in enumerate(zip(comp.texts, comp.finish_reasons, comp.completion_tokens)):
                gen = Generation(
                    generation_id=f"{seed.seed_id}-s{i}",
                    seed_id=seed.seed_id,
                    model=usage.model,
                    sample_index=i,
                    messages=req.messages,
                    text=text,
                    finish_reason=reason,
                    prompt_tokens=comp.prompt_tokens,
                    completion_tokens=ntok,
                )
                if not text.strip():
                    reject(report, rejects, gen.generation_id, "empty_output", f"finish_reason={reason}", gen)
                    continue
                out.append(gen)
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), usage
