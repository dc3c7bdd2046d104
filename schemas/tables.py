"""Arrow schemas of the shared records' tables, and the one conversion between records and Arrow.

A dataset kind's own tables are declared in its module (schemas/<kind>.py, `TABLE_SPECS`); `TABLES`
holds them all, collected when the package is imported (schemas/__init__.py, schemas/spec.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from schemas.records import (
    CodeCritique,
    CodeInjection,
    Contamination,
    Comparison,
    DPORecord,
    RatedCompletion,
    UltraFeedbackRecord,
    Critique,
    CritiqueSFTRecord,
    ErrorInjection,
    MathShepherdRecord,
    MCStepLabels,
    PreferencePair,
    PRMStepwiseRecord,
    ProcessBenchRecord,
    Reject,
    SeedProblem,
    Solution,
)
from schemas.spec import MESSAGES as _MESSAGES
from schemas.spec import STEPS as _STEPS
from schemas.spec import TableSpec
from schemas.spec import arrow_schema as _schema

SEED_SCHEMA = pa.schema(
    [
        pa.field("seed_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("problem", pa.string(), nullable=False),
        pa.field("gold_steps", pa.list_(pa.string()), nullable=False),
        pa.field("gold_answer", pa.string(), nullable=False),
        pa.field("tests", pa.string(), nullable=True),
        pa.field("entry_point", pa.string(), nullable=True),
    ]
)

SOLUTION_SCHEMA = pa.schema(
    [
        pa.field("solution_id", pa.string(), nullable=False),
        pa.field("seed_id", pa.string(), nullable=False),
        pa.field("problem", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("sample_index", pa.int32(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("steps", pa.list_(pa.string()), nullable=False),
        pa.field("extracted_answer", pa.string(), nullable=True),
        pa.field("gold_answer", pa.string(), nullable=False),
        pa.field("answer_status", pa.string(), nullable=False),
        pa.field("is_correct", pa.bool_(), nullable=False),
        pa.field("finish_reason", pa.string(), nullable=False),
        pa.field("prompt_tokens", pa.int32(), nullable=False),
        pa.field("completion_tokens", pa.int32(), nullable=False),
        pa.field("error_type", pa.string(), nullable=True),
        pa.field("error_detail", pa.string(), nullable=False),
    ]
)

REJECT_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string(), nullable=False),
        pa.field("payload", pa.string(), nullable=False),
    ]
)

CONTAMINATION_SCHEMA = pa.schema([
    pa.field("record_id", pa.string(), nullable=False), pa.field("collection", pa.string(), nullable=False),
    pa.field("benchmark", pa.string(), nullable=False), pa.field("benchmark_id", pa.string(), nullable=False),
    pa.field("ngram", pa.string(), nullable=False), pa.field("matched_ngrams", pa.int32(), nullable=False),
    pa.field("record_ngrams", pa.int32(), nullable=False),
])


INJECTION_SCHEMA = _schema(
    ("injection_id", pa.string(), False), ("seed_id", pa.string(), False), ("source_id", pa.string(), False),
    ("source_model", pa.string(), False), ("method", pa.string(), False), ("error_type", pa.string(), False),
    ("problem", pa.string(), False), ("original_steps", _STEPS, False), ("corrupted_steps", _STEPS, False),
    ("first_error_step", pa.int32(), False), ("original_answer", pa.string(), False),
    ("corrupted_answer", pa.string(), False), ("gold_answer", pa.string(), False), ("detail", pa.string(), False),
    ("claimed_error_step", pa.int32(), True), ("slip", pa.string(), True),
)

MC_SCHEMA = _schema(
    ("solution_id", pa.string(), False), ("seed_id", pa.string(), False), ("problem", pa.string(), False),
    ("model", pa.string(), False), ("completer", pa.string(), False), ("steps", _STEPS, False),
    ("rollouts", pa.int32(), False), ("correct_rollouts", pa.list_(pa.int32()), False),
    ("scored_rollouts", pa.list_(pa.int32()), False),
    ("soft_labels", pa.list_(pa.float64()), False), ("hard_labels", pa.list_(pa.bool_()), False),
    ("first_error_step", pa.int32(), False), ("final_answer_correct", pa.bool_(), False),
    ("gold_answer", pa.string(), False),
)

_VERDICTS = pa.list_(pa.struct([("step", pa.int32()), ("correct", pa.bool_()), ("explanation", pa.string())]))

CRITIQUE_SCHEMA = _schema(
    ("critique_id", pa.string(), False), ("target_id", pa.string(), False), ("seed_id", pa.string(), False),
    ("problem", pa.string(), False), ("steps", _STEPS, False), ("label_source", pa.string(), False),
    ("error_type", pa.string(), True), ("true_first_error_step", pa.int32(), False),
    ("true_final_answer_correct", pa.bool_(), False), ("critic_model", pa.string(), False),
    ("sample_index", pa.int32(), False), ("hint_given", pa.bool_(), False), ("step_verdicts", _VERDICTS, False),
    ("first_error_step", pa.int32(), False), ("final_answer_correct", pa.bool_(), False),
    ("critique", pa.string(), False),
)

PROCESSBENCH_SCHEMA = _schema(
    ("id", pa.string(), False), ("generator", pa.string(), False), ("problem", pa.string(), False),
    ("steps", _STEPS, False), ("final_answer_correct", pa.bool_(), False), ("label", pa.int32(), False),
    ("seed_id", pa.string(), False),
)
MATH_SHEPHERD_SCHEMA = _schema(("input", pa.string(), False), ("label", pa.string(), False),
                               ("task", pa.string(), False), ("seed_id", pa.string(), False))
PRM_STEPWISE_SCHEMA = _schema(("prompt", pa.string(), False), ("completions", _STEPS, False),
                              ("labels", pa.list_(pa.bool_()), False), ("seed_id", pa.string(), False))
CRITIQUE_SFT_SCHEMA = _schema(("instruction", pa.string(), False), ("input", pa.string(), False),
                              ("output", pa.string(), False), ("seed_id", pa.string(), False))

CODE_INJECTION_SCHEMA = _schema(
    ("injection_id", pa.string(), False), ("seed_id", pa.string(), False), ("source_id", pa.string(), False),
    ("source_model", pa.string(), False), ("method", pa.string(), False), ("error_type", pa.string(), False),
    ("category", pa.string(), False), ("problem", pa.string(), False), ("entry_point", pa.string(), False),
    ("original_code", pa.string(), False), ("corrupted_code", pa.string(), False),
    ("changed_start", pa.int32(), False), ("changed_end", pa.int32(), False), ("detail", pa.string(), False),
    ("test_error_type", pa.string(), False), ("test_error_line", pa.string(), False),
)
CODE_CRITIQUE_SCHEMA = _schema(
    ("critique_id", pa.string(), False), ("target_id", pa.string(), False), ("seed_id", pa.string(), False),
    ("problem", pa.string(), False), ("code", pa.string(), False), ("label_source", pa.string(), False),
    ("error_type", pa.string(), True), ("passes_tests", pa.bool_(), False), ("critic_model", pa.string(), False),
    ("sample_index", pa.int32(), False), ("critique", pa.string(), False), ("verdict", pa.bool_(), False),
)

# ---- preference ----------------------------------------------------------------------------------

ASPECTS = ("instruction_following", "honesty", "truthfulness", "helpfulness")  # UltraFeedback's four
_RATINGS = pa.list_(pa.struct([("aspect", pa.string()), ("judge", pa.string()), ("rating", pa.int32()),
                               ("rationale", pa.string())]))
_VERDICTS_AB = pa.list_(pa.struct([("judge", pa.string()), ("first_id", pa.string()), ("second_id", pa.string()),
                                   ("winner_position", pa.string()), ("winner_id", pa.string()),
                                   ("rationale", pa.string())]))

RATED_SCHEMA = _schema(
    ("solution_id", pa.string(), False), ("seed_id", pa.string(), False), ("model", pa.string(), False),
    ("text", pa.string(), False), ("ratings", _RATINGS, False),
    ("aspect_scores", pa.struct([(a, pa.float64()) for a in ASPECTS]), False), ("score", pa.float64(), False),
)
COMPARISON_SCHEMA = _schema(
    ("comparison_id", pa.string(), False), ("seed_id", pa.string(), False), ("a_id", pa.string(), False),
    ("b_id", pa.string(), False), ("verdicts", _VERDICTS_AB, False), ("winner_id", pa.string(), False),
    ("loser_id", pa.string(), False),
)
PAIR_SCHEMA = _schema(
    ("pair_id", pa.string(), False), ("seed_id", pa.string(), False), ("method", pa.string(), False),
    ("prompt", _MESSAGES, False), ("chosen", _MESSAGES, False), ("rejected", _MESSAGES, False),
    ("chosen_solution_id", pa.string(), False), ("rejected_solution_id", pa.string(), False),
    ("chosen_model", pa.string(), False), ("rejected_model", pa.string(), False),
    ("score_chosen", pa.float64(), True), ("score_rejected", pa.float64(), True),
    ("chosen_ratings", _RATINGS, False), ("rejected_ratings", _RATINGS, False), ("verdicts", _VERDICTS_AB, False),
    ("chosen_answer", pa.string(), True), ("rejected_answer", pa.string(), True), ("gold_answer", pa.string(), True),
    ("chosen_length", pa.int32(), False), ("rejected_length", pa.int32(), False),
)
DPO_SCHEMA = _schema(("prompt", _MESSAGES, False), ("chosen", _MESSAGES, False), ("rejected", _MESSAGES, False),
                     ("seed_id", pa.string(), False))
_UF_ANNOTATION = pa.struct([("Rating", pa.string()), ("Rationale", pa.string())])
ULTRAFEEDBACK_SCHEMA = _schema(
    ("source", pa.string(), False), ("instruction", pa.string(), False), ("models", _STEPS, False),
    ("completions", pa.list_(pa.struct([
        ("model", pa.string()), ("response", pa.string()),
        ("annotations", pa.struct([(a, _UF_ANNOTATION) for a in ASPECTS])),
        ("fine-grained_score", pa.float64())])), False),
    ("correct_answers", _STEPS, False), ("incorrect_answers", _STEPS, False), ("seed_id", pa.string(), False),
)


BASE_TABLES: tuple[TableSpec, ...] = (
    TableSpec("seeds", SeedProblem, SEED_SCHEMA, "Problems with gold step-by-step solutions and answers."),
    TableSpec("solutions", Solution, SOLUTION_SCHEMA, "Sampled solutions with answer-check labels."),
    TableSpec("pairs", PreferencePair, PAIR_SCHEMA,
              "Preference pairs with what decided them: verified answers, UltraFeedback ratings or pairwise verdicts."),
    TableSpec("ratings", RatedCompletion, RATED_SCHEMA,
              "Completions with every judge's 1-5 rating and rationale on each UltraFeedback aspect."),
    TableSpec("comparisons", Comparison, COMPARISON_SCHEMA,
              "Pairs of completions judged in both orders whose verdicts agree (position-consistent)."),
    TableSpec("dpo", DPORecord, DPO_SCHEMA, "TRL preference format: prompt, chosen, rejected (chat messages)."),
    TableSpec("ultrafeedback", UltraFeedbackRecord, ULTRAFEEDBACK_SCHEMA,
              "UltraFeedback's nested format: each instruction with all rated completions and annotations."),
    TableSpec("rejects", Reject, REJECT_SCHEMA, "Records dropped by a stage, with the reason."),
    TableSpec("code_injections", CodeInjection, CODE_INJECTION_SCHEMA,
              "Passing programs with one typed bug each, kept because the tests now fail; the changed lines."),
    TableSpec("code_critiques", CodeCritique, CODE_CRITIQUE_SCHEMA,
              "Critiques of programs ending in \\conclusion{T|F}, kept when the verdict matches the tests."),
    TableSpec("contamination", Contamination, CONTAMINATION_SCHEMA,
              "Records dropped for sharing word n-grams with a benchmark, and where."),
    TableSpec("injections", ErrorInjection, INJECTION_SCHEMA,
              "Correct solutions corrupted by one error of a known type; the first wrong step found by comparison."),
    TableSpec("mc_labels", MCStepLabels, MC_SCHEMA, "Monte Carlo step labels (Math-Shepherd): rollouts per step."),
    TableSpec("critiques", Critique, CRITIQUE_SCHEMA,
              "Step-wise critiques that agree with the ground-truth first wrong step and final verdict."),
    TableSpec("processbench", ProcessBenchRecord, PROCESSBENCH_SCHEMA,
              "ProcessBench format: label is the earliest wrong step (0-based), -1 when every step is right."),
    TableSpec("math_shepherd", MathShepherdRecord, MATH_SHEPHERD_SCHEMA,
              'Math-Shepherd format: a "ки" tag after each step in input, "+" or "-" in its place in label.'),
    TableSpec("prm_stepwise", PRMStepwiseRecord, PRM_STEPWISE_SCHEMA,
              "TRL stepwise supervision (PRMTrainer): prompt, completions (steps), one boolean label per step."),
    TableSpec("critique_sft", CritiqueSFTRecord, CRITIQUE_SFT_SCHEMA,
              "Critique fine-tuning format (CFT): instruction, input (problem and solution), output (critique)."),
)

# Every table by name: these, then each kind module's, filled in place when the package is imported
# (after this module, so a kind's module may use the schemas above).
TABLES: dict[str, TableSpec] = {}


_SCALARS = frozenset({str, int, float, bool, bytes})


def _to_plain(value: Any) -> Any:
    """Dataclasses become dicts; a field may name its column differently (`metadata={"column": ...}`)
    where a released format's column is not a Python name."""
    if value is None or type(value) in _SCALARS:  # first: most values are the strings of a list of steps
        return value
    if dataclasses.is_dataclass(value):
        return {f.metadata.get("column", f.name): _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    return value


def _plain_column(arrow_type: pa.DataType) -> bool:
    """Whether a column's values may hold dataclasses (structs, lists of them) to be made dicts."""
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        return True
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return _plain_column(arrow_type.value_type)
    return False


def records_to_table(records: list[Any], spec: TableSpec) -> pa.Table:
    """Builds the table with the declared schema; a record of the wrong type is a programming error.
    Column by column: a chunk's tables are a fifth of a streamed build's own CPU, and a dict per row
    (Arrow's `from_pylist`) cost three times as much for the same table."""
    for r in records:
        if not isinstance(r, spec.record_type):
            raise TypeError(f"table {spec.name!r} takes {spec.record_type.__name__}, got {type(r).__name__}")
    attr = {f.metadata.get("column", f.name): f.name for f in dataclasses.fields(spec.record_type)}
    columns = []
    for field in spec.schema:
        name = attr.get(field.name)
        if name is None:
            columns.append(pa.nulls(len(records), field.type))
            continue
        values = [getattr(r, name) for r in records]
        if _plain_column(field.type):
            values = [_to_plain(v) for v in values]
        columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=spec.schema)


def __getattr__(name: str):
    """A schema a kind declares in its own module, under its old address here (REFINEMENT_SCHEMA)."""
    from schemas.spec import declared_name

    return declared_name(name, __name__)
