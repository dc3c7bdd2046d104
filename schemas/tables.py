"""Arrow schemas of the stored tables and the one conversion between records and Arrow."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Type

import pyarrow as pa

from schemas.records import ChatMessage, PreferencePair, Reject, Seed, Solution

_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

SEED_SCHEMA = pa.schema(
    [
        pa.field("seed_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("problem", pa.string(), nullable=False),
        pa.field("gold_steps", pa.list_(pa.string()), nullable=False),
        pa.field("gold_answer", pa.string(), nullable=False),
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
    ]
)

PAIR_SCHEMA = pa.schema(
    [
        pa.field("pair_id", pa.string(), nullable=False),
        pa.field("seed_id", pa.string(), nullable=False),
        pa.field("prompt", _MESSAGES, nullable=False),
        pa.field("chosen", _MESSAGES, nullable=False),
        pa.field("rejected", _MESSAGES, nullable=False),
        pa.field("chosen_solution_id", pa.string(), nullable=False),
        pa.field("rejected_solution_id", pa.string(), nullable=False),
        pa.field("chosen_answer", pa.string(), nullable=False),
        pa.field("rejected_answer", pa.string(), nullable=True),
        pa.field("gold_answer", pa.string(), nullable=False),
        pa.field("chosen_length", pa.int32(), nullable=False),
        pa.field("rejected_length", pa.int32(), nullable=False),
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


@dataclass(frozen=True)
class TableSpec:
    """A stored table: its name (also the dataset config name), record type and Arrow schema."""

    name: str
    record_type: Type[Any]
    schema: pa.Schema
    description: str


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec("seeds", Seed, SEED_SCHEMA, "Problems with gold step-by-step solutions and answers."),
        TableSpec("solutions", Solution, SOLUTION_SCHEMA, "Sampled solutions with answer-check labels."),
        TableSpec("pairs", PreferencePair, PAIR_SCHEMA, "Verified preference pairs (correct vs incorrect)."),
        TableSpec("rejects", Reject, REJECT_SCHEMA, "Records dropped by a stage, with the reason."),
    )
}


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    return value


def records_to_table(records: list[Any], spec: TableSpec) -> pa.Table:
    """Builds the table with the declared schema; a record of the wrong type is a programming error."""
    for r in records:
        if not isinstance(r, spec.record_type):
            raise TypeError(f"table {spec.name!r} takes {spec.record_type.__name__}, got {type(r).__name__}")
    rows = [_to_plain(r) for r in records]
    return pa.Table.from_pylist(rows, schema=spec.schema)


def table_to_records(table: pa.Table, spec: TableSpec) -> list[Any]:
    out = []
    for row in table.to_pylist():
        if spec.record_type is PreferencePair:
            for key in ("prompt", "chosen", "rejected"):
                row[key] = [ChatMessage(**m) for m in row[key]]
        out.append(spec.record_type(**row))
    return out
