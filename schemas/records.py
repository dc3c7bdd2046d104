"""Record types. Dataclasses rather than dicts so a stage cannot silently drop or misspell a field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

# unverified: the seed has no gold answer; ambiguous: the solution states different final answers, one of
# them gold's (never correct, and not a fair rejected one either).
AnswerStatus = Literal["correct", "incorrect", "no_answer", "ambiguous", "unverified"]


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class SeedProblem:
    """A problem with its gold solution: the ground truth every label is checked against."""

    seed_id: str
    source: str  # where it came from: "procedural:<seed>" or a file path with its line
    problem: str
    gold_steps: list[str]
    gold_answer: str
    tests: Optional[str] = None  # code problems: a test program defining check(candidate)
    entry_point: Optional[str] = None  # code problems: the function the tests call


@dataclass(frozen=True)
class Solution:
    """One sampled solution and its verification label."""

    solution_id: str
    seed_id: str
    problem: str
    model: str
    sample_index: int
    text: str
    steps: list[str]
    extracted_answer: Optional[str]
    gold_answer: str
    answer_status: AnswerStatus
    is_correct: bool
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    error_type: Optional[str] = None  # code: why the tests failed (AssertionError, SyntaxError, Timeout, ...)
    error_detail: str = ""  # code: the failing test's line, or the error message


@dataclass(frozen=True)
class AspectRating:
    """One judge's 1-5 rating of one completion on one UltraFeedback aspect, with its rationale."""

    aspect: str
    judge: str  # the judge model's identity
    rating: int
    rationale: str


@dataclass(frozen=True)
class RatedCompletion:
    """A completion with every rating every judge gave it (UltraFeedback's fine-grained annotation).
    `aspect_scores` are per aspect, the mean over judges; `score` is the mean over aspects, the
    "fine-grained score" binarization ranks by."""

    solution_id: str
    seed_id: str
    model: str
    text: str
    ratings: list[AspectRating]
    aspect_scores: dict[str, float]
    score: float


@dataclass(frozen=True)
class PairwiseVerdict:
    """One judge's verdict on two completions shown in one order: `first_id` was shown as A."""

    judge: str
    first_id: str
    second_id: str
    winner_position: Literal["A", "B"]
    winner_id: str
    rationale: str


@dataclass(frozen=True)
class Comparison:
    """Two completions of one prompt judged in both orders by every judge; kept only when every
    verdict names the same winner (a verdict that follows the position is position bias)."""

    comparison_id: str
    seed_id: str
    a_id: str
    b_id: str
    verdicts: list[PairwiseVerdict]
    winner_id: str
    loser_id: str


@dataclass(frozen=True)
class PreferencePair:
    """Chosen and rejected completions of one prompt, as chat messages. `method` says what decided
    the preference: `verified` (chosen reaches the gold answer, rejected does not), `ratings` (higher
    mean UltraFeedback rating) or `pairwise` (won in both orders)."""

    pair_id: str
    seed_id: str
    method: Literal["verified", "ratings", "pairwise"]
    prompt: list[ChatMessage]
    chosen: list[ChatMessage]
    rejected: list[ChatMessage]
    chosen_solution_id: str
    rejected_solution_id: str
    chosen_model: str
    rejected_model: str
    score_chosen: Optional[float]  # verified: 1 / 0; ratings: the mean rating; pairwise: none
    score_rejected: Optional[float]
    chosen_ratings: list[AspectRating]  # ratings: every aspect's rating and rationale
    rejected_ratings: list[AspectRating]
    verdicts: list[PairwiseVerdict]  # pairwise: both orders' verdicts and rationales
    chosen_answer: Optional[str]  # verified: the extracted answers and gold
    rejected_answer: Optional[str]
    gold_answer: Optional[str]
    chosen_length: int  # characters
    rejected_length: int

    def text_view(self) -> tuple[str, str, list[str]]:
        """What dedup and decontamination see (record id, prompt, responses): the user turns, and
        the last turn of each response."""
        prompt = "\n".join(m.content for m in self.prompt if m.role == "user")
        return self.pair_id, prompt, [self.chosen[-1].content, self.rejected[-1].content]


@dataclass(frozen=True)
class Reject:
    """A record a stage dropped, kept with its reason so nothing is lost silently."""

    stage: str
    record_id: str
    reason: str
    detail: str = ""
    payload: str = field(default="")  # JSON of the dropped record where there is one


