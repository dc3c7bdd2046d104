"""Sample n solutions per problem from the generator in one batched engine call.

Sampling several solutions per problem and labelling them by answer correctness is how verified
preference and error data start (Math-Shepherd, Wang et al. 2024; "Iterative Reasoning Preference
Optimization", Pang et al. 2024).
"""

from __future__ import annotations

import time
from typing import Optional

from schemas import ChatMessage, Generation, SeedProblem
from synth import engine
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.prompts import chat
from synth.config import GenerateStage, ModelSpec
from synth.stages.base import Collection, Stage, StageReport, StageResult, added, reject, with_cache


def request_seed(build_seed: int, model_key: str, seed_id: str) -> int:
    """A per-request seed that depends only on the recipe seed, the generator and the problem, not on
    batch order; two generators with the same model and sampling still sample different completions."""
    return derive_seed(f"{build_seed}:{model_key}:{seed_id}")


def prompt_messages(template: str, problem: str) -> list[ChatMessage]:
    return chat(template, problem=problem)


class GenerateSolutions:
    """n solutions per problem from each generator model; each model is one batched engine call."""

    name = "generate"

    def __init__(self, config: GenerateStage, models: dict[str, ModelSpec], build_seed: int,
                 cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.models, self.build_seed = config, models, build_seed
        self.cache, self.progress = cache, progress

    def run(self, seeds: list[SeedProblem]) -> tuple[StageResult[Generation], list[Usage]]:
        t0 = time.perf_counter()
        report = StageReport(self.name, unit_in="problems", unit_out="solutions", n_in=len(seeds))
        rejects: list = []
        out: list[Generation] = []
        usages: list[Usage] = []
        for key in self.config.models:
            spec = self.models[key]
            requests = [
                ChatRequest(
                    messages=prompt_messages(self.config.prompt, s.problem),
                    sampling=spec.sampling,
                    n=self.config.n,
                    sampling_seed=request_seed(self.build_seed, key, s.seed_id),
                )
                for s in seeds
            ]
            completions, usage = engine.generate(self.name, spec, requests, cache=self.cache, progress=self.progress)
            usages.append(usage)
            for seed, req, comp in zip(seeds, requests, completions):
                for i, sample in enumerate(comp.samples):
                    gen = Generation(
                        generation_id=f"{seed.seed_id}-{key}-s{i}",
                        seed_id=seed.seed_id,
                        model=usage.model,
                        sample_index=i,
                        messages=req.messages,
                        text=sample.text,
                        finish_reason=sample.finish_reason,
                        prompt_tokens=comp.prompt_tokens,
                        completion_tokens=sample.completion_tokens,
                    )
                    if not sample.ok:
                        reject(report, rejects, gen.generation_id, "unparsable_output",
                               f"{sample.error} (after {sample.attempts} attempts)", gen)
                    elif not sample.text.strip():
                        reject(report, rejects, gen.generation_id, "empty_output", f"finish_reason={sample.finish_reason}", gen)
                    else:
                        out.append(gen)
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), usages


def generate_step(ctx, t):
    r = ctx.recipe
    result, usage = with_cache(ctx, lambda cache: GenerateSolutions(
        r.stages.generate, r.models, r.random_seed, cache, ctx.progress).run(t.seeds))
    return added(t, "generate", result, usage, generations=result.records)


def _check(recipe) -> None:
    models = recipe.stages.generate.models
    if len(set(models)) != len(models):
        raise ValueError("stages.generate.models names a model twice")


STAGE = Stage(
    name="generate", order=10, step=generate_step, config=GenerateStage,
    reads=("seeds",), writes=(Collection("generations", Generation),),
    models=lambda r: [("models", k) for k in r.stages.generate.models],
    prompts=lambda r: [r.stages.generate.prompt],  # the MC rollouts continue the same prompt
    templates=("solve_math", "solve_code", "respond"),
    citations={"generate": ("vllm",)}, method_citations={"solve_math": ("math-shepherd",)},
    announce=lambda ctx, t: (f"generating {ctx.recipe.stages.generate.n} solutions for each of {len(t.seeds)} "
                             f"problems with {', '.join(ctx.recipe.stages.generate.models)}"),
    check=_check,
)
