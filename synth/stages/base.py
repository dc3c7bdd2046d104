"""What every stage returns: its records, the records it dropped (with reasons), and its counters."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Generic, TypeVar

from schemas import Reject

T = TypeVar("T")


@dataclass
class StageReport:
    """One row of the funnel: how many records came in and went out, and why the rest were dropped."""

    stage: str
    unit_in: str
    unit_out: str
    n_in: int = 0
    n_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)  # how kept records were labelled (correct, ...)
    wall_seconds: float = 0.0
    # Outcomes per group (error type, label source): tried, kept and each reason, so keep rates can be
    # reported per type rather than only in total.
    breakdown: dict[str, Counter] = field(default_factory=dict)

    def count(self, group: str, outcome: str, n: int = 1) -> None:
        self.breakdown.setdefault(group, Counter())[outcome] += n

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage, "unit_in": self.unit_in, "unit_out": self.unit_out,
            "n_in": self.n_in, "n_out": self.n_out, "dropped": dict(self.dropped),
            "labels": dict(self.labels), "wall_seconds": round(self.wall_seconds, 3),
            "breakdown": {g: dict(c) for g, c in self.breakdown.items()},
        }


@dataclass
class StageResult(Generic[T]):
    records: list[T]
    rejects: list[Reject]
    report: StageReport


def reject(report: StageReport, rejects: list[Reject], record_id: str, reason: str, detail: str = "",
           record: Any = None) -> None:
    """Counts a drop and keeps the dropped record, so a drop is never silent."""
    report.dropped[reason] += 1
    if is_dataclass(record):
        payload = json.dumps(asdict(record), default=str)
    else:
        payload = json.dumps(record, default=str) if record is not None else ""
    rejects.append(Reject(stage=report.stage, record_id=record_id, reason=reason, detail=detail, payload=payload))