@dataclass(frozen=True)
class Contamination:
    """A record dropped because its text shares word n-grams with a benchmark: the contamination report."""

    record_id: str
    collection: str  # pairs | labelled | critiques
    benchmark: str
    benchmark_id: str  # where in the benchmark (line or row)
    ngram: str  # one shared n-gram
    matched_ngrams: int
    record_ngrams: int


@dataclass(frozen=True)
class Generation:
    """A raw sample from the generator, before its answer is checked (not stored as a table)."""

    generation_id: str
    seed_id: str
    model: str
    sample_index: int
    messages: list[ChatMessage]
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


# ---- error injection, step labels, critiques ------------------------------------------------------

@dataclass(frozen=True)
class ErrorInjection:
    """A correct solution corrupted by one error of a known type. `first_error_step` is 0-based in
    `corrupted_steps` and was found by comparing the two step lists, not taken from the injector."""

    injection_id: str
    seed_id: str
    source_id: str  # "gold" or the solution_id of a verified-correct sample
    source_model: str  # "gold", or the model that wrote the original solution
    method: str  # "rule", or "llm:<teacher model>"
    error_type: str
    problem: str
    original_steps: list[str]
    corrupted_steps: list[str]
    first_error_step: int
    original_answer: str
    corrupted_answer: str
    gold_answer: str
    detail: str  # what the operator changed, or the teacher's own explanation
    claimed_error_step: Optional[int] = None  # the teacher's claim (never used as the label)
    slip: Optional[str] = None  # calculation errors by rule: the slip made (transposed_digits, carry_error, ...)


@dataclass(frozen=True)
class LabelledSolution:
    """A solution with ground-truth step labels, whatever made them (injection, Monte Carlo rollouts,
    a gold solution). Exports and the critique stage read these; not stored as a table itself."""

    label_id: str
    seed_id: str
    problem: str
    steps: list[str]
    first_error_step: int  # -1: no wrong step
    final_answer_correct: bool
    step_labels: list[bool]  # per step: True for a good step (Math-Shepherd's "+")
    label_source: str  # injected | original | monte_carlo
    generator: str  # who wrote the steps: "gold" or a model identity
    gold_answer: str
    error_type: Optional[str] = None
    error_detail: str = ""

    def text_view(self) -> tuple[str, str, list[str]]:
        """What dedup and decontamination see: the problem, and the steps as one response."""
        return self.label_id, self.problem, ["\n".join(self.steps)]


@dataclass(frozen=True)
class MCStepLabels:
    """Math-Shepherd's automatic process labels: from each step's prefix, `rollouts` completions are
    sampled and checked against the gold answer. Soft label: the share that reach it; hard label:
    whether any does. The last step is labelled by the solution's own final answer."""

    solution_id: str
    seed_id: str
    problem: str
    model: str  # the model that wrote the solution
    completer: str  # the model that wrote the rollouts
    steps: list[str]
    rollouts: int
    correct_rollouts: list[int]
    scored_rollouts: list[int]  # rollouts that finished (one cut off at max_tokens is not scored)
    soft_labels: list[float]
    hard_labels: list[bool]
    first_error_step: int  # first step whose hard label is False; -1 when none
    final_answer_correct: bool
    gold_answer: str


@dataclass(frozen=True)
class StepVerdict:
    step: int  # 0-based
    correct: bool
    explanation: str


@dataclass(frozen=True)
class Critique:
    """A step-wise critique whose first wrong step and final verdict agree with the ground truth."""

    critique_id: str
    target_id: str  # the LabelledSolution it judges
    seed_id: str
    problem: str
    steps: list[str]
    label_source: str
    error_type: Optional[str]
    true_first_error_step: int
    true_final_answer_correct: bool
    critic_model: str
    sample_index: int
    hint_given: bool  # whether the critic was told the known error (AutoMathCritique)
    step_verdicts: list[StepVerdict]
    first_error_step: int  # from the verdicts: first step judged incorrect, -1 when none
    final_answer_correct: bool
    critique: str  # the verdicts rendered as text, the training target

    def text_view(self) -> tuple[str, str, list[str]]:
        """What dedup and decontamination see: the problem, then the steps judged and the critique."""
        return self.critique_id, self.problem, ["\n".join(self.steps), self.critique]


