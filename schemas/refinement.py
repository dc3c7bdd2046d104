"""The `refinement` kind's record and tables: critiques judged by what a refiner does with them.

A kind's module declares its records, their Arrow schemas and its tables (`TABLE_SPECS`);
schemas.spec finds it by walking the package, so nothing else lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pyarrow as pa

from schemas.records import CritiqueSFTRecord, DPORecord
from schemas.spec import TableSpec, arrow_schema
from schemas.tables import CRITIQUE_SFT_SCHEMA, DPO_SCHEMA


@dataclass(frozen=True)
class Refinement:
    """A solution revised by a refiner model given a critique (or, for the baseline, no critique), the
    revision checked as any solution is (answer against gold, or the tests in the sandbox): a critique
    is worth what its revision does (RealCritic, Tang et al. 2025; CTRL, Xie et al. 2025)."""

    refinement_id: str
    seed_id: str
    target_id: str  # the solution revised
    problem: str
    solution: str  # as the refiner saw it (numbered steps, or the program)
    solution_correct: bool
    critique_id: Optional[str]  # None: the no-critique baseline
    critique: str  # empty for the baseline
    critic_model: str  # empty for the baseline
    refiner_model: str
    revision: str
    finish_reason: str  # the revision's: a revision cut off at max_tokens has only the answers it stated
    revision_answer: Optional[str]  # the final answer read, or the program extracted
    revision_status: str  # correct | incorrect | no_answer | ambiguous
    revision_correct: bool
    outcome: str  # fixed | broke | kept_correct | still_incorrect
    utility: int  # +1 fixed, -1 broke, 0 otherwise: the critique's measured effect on this solution

    def text_view(self) -> tuple[str, str, list[str]]:
        """Seen by dedup and decontamination as the problem and solution revised (the prompt), and the
        critique and revision (the response; the baseline has no critique)."""
        return (self.refinement_id, f"{self.problem}\n\n{self.solution}",
                ["\n\n".join(x for x in (self.critique, self.revision) if x)])


REFINEMENT_SCHEMA = arrow_schema(
    ("refinement_id", pa.string(), False), ("seed_id", pa.string(), False), ("target_id", pa.string(), False),
    ("problem", pa.string(), False), ("solution", pa.string(), False), ("solution_correct", pa.bool_(), False),
    ("critique_id", pa.string(), True), ("critique", pa.string(), False), ("critic_model", pa.string(), False),
    ("refiner_model", pa.string(), False), ("revision", pa.string(), False), ("finish_reason", pa.string(), False),
    ("revision_answer", pa.string(), True),
    ("revision_status", pa.string(), False), ("revision_correct", pa.bool_(), False), ("outcome", pa.string(), False),
    ("utility", pa.int32(), False),
)

TABLE_SPECS = (
    TableSpec("refinements", Refinement, REFINEMENT_SCHEMA,
              "Solutions revised given a critique (and without one, the baseline), each revision checked: "
              "fixed, broke, kept correct or still incorrect."),
    TableSpec("refine_sft", CritiqueSFTRecord, CRITIQUE_SFT_SCHEMA,
              "Self-correction SFT: instruction, input (problem and solution), output (critique, then the "
              "revision it led to, when that revision is correct)."),
    TableSpec("critique_pairs", DPORecord, DPO_SCHEMA,
              "Preference pairs between critiques of the same solution: chosen led to a correct revision, "
              "rejected did not."),
)
