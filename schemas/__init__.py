"""Typed records that cross stage boundaries, and the Arrow schemas they are stored with.

Every stage reads and writes these dataclasses; Parquet files are written with the declared Arrow
schema of their table so a trainer (or `datasets`) sees the same columns and types in every build.

Shared records live in schemas/records.py and their tables in schemas/tables.py; a dataset kind's
own records and tables live in a module of their own (schemas/refinement.py), found by walking the
package (schemas/spec.py), so adding a kind adds a module and edits no list.
"""

from schemas.records import (
    AspectRating,
    CodeCritique,
    CodeInjection,
    Comparison,
    Contamination,
    DPORecord,
    PairwiseVerdict,
    RatedCompletion,
    UFAnnotation,
    UFAnnotations,
    UFCompletion,
    UltraFeedbackRecord,
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
    SeedProblem,
    Solution,
    StepVerdict,
)
from schemas.spec import TableSpec, collect_tables, kind_modules
from schemas.tables import ASPECTS, BASE_TABLES, TABLES, records_to_table

# Last, once records and tables are whole (a kind's module may import them): every kind module's tables.
TABLES.update(collect_tables(BASE_TABLES, kind_modules()))

__all__ = [
    "ASPECTS",
    "AspectRating",
    "CodeCritique",
    "CodeInjection",
    "Comparison",
    "Contamination",
    "DPORecord",
    "PairwiseVerdict",
    "RatedCompletion",
    "UFAnnotation",
    "UFAnnotations",
    "UFCompletion",
    "UltraFeedbackRecord",
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
    "SeedProblem",
    "Solution",
    "StepVerdict",
    "TABLES",
    "TableSpec",
    "records_to_table",
]


def __getattr__(name: str):
    """A record a kind declares in its own module (`schemas.Refinement` is schemas.refinement's)."""
    from schemas.spec import declared_name

    return declared_name(name, __name__)
