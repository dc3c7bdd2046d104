"""Typed records that cross stage boundaries, and the Arrow schemas they are stored with.

Every stage reads and writes these dataclasses; Parquet files are written with the declared Arrow
schema of their table so a trainer (or `datasets`) sees the same columns and types in every build.
"""

from schemas.records import (
    ChatMessage,
    Critique,
    CritiqueSFTRecord,
    ErrorInjection,
    Generation,
    LabelledSolution,
    MathShepherdRecord,
    MCStepLabels,
    PreferencePair,
    PRMStepwiseRecord,
    ProcessBenchRecord,
    Reject,
    Seed,
    Solution,
    StepVerdict,
)
from schemas.tables import TABLES, TableSpec, records_to_table, table_to_records

__all__ = [
    "ChatMessage",
    "Critique",
    "CritiqueSFTRecord",
    "ErrorInjection",
    "Generation",
    "LabelledSolution",
    "MathShepherdRecord",
    "MCStepLabels",
    "PreferencePair",
    "PRMStepwiseRecord",
    "ProcessBenchRecord",
    "Reject",
    "Seed",
    "Solution",
    "StepVerdict",
    "TABLES",
    "TableSpec",
    "records_to_table",
    "table_to_records",
]
