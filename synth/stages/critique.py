"""Step-wise critiques, kept only when they agree with the ground truth.

A critic model judges each step of a labelled solution (correct or not, and why) and the final
answer, through structured output: AutoMathCritique's step-level critiques (Xi et al. 2024), judged
the way DeepCritic's are (Yang et al. 2025), as training targets for critique fine-tuning (CFT,
Wang et al. 2025). When the recipe says so, the critic is told the known error first, as
AutoMathCritique does when it writes critiques of solutions with injected errors. A critique is kept
only if the first step it judges wrong and its final verdict both match the labels; the agreement
rate (kept / parsed) is reported per label source.
"""

from __future__ import annotations

import time
from typing import Optional

from schemas import Critique, LabelledSolution, StepVerdict
from synth import engine
from synth.backends.base import ChatRequest, derive_seed
from synth.cache import ResponseCache
from synth.engine import Usage
from synth.exports import critique_input
from synth.inject.operators import taxonomy
from synth.prompts import chat, render
from synth.config import CritiqueStage, ModelSpec
from synth import exports, suites
from synth.stages.base import Collection, Kind, Release, Stage, StageReport, StageResult, added, reject, with_cache


def critique_schema(n_steps: int, explanation_chars: int) -> dict:
    """One verdict per step, in order (the array has exactly as many items as the solution has steps),
    each explained before it is given, then the verdict on the final answer. The grammar bounds each
    explanation, so no critique runs out of tokens in the middle of a string."""
    verdict = {"type": "object", "properties": {"explanation": {"type": "string", "maxLength": explanation_chars},
                                                 "correct": {"type": "boolean"}},
               "required": ["explanation", "correct"], "additionalProperties": False}
    return {
        "type": "object",
        "properties": {"steps": {"type": "array", "items": verdict, "minItems": n_steps, "maxItems": n_steps},
                       "final_answer_correct": {"type": "boolean"}},
        "required": ["steps", "final_answer_correct"],
        "additionalProperties": False,
    }


def known_error_hint(s: LabelledSolution) -> str:
    """What the critic is told when the recipe reveals the known error (never part of the exported
    input): exactly what the labels say, the final answer's verdict included, since a critique is
    kept only when it agrees with both."""
    final = "The final answer is correct." if s.final_answer_correct else "The final answer is wrong."
    if s.first_error_step < 0:
        return "every step is correct. " + final
    where = f"step {s.first_error_step + 1} is the first wrong step"
    if s.label_source == "monte_carlo":
        return (f"{where}: no continuation sampled from it reached the correct answer, or it writes a computation "
                f"that does not hold. {final}")
    kind = taxonomy()[s.error_type].description if s.error_type in taxonomy() else ""
    return f"{where} ({(s.error_type or 'error').replace('_', ' ')}: {kind}). {final}"


def render_critique(verdicts: list[StepVerdict], final_correct: bool) -> str:
    first = next((v.step for v in verdicts if not v.correct), -1)
    shown = [dict(step=v.step, correct=v.correct,
                  explanation=v.explanation if v.explanation.endswith((".", "!", "?")) else v.explanation + ".")
             for v in verdicts]
    return render("critique_text", verdicts=shown, final_correct=final_correct, first_error=first)


