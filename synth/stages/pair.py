"""Binarization: chosen and rejected completions of one prompt, decided one of three ways.

- `verified`: a solution whose answer checks out (math) or whose tests pass (code, run in the
  sandbox) against one that does not, no judge needed; the correct-vs-incorrect pairing of
  "Iterative Reasoning Preference Optimization" (Pang et al. 2024). A math solution is chosen only
  when it is also clean as a worked solution (synth/process.py: every written computation holds,
  it finished, states the answer in the asked form, nothing after contradicts it), and, when the
  recipe adds a model screen, when a critic finds no wrong step in it either; one that is not is
  kept in `rejects` with the reason. A solution stating different answers is neither side.
- `ratings`: by the mean of UltraFeedback's aspect ratings (Cui et al. 2023), as Zephyr's
  UltraFeedback binarization does (Tunstall et al. 2023): chosen is the best-rated completion,
  rejected a random lower-rated one (or the worst, the other common choice); a tie for best drops
  the prompt, and a pair below the minimum margin is dropped.
- `pairwise`: the winner and loser of a comparison judged the same way in both orders (MT-Bench).

Every pair counts whether chosen is the longer response: judges (and reward models trained on
their pairs) favour length (Singhal et al. 2023, "A Long Way to Go"), so the card reports the share.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections import defaultdict
from dataclasses import replace
from typing import Optional

from schemas import ChatMessage, Comparison, PreferencePair, RatedCompletion, Reject, SeedProblem, Solution
from synth.answers import read_answer
from synth.process import process_flaws
from synth.config import GenerateStage, PairStage
from synth import exports, suites
from synth.stages.base import Collection, Kind, Release, Stage, StageReport, StageResult, added, reject, with_cache
from synth.stages.generate import prompt_messages

# Two mean ratings closer than this are a tie: means of small integers that are equal on paper can
# differ in the last bits of a float (4.1 + 4.3 vs 4.2 + 4.2).
SCORE_TOLERANCE = 1e-9
SCREEN = "chosen_screen"  # the funnel row of the chosen-solution screen (unit: solutions with a correct answer)


def _same_response(a: Solution, b: Solution, code: bool = False) -> bool:
    """Chosen and rejected must differ: in text (spacing aside), and for code in the program that was
    run (one run of a program can pass and another of the same program time out)."""
    if " ".join(a.text.split()) == " ".join(b.text.split()):
        return True
    return bool(code and a.extracted_answer and b.extracted_answer
                and " ".join(a.extracted_answer.split()) == " ".join(b.extracted_answer.split()))


def rejectable(s: Solution, code: bool = False) -> bool:
    """A verified pair's rejected side: a finished solution that states a wrong final answer. Never one
    cut off at max_tokens (DPO would push down a prefix that may be sound so far, for stopping where
    the sampler did, and tie `rejected` to length), and never one that states no answer, even where
    its last number is wrong: its work can reach the right number in words (`Omar has 35 marbles
    now.` before a last `10`), and a reader then sees the pair backwards. Both sides are whole
    responses, and rejected is wrong by its own statement. (Code is wrong by its tests.)"""
    if s.answer_status != "incorrect" or s.finish_reason == "length":
        return False
    return code or read_answer(s.text, finished=True).status == "stated"


def count_length(report: StageReport, pair: PreferencePair) -> None:
    if pair.chosen_length > pair.rejected_length:
        report.count("length", "chosen_longer")
    elif pair.chosen_length < pair.rejected_length:
        report.count("length", "rejected_longer")
    else:
        report.count("length", "same_length")


class PairPreferences:
    name = "pair"

    def __init__(self, config: PairStage, generate: GenerateStage, build_seed: int):
        self.config, self.generate, self.build_seed = config, generate, build_seed

    def screen_chosen(self, solutions: list[Solution], screened_out: Optional[dict[str, str]],
                      rejects: list[Reject]) -> set[str]:
        """The ids of the correct solutions that may be chosen. The others go to `rejects` (stage
        `chosen_screen`, reason `unclean_chosen:<first flaw>`), counted in the screen's own funnel row
        (`self.screen_report`, in solutions, beside the pair row's problems), each flaw in its breakdown."""
        correct = [s for s in solutions if s.is_correct]
        report = self.screen_report = StageReport(SCREEN, unit_in="correct solutions", unit_out="choosable",
                                                  n_in=len(correct))
        out: set[str] = set()
        for s in correct:
            report.count("flaws", "tried")
            flaws = [] if self._code else [(f.kind, f.detail) for f in
                                           process_flaws(s.text, s.finish_reason, self.generate.prompt)]
            if not flaws and screened_out and s.solution_id in screened_out:
                flaws = [("model_screen", screened_out[s.solution_id])]
            if not flaws:
                report.count("flaws", "kept")
                out.add(s.solution_id)
                continue
            for kind, _ in flaws:
                report.count("flaws", kind)
            reject(report, rejects, s.solution_id, f"unclean_chosen:{flaws[0][0]}",
                   "; ".join(f"{k}: {d}" for k, d in flaws)[:2000], s)
        report.n_out = len(out)
        return out

    @property
    def _code(self) -> bool:
        return self.generate.prompt == "solve_code"

    def run(self, seeds: list[SeedProblem], solutions: list[Solution], rated: list[RatedCompletion],
            comparisons: list[Comparison],
            screened_out: Optional[dict[str, str]] = None) -> StageResult[PreferencePair]:
        """`screened_out`: solution id -> why a model screen (a critic) would not let it be chosen."""
        t0 = time.perf_counter()
        report = StageReport(self.name, unit_in="problems", unit_out="pairs", n_in=len(seeds))
        rejects: list = []
        self.by_id = {s.solution_id: s for s in solutions}
        pairs: list[PreferencePair] = []
        method = self.config.method
        groups: dict[str, list] = defaultdict(list)
        for r in {"verified": solutions, "ratings": rated, "pairwise": comparisons}[method]:
            groups[r.seed_id].append(r)
        self.screen_report: Optional[StageReport] = None
        self.choosable = self.screen_chosen(solutions, screened_out, rejects) if method == "verified" else set()
        for seed in seeds:
            rng = random.Random(f"{self.build_seed}:{seed.seed_id}")  # the same choice however batches fall
            group = groups.get(seed.seed_id, [])
            if method == "verified":
                made = self._verified(seed, group, rng, report, rejects)
            elif method == "ratings":
                made = self._rated(seed, group, rng, report, rejects)
            else:
                made = self._pairwise(seed, group, rng, report, rejects)
            for p in made:
                count_length(report, p)
                report.labels[method] += 1
            pairs += made
        report.n_out = len(pairs)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(pairs, rejects, report)

    def _pair(self, seed: SeedProblem, chosen: Solution, rejected: Solution, **fields) -> PreferencePair:
        pid = hashlib.sha256(f"{chosen.solution_id}|{rejected.solution_id}".encode()).hexdigest()[:16]
        defaults = dict(score_chosen=None, score_rejected=None, chosen_ratings=[], rejected_ratings=[], verdicts=[],
                        chosen_answer=None, rejected_answer=None, gold_answer=seed.gold_answer or None)
        return PreferencePair(
            pair_id=pid, seed_id=seed.seed_id, method=self.config.method,
            prompt=prompt_messages(self.generate.prompt, seed.problem),
            chosen=[ChatMessage("assistant", chosen.text)], rejected=[ChatMessage("assistant", rejected.text)],
            chosen_solution_id=chosen.solution_id, rejected_solution_id=rejected.solution_id,
            chosen_model=chosen.model, rejected_model=rejected.model,
            chosen_length=len(chosen.text), rejected_length=len(rejected.text), **{**defaults, **fields})

    def _verified(self, seed: SeedProblem, group: list[Solution], rng: random.Random, report: StageReport,
                  rejects: list) -> list[PreferencePair]:
        correct = [s for s in group if s.is_correct]
        clean = [s for s in correct if s.solution_id in self.choosable]
        wrong = [s for s in group if rejectable(s, self._code)]
        if not seed.gold_answer and seed.tests is None:
            reject(report, rejects, seed.seed_id, "no_gold_answer", "verified pairs need a gold answer or tests", seed)
            return []
        if not group:
            reject(report, rejects, seed.seed_id, "no_solutions", "every sample was dropped upstream", seed)
            return []
        if not correct:
            reject(report, rejects, seed.seed_id, "no_correct_solution", f"{len(group)} samples, none correct", seed)
            return []
        if not wrong:
            cut = sum(s.finish_reason == "length" and s.answer_status in ("incorrect", "no_answer") for s in group)
            silent = sum(s.answer_status in ("incorrect", "no_answer") and s.finish_reason != "length"
                         and not rejectable(s, self._code) for s in group)
            reject(report, rejects, seed.seed_id, "no_incorrect_solution",
                   f"{len(group)} samples, none a finished solution stating a wrong answer (ambiguous ones are "
                   f"neither side; {cut} cut off at max_tokens, {silent} finished without stating an answer)", seed)
            return []
        if not clean:
            reject(report, rejects, seed.seed_id, "no_clean_correct_solution",
                   f"{len(correct)} correct, each with a flaw a chosen solution may not have (see rejects of "
                   f"stage {SCREEN})", seed)
            return []
        combos = [(c, w) for c in clean for w in wrong if not _same_response(c, w, self._code)]
        if not combos:
            reject(report, rejects, seed.seed_id, "chosen_equals_rejected",
                   "every correct solution is the same response (or program) as every incorrect one", seed)
            return []
        rng.shuffle(combos)
        made = _spread(combos, self.config.max_pairs_per_problem)
        report.count("rejected", "wrong_answer", len(made))
        return [self._pair(seed, c, w, score_chosen=1.0, score_rejected=0.0, chosen_answer=c.extracted_answer,
                           rejected_answer=w.extracted_answer) for c, w in made]

    def _rated(self, seed: SeedProblem, group: list[RatedCompletion], rng: random.Random, report: StageReport,
               rejects: list) -> list[PreferencePair]:
        if len(group) < 2:
            reject(report, rejects, seed.seed_id, "fewer_than_two_rated", f"{len(group)} rated completions", seed)
            return []
        ranked = sorted(group, key=lambda r: (-r.score, r.solution_id))
        best = ranked[0]
        scores = ", ".join(f"{r.score:.2f}" for r in ranked)
        if math.isclose(ranked[1].score, best.score, rel_tol=0.0, abs_tol=SCORE_TOLERANCE):
            reject(report, rejects, seed.seed_id, "tied_best", f"scores {scores}", seed)
            return []
        lower = [r for r in ranked[1:] if best.score - r.score > SCORE_TOLERANCE
                 and best.score - r.score >= self.config.min_margin - SCORE_TOLERANCE
                 and " ".join(r.text.split()) != " ".join(best.text.split())]
        if not lower:
            reject(report, rejects, seed.seed_id, "below_min_margin",
                   f"scores {scores}; min_margin {self.config.min_margin} (a copy of chosen's text never counts)", seed)
            return []
        if self.config.binarize == "best_vs_worst":
            worst = [r for r in lower if math.isclose(r.score, lower[-1].score, rel_tol=0.0, abs_tol=SCORE_TOLERANCE)]
            rejected = rng.choice(worst)
        else:
            rejected = rng.choice(lower)
        return [self._pair(seed, self.by_id[best.solution_id], self.by_id[rejected.solution_id],
                           score_chosen=best.score, score_rejected=rejected.score,
                           chosen_ratings=list(best.ratings), rejected_ratings=list(rejected.ratings))]

    def _pairwise(self, seed: SeedProblem, group: list[Comparison], rng: random.Random, report: StageReport,
                  rejects: list) -> list[PreferencePair]:
        if not group:
            reject(report, rejects, seed.seed_id, "no_consistent_comparison",
                   "no comparison of this prompt's completions survived judging", seed)
            return []
        chosen = [c for c in sorted(group, key=lambda c: c.comparison_id)
                  if not _same_response(self.by_id[c.winner_id], self.by_id[c.loser_id])]
        if not chosen:
            reject(report, rejects, seed.seed_id, "chosen_equals_rejected",
                   "every consistent comparison was between two copies of one response", seed)
            return []
        rng.shuffle(chosen)
        return [self._pair(seed, self.by_id[c.winner_id], self.by_id[c.loser_id], verdicts=list(c.verdicts))
                for c in chosen[: self.config.max_pairs_per_problem]]


def _spread(combos: list, limit: int) -> list:
    """Up to `limit` (chosen, rejected) pairs, each new one reusing as few already paired solutions as
    it can: with four correct and four wrong samples, two pairs are two different chosen solutions
    against two different rejected ones, not one chosen text repeated (a trainer sees a repeated
    chosen twice as often, for no reason but how the samples fell)."""
    made: list = []
    used: dict[str, int] = {}
    pool = list(combos)
    while pool and len(made) < limit:
        k = min(range(len(pool)), key=lambda k: used.get(pool[k][0].solution_id, 0) + used.get(pool[k][1].solution_id, 0))
        c, w = pool.pop(k)
        made.append((c, w))
        used[c.solution_id] = used.get(c.solution_id, 0) + 1
        used[w.solution_id] = used.get(w.solution_id, 0) + 1
    return made


class ScreenChosen:
    """The recipe's model screen of chosen solutions (`stages.pair.screen`): the critique stage's critic
    judges every step of each correct solution that passed the rule checks, told nothing; the
    solution stays choosable only when the critique parses and finds every step and the final
    answer correct. Its own funnel row (`pair_screen`) counts what it judged; the refused solutions
    are dropped (and counted) by the chosen-solution screen, reason `unclean_chosen:model_screen`."""

    name = "pair_screen"

    def __init__(self, pair: PairStage, generate: GenerateStage, models: dict, build_seed: int,
                 cache=None, progress: bool = True):
        self.pair, self.generate, self.models, self.build_seed = pair, generate, models, build_seed
        self.cache, self.progress = cache, progress

    def run(self, solutions: list[Solution]) -> tuple[StageResult[str], list, dict[str, str]]:
        """The ids that pass, the critic's usage, and solution id -> why it may not be chosen."""
        from schemas import LabelledSolution
        from synth.config import CritiqueStage
        from synth.stages.critique import CritiqueSteps

        t0 = time.perf_counter()
        candidates = [s for s in solutions if s.is_correct
                      and not process_flaws(s.text, s.finish_reason, self.generate.prompt)]
        report = StageReport(self.name, unit_in="solutions", unit_out="solutions", n_in=len(candidates))
        labelled = [LabelledSolution(
            label_id=s.solution_id, seed_id=s.seed_id, problem=s.problem, steps=list(s.steps), first_error_step=-1,
            final_answer_correct=True, step_labels=[True] * len(s.steps), label_source="original", generator=s.model,
            gold_answer=s.gold_answer) for s in candidates if s.steps]
        cfg = CritiqueStage(model=self.pair.screen.model, targets=["original"],
                            max_explanation_chars=self.pair.screen.max_explanation_chars)
        critiqued, usages = CritiqueSteps(cfg, self.models, self.build_seed, self.cache, self.progress).run(labelled)
        passed = {c.target_id for c in critiqued.records}
        refused = {s.solution_id: "no steps to judge" for s in candidates if not s.steps}
        for r in critiqued.rejects:
            target = r.record_id.rsplit("-c", 1)[0]
            refused[target] = f"critic {self.pair.screen.model}: {r.reason} ({r.detail})"
            report.count("critic", r.reason)
        report.labels["passed"] = len(passed)
        report.labels["refused"] = len(refused)
        report.n_out = len(passed)
        report.wall_seconds = time.perf_counter() - t0
        return StageResult(sorted(passed), [], report), usages, refused


def pair_step(ctx, t):
    r, refused = ctx.recipe, None
    if r.stages.pair.screen is not None:  # a critic screens the chosen candidates first (its own funnel row)
        screened, usage, refused = with_cache(ctx, lambda cache: ScreenChosen(
            r.stages.pair, r.stages.generate, r.models, r.random_seed, cache, ctx.progress).run(t.solutions))
        t = replace(t, reports=t.reports + [screened.report], usage=t.usage + list(usage))
    pairing = PairPreferences(r.stages.pair, r.stages.generate, r.random_seed)
    result = pairing.run(t.seeds, t.solutions, t.rated, t.comparisons, screened_out=refused)
    if pairing.screen_report is not None:  # the chosen-solution screen's row, in solutions (verified pairs)
        t = replace(t, reports=t.reports + [pairing.screen_report])
    return added(t, "pair", result, pairs=result.records)


def _check(recipe) -> None:
    st = recipe.stages
    if st.pair.method == "verified" and st.generate is not None and st.generate.prompt == "respond":
        raise ValueError("stages.pair.method verified checks final answers or runs tests, which the respond "
                         "prompt's free-form responses do not have (use solve_math or solve_code); judge them "
                         "instead (stages.judge, pair.method ratings or pairwise)")
    if st.pair.screen is not None and st.pair.method != "verified":
        raise ValueError("stages.pair.screen screens the chosen solutions of verified pairs; with method "
                         f"{st.pair.method} the judge already decides which is chosen")
    if st.pair.method != "verified" and (st.judge is None or st.judge.mode != st.pair.method):
        raise ValueError(f"stages.pair.method {st.pair.method} needs stages.judge with mode {st.pair.method}")


STAGE = Stage(
    name="pair", order=80, step=pair_step, config=PairStage, needs=("generate",),
    reads=("seeds", "solutions", "rated", "comparisons"), writes=(Collection("pairs", PreferencePair),),
    models=lambda r: [("screen.model", r.stages.pair.screen.model)] if r.stages.pair.screen is not None else [],
    prompts=lambda r: ["critique_steps", "critique_input"] if r.stages.pair.screen is not None else [],
    templates=("critique_steps", "critique_input"),
    releases=(Release("pairs", lambda ctx, t: t.pairs, derive=suites.pairs, filtered="pairs"),
              Release("dpo", lambda ctx, t: [exports.to_dpo(p) for p in t.pairs], derive=suites.dpo,
                      citations=("dpo",))),
    citations={"pair": ("length-correlations",)},
    method_citations={"verified": ("irpo",), "ratings": ("ultrafeedback", "zephyr"), "pairwise": ("mt-bench",)},
    check=_check,
    kinds=(Kind("preference", needs=(("generate",), ("pair",)),
                publishes=("dpo", "pairs", "ultrafeedback", "ratings", "comparisons", "solutions"),
                tags=("dpo", "preference"), description="needs generate and pair"),),
)