# ---- export formats (what trainers load) ----------------------------------------------------------

@dataclass(frozen=True)
class ProcessBenchRecord:
    """ProcessBench (Zheng et al. 2024): `label` is the earliest wrong step, -1 when there is none."""

    id: str
    generator: str
    problem: str
    steps: list[str]
    final_answer_correct: bool
    label: int
    seed_id: str  # the seed (problem) it comes from: splits group by it, trainers can too

    def text_view(self) -> tuple[str, str, list[str]]:
        """As a LabelledSolution is seen (the labelled solutions are released in this table)."""
        return self.id, self.problem, ["\n".join(self.steps)]


@dataclass(frozen=True)
class MathShepherdRecord:
    """Math-Shepherd's released format: `input` has a "ки" tag after each step, `label` has "+" or "-"
    in its place."""

    input: str
    label: str
    task: str
    seed_id: str  # the seed (problem) it comes from: splits group by it, trainers can too


@dataclass(frozen=True)
class PRMStepwiseRecord:
    """TRL's stepwise-supervision format (PRMTrainer): one boolean label per completion step."""

    prompt: str
    completions: list[str]
    labels: list[bool]
    seed_id: str  # the seed (problem) it comes from: splits group by it, trainers can too


@dataclass(frozen=True)
class CritiqueSFTRecord:
    """Critique Fine-Tuning (Wang et al. 2025): instruction, input (problem and solution), output (critique)."""

    instruction: str
    input: str
    output: str
    seed_id: str  # the seed (problem) it comes from: splits group by it, trainers can too


@dataclass(frozen=True)
class DPORecord:
    """TRL's conversational preference format (DPOTrainer, RewardTrainer): explicit prompt, and chosen
    and rejected assistant turns."""

    prompt: list[ChatMessage]
    chosen: list[ChatMessage]
    rejected: list[ChatMessage]
    seed_id: str  # the seed (problem) it comes from: splits group by it, trainers can too


@dataclass(frozen=True)
class UFAnnotation:
    Rating: str  # "1".."5" as UltraFeedback writes it; the mean over judges when there are several
    Rationale: str


@dataclass(frozen=True)
class UFAnnotations:
    instruction_following: Optional[UFAnnotation]
    honesty: Optional[UFAnnotation]
    truthfulness: Optional[UFAnnotation]
    helpfulness: Optional[UFAnnotation]


@dataclass(frozen=True)
class UFCompletion:
    model: str
    response: str
    annotations: UFAnnotations
    fine_grained_score: float = field(metadata={"column": "fine-grained_score"})


@dataclass(frozen=True)
class UltraFeedbackRecord:
    """UltraFeedback's released record (Cui et al. 2023): an instruction with all its rated completions."""

    source: str
    instruction: str
    models: list[str]
    completions: list[UFCompletion]
    correct_answers: list[str]
    incorrect_answers: list[str]
    seed_id: str  # the seed (problem) it comes from: splits group by it, trainers can too


# ---- code -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CodeInjection:
    """A passing program with one typed bug (Wang et al. 2024's taxonomy), kept only because the
    problem's tests now fail; `changed_start`/`changed_end` are the 1-based changed lines of
    `corrupted_code`."""

    injection_id: str
    seed_id: str
    source_id: str  # "gold" or the solution_id of a passing sample
    source_model: str
    method: str  # "rule"
    error_type: str
    category: str  # syntax | runtime | functional
    problem: str
    entry_point: str
    original_code: str
    corrupted_code: str
    changed_start: int
    changed_end: int
    detail: str
    test_error_type: str  # what running the tests raised (SyntaxError, AssertionError, Timeout, ...)
    test_error_line: str


@dataclass(frozen=True)
class CodeCritique:
    """A critique of a program ending in Critique-Coder's `\\conclusion{T}` (correct) or `{F}`, kept only
    when the verdict matches what running the tests said."""

    critique_id: str
    target_id: str
    seed_id: str
    problem: str
    code: str
    label_source: str  # injected | original | sample
    error_type: Optional[str]
    passes_tests: bool
    critic_model: str
    sample_index: int
    critique: str
    verdict: bool


Seed = SeedProblem  # the old name, kept importable for code written before the rename


def __getattr__(name: str):
    """A record a kind declares in its own module (schemas/<kind>.py), under its old address here."""
    from schemas.spec import declared_name

    return declared_name(name, __name__)