class CritiqueSteps:
    name = "critique"

    def __init__(self, config: CritiqueStage, models: dict[str, ModelSpec], build_seed: int,
                 cache: Optional[ResponseCache] = None, progress: bool = True):
        self.config, self.spec, self.build_seed = config, models[config.model], build_seed
        self.cache, self.progress = cache, progress

    def _request(self, s: LabelledSolution) -> ChatRequest:
        hint = known_error_hint(s) if self.config.reveal_error else ""
        return ChatRequest(
            messages=chat(self.config.prompt, steps=s.steps, hint=hint, solution=critique_input(s.problem, s.steps)),
            sampling=self.spec.sampling, n=self.config.n, sampling_seed=derive_seed(f"{self.build_seed}:critique:{s.label_id}"),
            json_schema=critique_schema(len(s.steps), self.config.max_explanation_chars))

    def run(self, labelled: list[LabelledSolution]) -> tuple[StageResult[Critique], list[Usage]]:
        t0 = time.perf_counter()
        targets = [s for s in labelled if s.label_source in self.config.targets]
        report = StageReport(self.name, unit_in="solutions", unit_out="critiques", n_in=len(targets))
        rejects: list = []
        out: list[Critique] = []
        completions, usage = engine.generate(self.name, self.spec, [self._request(s) for s in targets],
                                             cache=self.cache, progress=self.progress)
        for s, comp in zip(targets, completions):
            for j, sample in enumerate(comp.samples):
                cid = f"{s.label_id}-c{j}"
                report.count(s.label_source, "tried")
                if not sample.ok:
                    report.count(s.label_source, "unparsable_output")
                    reject(report, rejects, cid, "unparsable_output",
                           f"{sample.error} (after {sample.attempts} attempts)", {"raw": sample.text})
                    continue
                record = self._record(cid, s, j, sample.parsed, usage.model)
                if record.first_error_step != s.first_error_step:
                    reason = "first_wrong_step_disagrees"
                elif record.final_answer_correct != s.final_answer_correct:
                    reason = "final_verdict_disagrees"
                else:
                    reason = ""
                if reason:
                    report.count(s.label_source, reason)
                    reject(report, rejects, cid, reason,
                           f"critic: step {record.first_error_step}, final {record.final_answer_correct}; "
                           f"labels: step {s.first_error_step}, final {s.final_answer_correct}", record)
                    continue
                report.count(s.label_source, "kept")
                report.labels[s.label_source] += 1
                out.append(record)
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), [usage]

    def _record(self, cid: str, s: LabelledSolution, index: int, obj: dict, model: str) -> Critique:
        verdicts = [StepVerdict(step=i, correct=bool(v["correct"]), explanation=" ".join(v["explanation"].split()))
                    for i, v in enumerate(obj["steps"])]
        final = bool(obj["final_answer_correct"])
        return Critique(
            critique_id=cid, target_id=s.label_id, seed_id=s.seed_id, problem=s.problem, steps=list(s.steps),
            label_source=s.label_source, error_type=s.error_type, true_first_error_step=s.first_error_step,
            true_final_answer_correct=s.final_answer_correct, critic_model=model, sample_index=index,
            hint_given=self.config.reveal_error, step_verdicts=verdicts,
            first_error_step=next((v.step for v in verdicts if not v.correct), -1), final_answer_correct=final,
            critique=render_critique(verdicts, final))


def critique_step(ctx, t):
    r = ctx.recipe
    result, usage = with_cache(ctx, lambda cache: CritiqueSteps(
        r.stages.critique, r.models, r.random_seed, cache, ctx.progress).run(t.labelled))
    return added(t, "critique", result, usage, critiques=result.records)


STAGE = Stage(
    name="critique", order=40, step=critique_step, config=CritiqueStage, needs=("inject", "inject_llm", "mc_label"),
    reads=("labelled",), writes=(Collection("critiques", Critique),),
    models=lambda r: [("model", r.stages.critique.model)],
    prompts=lambda r: [r.stages.critique.prompt, "critique_input", "critique_text", "critique_sft_instruction"],
    templates=("critique_steps", "critique_input", "critique_text", "critique_sft_instruction"),
    releases=(Release("critiques", lambda ctx, t: t.critiques, derive=suites.critiques, filtered="critiques"),
              Release("critique_sft", lambda ctx, t: [exports.to_critique_sft(c) for c in t.critiques],
                      citations=("cft",))),
    citations={"critique": ("automathcritique",)},
    announce=lambda ctx, t: f"critiquing {len(t.labelled)} labelled solutions with {ctx.recipe.stages.critique.model}",
    kinds=(Kind("critique", needs=(("critique", "mc_label", "code_critique"),),
                publishes=("critique_sft", "critiques", "code_critiques", "code_injections", "math_shepherd",
                           "processbench", "prm_stepwise", "mc_labels"),
                tags=("critique", "process-supervision"), description="critique, mc_label or code_critique"),),
)
