"""Monte Carlo step labels (Math-Shepherd, Wang et al. 2024; the automatic labels DeepCritic's RL
stage uses, Yang et al. 2025).

A step is as good as the answers reachable from it: from each step's prefix a completer model
samples `rollouts` continuations, and each is checked against the gold answer. The soft label is the
share that reach it, the hard label whether any does (Math-Shepherd's two estimators). The last step
is labelled by the solution's own answer check, as there is nothing left to roll out.

Hard labels follow one rule whatever made them (the injected labels' and TRL's stepwise
convention): every step from the first wrong one on is wrong, so labels never turn back to correct
([T, F, T, T] is [T, F, F, F]). A step whose written computation does not hold is wrong on its face,
whatever its rollouts reach. A rollout cut off at max_tokens is not scored (its answer is unknown,
not wrong); the soft label is the share of the scored rollouts, and a step with none scored drops
the solution (`unscored_step`), as its label would be a guess.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Optional

from schemas import ChatMessage, LabelledSolution, MCStepLabels, Solution
from synth import engine
from synth.answers import answers_match, extract_answer
from synth.inject.steps import wrong_calc_steps
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.config import MCLabelStage, ModelSpec
from synth import labels, suites
from synth.stages.base import Collection, Release, Stage, StageReport, StageResult, added, reject, with_cache
from synth.stages.generate import prompt_messages


def prefix_text(steps: list[str], upto: int) -> str:
    """Steps 0..upto as the assistant wrote them, one a line, ready to be continued on the next line."""
    return "\n".join(steps[:upto + 1]) + "\n"


def monotone_labels(reached: list[bool], wrong_steps: list[int]) -> list[bool]:
    """Step i is good when it and every step before it reached the answer and wrote no false
    computation: after the first wrong step, nothing is good again."""
    out, ok = [], True
    for i, r in enumerate(reached):
        ok = ok and r and i not in wrong_steps
        out.append(ok)
    return out


class MonteCarloStepLabels:
    name = "mc_label"

    def __init__(self, config: MCLabelStage, completer: str, models: dict[str, ModelSpec], prompt: str,
                 build_seed: int, cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.completer, self.spec = config, completer, models[completer]
        self.prompt, self.build_seed, self.cache, self.progress = prompt, build_seed, cache, progress

    def _targets(self, solutions: list[Solution], report: StageReport, rejects: list) -> list[Solution]:
        per_problem: dict[str, int] = defaultdict(int)
        out = []
        for s in solutions:
            if not s.steps:
                reject(report, rejects, s.solution_id, "no_steps", "", s)
            elif len(s.steps) > self.config.max_steps:
                reject(report, rejects, s.solution_id, "too_many_steps",
                       f"{len(s.steps)} steps > max_steps {self.config.max_steps}", s)
            elif self.config.max_solutions_per_problem and per_problem[s.seed_id] >= self.config.max_solutions_per_problem:
                reject(report, rejects, s.solution_id, "per_problem_limit",
                       f"max_solutions_per_problem {self.config.max_solutions_per_problem}", s)
            else:
                per_problem[s.seed_id] += 1
                out.append(s)
        return out

    def run(self, solutions: list[Solution]) -> tuple[StageResult[MCStepLabels], list[Usage]]:
        t0 = time.perf_counter()
        report = StageReport(self.name, unit_in="solutions", unit_out="labelled solutions", n_in=len(solutions))
        rejects: list = []
        targets = self._targets(solutions, report, rejects)
        jobs = [(s, i) for s in targets for i in range(len(s.steps) - 1)]
        requests = [
            ChatRequest(messages=prompt_messages(self.prompt, s.problem) + [
                ChatMessage("assistant", prefix_text(s.steps, i))],
                sampling=self.spec.sampling, n=self.config.rollouts, continue_final=True,
                sampling_seed=derive_seed(f"{self.build_seed}:mc:{s.solution_id}:{i}"))
            for s, i in jobs
        ]
        completions, usage = engine.generate(self.name, self.spec, requests, cache=self.cache, progress=self.progress)
        n = self.config.rollouts
        correct: dict[str, list[int]] = {s.solution_id: [0] * len(s.steps) for s in targets}
        scored: dict[str, list[int]] = {s.solution_id: [n] * len(s.steps) for s in targets}
        for (s, i), comp in zip(jobs, completions):
            prefix = prefix_text(s.steps, i)
            finished = [x.text for x in comp.samples if x.finish_reason != "length"]
            scored[s.solution_id][i] = len(finished)
            correct[s.solution_id][i] = sum(answers_match(extract_answer(prefix + t), s.gold_answer) for t in finished)
        out = []
        for s in targets:
            counts, scored_n = correct[s.solution_id], scored[s.solution_id]
            counts[-1] = n if s.is_correct else 0  # the whole solution: its own answer decides
            unscored = [i for i, k in enumerate(scored_n) if k == 0]
            if unscored:
                report.count("rollouts", "cut_off", sum(n - k for k in scored_n))
                reject(report, rejects, s.solution_id, "unscored_step",
                       f"every rollout from step {unscored[0]} hit max_tokens", s)
                continue
            report.count("rollouts", "scored", sum(scored_n[:-1]))
            report.count("rollouts", "cut_off", sum(n - k for k in scored_n))
            hard = monotone_labels([c > 0 for c in counts], wrong_calc_steps(s.steps))
            out.append(MCStepLabels(
                solution_id=s.solution_id, seed_id=s.seed_id, problem=s.problem, model=s.model, completer=usage.model,
                steps=list(s.steps), rollouts=n, correct_rollouts=counts, scored_rollouts=scored_n,
                soft_labels=[c / k for c, k in zip(counts, scored_n)],
                hard_labels=hard, first_error_step=next((i for i, ok in enumerate(hard) if not ok), -1),
                final_answer_correct=s.is_correct, gold_answer=s.gold_answer))
            report.labels["has_wrong_step" if not all(hard) else "all_steps_good"] += 1
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), [usage]


def _completer(recipe) -> str:
    return recipe.stages.mc_label.model or recipe.stages.generate.models[0]


def mc_label_step(ctx, t):
    r = ctx.recipe
    cfg = r.stages.mc_label
    result, usage = with_cache(ctx, lambda cache: MonteCarloStepLabels(
        cfg, _completer(r), r.models, r.stages.generate.prompt, r.random_seed, cache, ctx.progress).run(t.solutions))
    return added(t, "mc_label", result, usage, mc_labels=result.records,
                 labelled=t.labelled + labels.from_mc(result.records))


def _check(recipe) -> None:
    prompt = recipe.stages.generate.prompt if recipe.stages.generate is not None else "solve_math"
    if prompt != "solve_math":
        raise ValueError(f"stages.mc_label labels a step by whether rollouts from it reach the gold answer, which "
                         f"needs a final answer to check; the {prompt} prompt's completions have none "
                         f"(every last step would be labelled wrong). Use stages.generate.prompt: solve_math")


STAGE = Stage(
    name="mc_label", order=30, step=mc_label_step, config=MCLabelStage, needs=("generate",),
    reads=("solutions",), writes=(Collection("mc_labels", MCStepLabels), Collection("labelled", LabelledSolution)),
    models=lambda r: [("model", _completer(r))],
    releases=(Release("mc_labels", lambda ctx, t: t.mc_labels, derive=suites.mc_labels), *labels.LABELLED_RELEASES),
    citations={"mc_label": ("math-shepherd",)},
    announce=lambda ctx, t: (f"rolling out {ctx.recipe.stages.mc_label.rollouts} completions from each step of "
                             f"{len(t.solutions)} solutions"),
    check=_check,
)
