"""What every stage returns: its records, the records it dropped (with reasons), and its counters."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Callable, Generic, Optional, TypeVar

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


# ---------------------------------------------------------------------------------------------------
# Stage declarations. Each stage module (synth/stages/<stage>.py) declares, next to its code, what the
# build needs to know about it; synth/registry.py collects them and derives every list the build, the
# recipe check, the flow and the card used to keep by hand. As in distilabel, a step declares what
# it reads and writes; as in datatrove, one block does one job and counts what it did (StageReport).


@dataclass(frozen=True)
class Collection:
    """A list of records stages hand on to later stages (a field of `Tables`). Several stages may
    write the same collection (injections: the rules and the teacher); they must agree on its type."""

    name: str
    record: type
    by_seed: bool = True  # the records carry a seed_id: a build in shards merges them in seed order


def _always(recipe: Any) -> bool:
    return True


def _nothing(recipe: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class Release:
    """A table the build writes (schemas.TABLES names it): its rows, made from the collections, the
    recipe settings it is written under, the derived columns its GX suite reads, the papers it
    follows, and the collection the filter stage runs over when this table is what it releases.
    A table released by several stages that ran is their rows in stage order, each release once."""

    table: str
    rows: Callable[[Any, Any], list]  # (BuildContext, Tables) -> records
    when: Callable[[Any], bool] = _always  # (Recipe) -> written or not
    derive: Optional[Callable[[Any], Any]] = None  # pandas DataFrame -> the same with derived columns
    citations: tuple[str, ...] = ()
    filtered: Optional[str] = None  # the Tables collection the filter chain runs over for this table


@dataclass(frozen=True)
class Kind:
    """A kind of dataset: the stages it needs (one of each group), the tables it publishes in the
    order of the card's configs (the first is the default; a table is published when it was
    written), and the card's tags."""

    name: str
    needs: tuple[tuple[str, ...], ...]
    publishes: tuple[str, ...]
    tags: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class Stage:
    """Everything the build knows about one stage.

    `order` places it in the run (stages run in ascending order, each only when the recipe has it);
    `config` is its pydantic settings model (the recipe's `stages.<name>`); `needs` are the stages one
    of which must run before it; `models` and `prompts` give, for a recipe, the model keys it calls
    and the prompt templates it renders (both recorded in lineage), `templates` every prompt part it may
    render (`refine`, `refine.system`, `refine.instruction`: a block of synth/prompts/refine.j2, or a
    file of that name; each checked to exist when it is declared); `citations` the papers per funnel row it writes
    (usually its own name), `method_citations` papers per value of its method setting (the card's
    `stage_methods`), `papers` the reference text of paper keys it introduces; `announce` what the
    flow prints before it runs; `check` cross-field recipe checks (raise ValueError); `kinds` the
    dataset kinds it introduces; `card` a section of the dataset card made from its funnel row."""

    name: str
    order: int
    step: Callable[[Any, Any], Any]  # (BuildContext, Tables) -> Tables
    config: Optional[type] = None
    reads: tuple[str, ...] = ()
    writes: tuple[Collection, ...] = ()
    needs: tuple[str, ...] = ()
    models: Callable[[Any], list[tuple[str, str]]] = _nothing  # (Recipe) -> (field under stages.<name>, model key)
    prompts: Callable[[Any], list[str]] = _nothing
    templates: tuple[str, ...] = ()
    releases: tuple[Release, ...] = ()
    citations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    method_citations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    papers: dict[str, str] = field(default_factory=dict)
    announce: Optional[Callable[[Any, Any], str]] = None  # (BuildContext, Tables) -> a line
    check: Optional[Callable[[Any], None]] = None  # (Recipe) -> None, or ValueError
    kinds: tuple[Kind, ...] = ()
    card: Optional[Callable[[dict], str]] = None  # (its funnel row, from the catalog) -> a card section (Markdown)
    default: bool = False  # present in every recipe (verify's settings apply whenever generate runs)
    runs_with: Optional[str] = None  # runs exactly when that stage does (verify with generate)


def added(t: Any, name: str, result: StageResult, usage: Optional[list] = None, **updates: Any) -> Any:
    """`t` with a stage's records, drops, funnel row and token usage added."""
    from dataclasses import replace

    return replace(t, rejects=t.rejects + result.rejects, reports=t.reports + [result.report],
                   usage=t.usage + list(usage or []), ran=t.ran + [name], **updates)


def with_cache(ctx: Any, run: Callable[[Any], Any]) -> Any:
    """Runs `run(cache)` with the build's response cache open, and closes it after."""
    cache = ctx.response_cache()
    try:
        return run(cache)
    finally:
        if cache:
            cache.close()


def canonical(t: Any) -> Any:
    """Every seed-keyed collection in seed order (stable within a seed), so a build run in shards and
    merged writes exactly what a build run whole writes (the same files, the same fingerprint)."""
    from dataclasses import replace

    pos = {s.seed_id: i for i, s in enumerate(t.seeds)}
    return replace(t, **{name: sorted(getattr(t, name), key=lambda r: pos.get(r.seed_id, len(pos)))
                         for name in t.BY_SEED})
