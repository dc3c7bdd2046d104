"""Critiques judged by what they do: a refiner model revises each critiqued solution given the
critique, and once without any (the baseline), and every revision is checked as any solution is
(the final answer against gold, or the problem's tests in the sandbox).

RealCritic (Tang et al. 2025) and CTRL (Xie et al. 2025) measure a critique this way: it is good when
a model given it turns an incorrect solution into a correct one, and does not break a correct one.
The card reports the fix rate on incorrect solutions and the break rate on correct ones, with and
without the critique, so the critique's own effect is visible. Releases: every revision with its
outcome (the critique's measured utility), critique-then-revision SFT rows (self-correction) from
revisions that are correct, and preference pairs between critiques of the same solution, the one
whose revision was correct chosen over one whose revision was not.

The kind `refinement` is declared here too, so a new kind touches no central list.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Literal, Optional

from pydantic import Field

from schemas import ChatMessage, CritiqueSFTRecord, DPORecord, Generation, SeedProblem
from schemas.refinement import Refinement
from synth import engine, suites
from synth.backends.base import ChatRequest, derive_seed
from synth.config import ModelSpec, VerifyStage, _Strict
from synth.prompts import chat, render
from synth.sandbox import require_isolation
from synth.stages.base import Collection, Kind, Release, Stage, StageReport, StageResult, added, reject, with_cache
from synth.stages.verify import VerifyAnswers


class RefineStage(_Strict):
    """A refiner revises each critiqued solution given its critique (and, for the baseline, without
    one); each revision is checked like any solution (RealCritic, CTRL)."""

    model: str = Field(description="key under `models`: the refiner")
    baseline: bool = Field(True, description="also revise each critiqued solution without a critique (same refiner "
                                             "and sampling), so the card shows what the critique itself adds")
    prompt: Literal["refine"] = "refine"


@dataclass(frozen=True)
class Job:
    """One revision to ask for: a critiqued solution and its critique, or (critique_id None) the
    same solution alone, for the baseline."""

    refinement_id: str
    seed_id: str
    target_id: str
    problem: str
    solution: str
    solution_correct: bool
    code: bool
    critique_id: Optional[str] = None
    critique: str = ""
    critic_model: str = ""


def refine_jobs(critiques: list, code_critiques: list, baseline: bool) -> list[Job]:
    """A job per critique (math: step-wise critiques of labelled solutions; code: critiques of
    programs), then, with `baseline`, one per critiqued solution without its critique."""
    jobs = [Job(f"{c.critique_id}-refined", c.seed_id, c.target_id, c.problem,
                "\n".join(f"Step {i + 1}: {s}" for i, s in enumerate(c.steps)), c.true_final_answer_correct, False,
                c.critique_id, c.critique, c.critic_model) for c in critiques]
    jobs += [Job(f"{c.critique_id}-refined", c.seed_id, c.target_id, c.problem, c.code, c.passes_tests, True,
                 c.critique_id, c.critique, c.critic_model) for c in code_critiques]
    if baseline:
        firsts = {j.target_id: j for j in reversed(jobs)}  # the first job of each solution, in order
        jobs += [Job(f"{j.target_id}-baseline", j.seed_id, j.target_id, j.problem, j.solution, j.solution_correct,
                     j.code) for j in sorted(firsts.values(), key=lambda j: jobs.index(j))]
    return jobs


def outcome_of(solution_correct: bool, revision_correct: bool) -> tuple[str, int]:
    if solution_correct:
        return ("kept_correct", 0) if revision_correct else ("broke", -1)
    return ("fixed", 1) if revision_correct else ("still_incorrect", 0)


class RefineSolutions:
    name = "refine"

    def __init__(self, config: RefineStage, models: dict[str, ModelSpec], build_seed: int, verify: VerifyStage,
                 cache=None, progress: bool = True):
        self.config, self.spec, self.build_seed = config, models[config.model], build_seed
        self.verify, self.cache, self.progress = VerifyAnswers(verify), cache, progress

    def request(self, job: Job) -> ChatRequest:
        return ChatRequest(messages=chat(self.config.prompt, code=job.code, problem=job.problem,
                                         solution=job.solution, critique=job.critique),
                           sampling=self.spec.sampling, n=1,
                           sampling_seed=derive_seed(f"{self.build_seed}:refine:{job.refinement_id}"))

    def run(self, jobs: list[Job], seeds: list[SeedProblem]) -> tuple[StageResult[Refinement], list]:
        t0 = time.perf_counter()
        by_id = {s.seed_id: s for s in seeds}
        report = StageReport(self.name, unit_in="revisions asked", unit_out="revisions", n_in=len(jobs))
        if any(j.code for j in jobs):
            require_isolation(self.verify.config.isolation)  # before running anything
        requests = [self.request(j) for j in jobs]
        completions, usage = engine.generate(self.name, self.spec, requests, cache=self.cache, progress=self.progress)
        rejects: list = []
        out: list[Refinement] = []
        for job, req, comp in zip(jobs, requests, completions):
            sample = comp.samples[0]
            group = "with critique" if job.critique_id else "without critique (baseline)"
            report.count(group, "correct_in" if job.solution_correct else "incorrect_in")
            if not sample.text.strip():
                report.count(group, "empty_output")
                reject(report, rejects, job.refinement_id, "empty_output", f"finish_reason={sample.finish_reason}")
                continue
            gen = Generation(generation_id=job.refinement_id, seed_id=job.seed_id, model=usage.model, sample_index=0,
                             messages=req.messages, text=sample.text, finish_reason=sample.finish_reason,
                             prompt_tokens=comp.prompt_tokens, completion_tokens=sample.completion_tokens)
            check = self.verify.check(gen, by_id[job.seed_id])
            if check.status == "unverified":  # the sandbox failed, not the program: no label either way
                report.count(group, "unverified")
                reject(report, rejects, job.refinement_id, "unverified", check.error_detail, {"revision": sample.text})
                continue
            answer, status = check.answer, check.status
            if sample.finish_reason == "length":
                # A revision cut off at max_tokens is no finished revision: what it stated before the cut
                # is not its answer (a blind read found `The answer is 121.` and then `This answer is
                # incorrect...` cut off, labelled kept_correct). It counts as no answer, never a fix.
                answer, status = None, "no_answer"
            outcome, utility = outcome_of(job.solution_correct, status == "correct")
            report.count(group, outcome)
            report.labels[outcome] += 1
            out.append(Refinement(
                refinement_id=job.refinement_id, seed_id=job.seed_id, target_id=job.target_id, problem=job.problem,
                solution=job.solution, solution_correct=job.solution_correct, critique_id=job.critique_id,
                critique=job.critique, critic_model=job.critic_model, refiner_model=usage.model,
                revision=sample.text, finish_reason=sample.finish_reason, revision_answer=answer, revision_status=status,
                revision_correct=status == "correct", outcome=outcome, utility=utility))
        report.n_out = len(out)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(out, rejects, report), [usage]


def refine_step(ctx, t):
    r = ctx.recipe
    cfg = r.stages.refine
    jobs = refine_jobs(t.critiques, t.code_critiques, cfg.baseline)
    result, usage = with_cache(ctx, lambda cache: RefineSolutions(
        cfg, r.models, r.random_seed, r.stages.verify, cache, ctx.progress).run(jobs, t.seeds))
    return added(t, "refine", result, usage, refinements=result.records)


# ---- releases -----------------------------------------------------------------------------------

def _input(r: Refinement) -> str:
    return f"Problem:\n{r.problem}\n\nSolution:\n{r.solution}"


def to_refine_sft(refinements: list[Refinement]) -> list[CritiqueSFTRecord]:
    """Critique, then the revision it led to, for each critiqued solution whose revision is correct
    (a fix, or a correct solution kept correct): self-correction data that never teaches a wrong answer."""
    return [CritiqueSFTRecord(instruction=render("refine.instruction"), input=_input(r),
                              output=f"{r.critique}\n\nCorrected solution:\n{r.revision}", seed_id=r.seed_id)
            for r in refinements if r.critique_id and r.revision_correct]


def to_critique_pairs(refinements: list[Refinement]) -> list[DPORecord]:
    """Per solution, the first critique whose revision was correct (chosen) against the first whose
    revision was not (rejected), when their texts differ: the critique that helped over one that did not."""
    by_target: dict[str, list[Refinement]] = {}
    for r in refinements:
        if r.critique_id:
            by_target.setdefault(r.target_id, []).append(r)
    out = []
    for group in by_target.values():
        good = next((r for r in group if r.revision_correct), None)
        bad = next((r for r in group if not r.revision_correct and good is not None and r.critique != good.critique),
                   None)
        if good is not None and bad is not None:
            prompt = [ChatMessage(role="user", content=render("refine.instruction") + "\n\n" + _input(good))]
            out.append(DPORecord(prompt=prompt, chosen=[ChatMessage(role="assistant", content=good.critique)],
                                 rejected=[ChatMessage(role="assistant", content=bad.critique)], seed_id=good.seed_id))
    return out


def derive_refinements(df):
    """The columns the refinements suite checks: the outcome is what the two checks say, a baseline
    row has no critique and a critiqued one has one, a revision cut off at max_tokens is never correct."""
    expected = [outcome_of(bool(s), bool(r)) for s, r in zip(df["solution_correct"], df["revision_correct"])]
    return df.assign(
        outcome_matches_checks=[(o, u) == e for o, u, e in zip(df["outcome"], df["utility"], expected)],
        correct_iff_status=[(st == "correct") == bool(c) for st, c in zip(df["revision_status"], df["revision_correct"])],
        critique_iff_id=[isinstance(cid, str) == bool(c.strip()) for cid, c in zip(df["critique_id"], df["critique"])],
        cut_off_never_correct=[not (f == "length" and bool(c)) for f, c in zip(df["finish_reason"], df["revision_correct"])],
    )


def card_section(row: dict) -> str:
    """Fix rate on incorrect solutions and break rate on correct ones, with the critique and without."""
    lines = ["## Critique utility: revisions checked", "",
             "A refiner revised each critiqued solution given the critique, and once without it (the baseline); "
             "each revision was checked like any solution. A critique is useful when its revision fixes an "
             "incorrect solution and does not break a correct one (RealCritic, CTRL).", "",
             "| revised | incorrect in | fixed | fix rate | correct in | broke | break rate |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for group, c in sorted(row.get("breakdown", {}).items(), reverse=True):
        c = Counter(c)
        wrong, right = c["incorrect_in"], c["correct_in"]
        fix = f"{100 * c['fixed'] / wrong:.1f}%" if wrong else "-"
        brk = f"{100 * c['broke'] / right:.1f}%" if right else "-"
        lines.append(f"| {group} | {wrong} | {c['fixed']} | {fix} | {right} | {c['broke']} | {brk} |")
    return "\n".join(lines)


STAGE = Stage(
    name="refine", order=60, step=refine_step, config=RefineStage, needs=("critique", "code_critique"),
    reads=("critiques", "code_critiques", "seeds"), writes=(Collection("refinements", Refinement),),
    models=lambda r: [("model", r.stages.refine.model)], prompts=lambda r: [r.stages.refine.prompt],
    templates=("refine", "refine.system", "refine.instruction"),
    releases=(Release("refinements", lambda ctx, t: t.refinements, derive=derive_refinements,
                      filtered="refinements"),
              Release("refine_sft", lambda ctx, t: to_refine_sft(t.refinements)),
              Release("critique_pairs", lambda ctx, t: to_critique_pairs(t.refinements), derive=suites.dpo)),
    citations={"refine": ("realcritic", "ctrl")},
    papers={"realcritic": 'Tang et al., "RealCritic: Towards Effectiveness-Driven Evaluation of Language Model '
                          'Critiques", 2025. arXiv:2501.14492',
            "ctrl": 'Xie et al., "Teaching Language Models to Critique via Reinforcement Learning" (CTRL), 2025. '
                    'arXiv:2502.03492'},
    announce=lambda ctx, t: (f"revising {len(t.critiques) + len(t.code_critiques)} critiqued solutions with "
                             f"{ctx.recipe.stages.refine.model}"),
    card=card_section,
    kinds=(Kind("refinement", needs=(("refine",),), publishes=("refinements", "refine_sft", "critique_pairs"),
                tags=("critique", "self-correction", "refinement"), description="refine (after critique or code_critique)"),),
)
