"""The stage registry: what the build, the recipe check, the flow and the card know about each stage,
collected from the declarations next to each stage's code (`STAGE` in synth/stages/<module>.py).

Nothing here is a list of stages: the stage modules are found by walking the synth.stages package,
and every ordering, every table a kind publishes, every model and prompt a stage uses, the
collections `Tables` holds, the filter's inputs and the card's citations are derived from what the
stages declare. A declaration that cannot work (a template or GX suite file that does not exist, a
table no schema describes, a suite whose derived columns nobody computes, a paper without a
reference) raises DeclarationError when this module is imported, before any recipe is read.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import field, make_dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from synth import prompts
from synth.errors import DeclarationError
from synth.stages.base import Collection, Kind, Release, Stage

_PROMPTS = Path(importlib.util.find_spec("synth.prompts").submodule_search_locations[0])
SUITES = Path(importlib.util.find_spec("validation").submodule_search_locations[0]) / "suites"


def _discover() -> list[Stage]:
    import synth.stages as package

    found: list[Stage] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        decl = getattr(module, "STAGE", None)
        if decl is None:
            continue
        if not isinstance(decl, Stage):
            raise DeclarationError(f"{module.__name__}.STAGE is a {type(decl).__name__}, not a synth.stages.base.Stage")
        found.append(decl)
    return sorted(found, key=lambda s: s.order)


def _papers(stages: list[Stage]) -> dict[str, str]:
    from synth.citations import PAPERS

    out = dict(PAPERS)
    for s in stages:
        for key, text in s.papers.items():
            if key in out and out[key] != text:
                raise DeclarationError(f"stage {s.name}: paper {key!r} is already defined with another reference")
            out[key] = text
    return out


def check_declarations(stages: list[Stage]) -> None:
    """Every reason a declaration could fail mid-build, checked now (see the module docstring)."""
    from pydantic import BaseModel

    from schemas import TABLES

    names = [s.name for s in stages]
    problems: list[str] = []
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"stage {dup!r} is declared twice")
    orders = [s.order for s in stages]
    for s in stages:
        if orders.count(s.order) > 1:
            problems.append(f"stage {s.name}: order {s.order} is taken by another stage")
    papers = _papers(stages)
    written: dict[str, type] = {"seeds": object}
    for s in stages:
        for c in s.writes:
            if c.name in written and written[c.name] is not object and written[c.name] is not c.record:
                problems.append(f"stage {s.name}: collection {c.name!r} holds {c.record.__name__}, another stage "
                                f"declares {written[c.name].__name__}")
            written[c.name] = c.record
    kinds = [k for s in stages for k in s.kinds]
    published = {t for k in kinds for t in k.publishes}
    released = {r.table for s in stages for r in s.releases}
    for s in stages:
        where = f"stage {s.name}"
        if s.config is not None and not (isinstance(s.config, type) and issubclass(s.config, BaseModel)
                                         and s.config.model_config.get("extra") == "forbid"):
            problems.append(f"{where}: config must be a pydantic model with extra='forbid' (synth.config._Strict)")
        if s.config is None and s.runs_with is None and s.order != min(orders):
            problems.append(f"{where}: a stage without settings must run with another (runs_with)")
        for t in s.templates:
            if not prompts.exists(t):
                base, _, part = t.partition(".")
                problems.append(f"{where}: prompt template {t!r} not found (neither {{% block {part or 'user'} %}} in "
                                f"{_PROMPTS / (base + '.j2')} nor {_PROMPTS / (t + '.j2')})")
        for r in s.reads:
            if r not in written:
                problems.append(f"{where}: reads {r!r}, which no stage writes")
        for n in (*s.needs, *([s.runs_with] if s.runs_with else [])):
            if n not in names:
                problems.append(f"{where}: needs stage {n!r}, which is not declared")
        for row, keys in (*s.citations.items(), *s.method_citations.items()):
            for k in keys:
                if k not in papers:
                    problems.append(f"{where}: cites {k!r} ({row}), which has no reference (add it to papers=)")
        for rel in s.releases:
            if rel.table not in TABLES:
                problems.append(f"{where}: releases {rel.table!r}, which schemas.TABLES does not describe")
            if rel.filtered is not None and rel.filtered not in written:
                problems.append(f"{where}: filters {rel.filtered!r}, which no stage writes")
            elif rel.filtered is not None:  # the filters see records, and an earlier version's rows
                for what, record in ((f"collection {rel.filtered!r}", written[rel.filtered]),
                                     (f"table {rel.table!r}", getattr(TABLES.get(rel.table), "record_type", None))):
                    if record not in (None, object) and not callable(getattr(record, "text_view", None)):
                        problems.append(f"{where}: filters {what}, but {record.__name__} has no text_view() "
                                        "method saying what dedup and decontamination read (schemas/)")
            for k in rel.citations:
                if k not in papers:
                    problems.append(f"{where}: table {rel.table} cites {k!r}, which has no reference")
            if rel.table in published:
                problems += _suite_problems(where, rel)
    for k in kinds:
        for t in k.publishes:
            if t not in released:
                problems.append(f"kind {k.name}: publishes {t!r}, which no stage releases")
        for group in k.needs:
            for n in group:
                if n not in names:
                    problems.append(f"kind {k.name}: needs stage {n!r}, which is not declared")
    kind_names = [k.name for k in kinds]
    for dup in sorted({n for n in kind_names if kind_names.count(n) > 1}):
        problems.append(f"kind {dup!r} is declared twice")
    if problems:
        raise DeclarationError("incomplete stage declarations (synth/stages/):\n  - " + "\n  - ".join(problems))


def _suite_problems(where: str, rel: Release) -> list[str]:
    from validation.gx_suite import SuiteFileError, suite_index

    try:
        found = suite_index().get(rel.table)
    except SuiteFileError as e:
        return [f"{where}: {e}"]
    if found is None:
        return [f"{where}: table {rel.table!r} is published but has no GX suite (none in {SUITES} names it: "
                f"add {rel.table}.json, or a suite with meta.table = {rel.table!r} to the kind's suite file)"]
    path, suite = found
    derived = [e for e in suite.get("expectations", []) if (e.get("meta") or {}).get("derived")]
    if derived and rel.derive is None:
        return [f"{where}: GX suite {path.name} ({suite.get('name', rel.table)}) checks derived columns "
                f"({', '.join(sorted({e['kwargs'].get('column', '?') for e in derived}))}) but the release "
                f"declares no derive function"]
    return []


STAGES: list[Stage] = _discover()
check_declarations(STAGES)
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
KINDS: dict[str, Kind] = {k.name: k for s in STAGES for k in s.kinds}
PAPERS: dict[str, str] = _papers(STAGES)


def _collections() -> dict[str, Collection]:
    out: dict[str, Collection] = {}
    for s in STAGES:
        for c in s.writes:
            out.setdefault(c.name, c)
    return out


COLLECTIONS: dict[str, Collection] = _collections()
BY_SEED: tuple[str, ...] = tuple(c.name for c in COLLECTIONS.values() if c.by_seed)

def filtered() -> list[tuple[str, tuple[str, ...], str]]:
    """What the filter chain runs over: (collection, the stages that make it, the table an earlier
    version keeps it in), in the order the first of those stages runs."""
    out: dict[str, tuple[list[str], str]] = {}
    for s in STAGES:
        for rel in s.releases:
            if rel.filtered is not None:
                makers, _ = out.setdefault(rel.filtered, ([], rel.table))
                makers.append(s.name)
    return [(c, tuple(makers), table) for c, (makers, table) in out.items()]


# Everything the stages have made so far: one list per declared collection, plus what every stage
# adds to (drops, funnel rows, token usage, the stages that ran). The flow passes it from task to task.
Tables = make_dataclass(
    "Tables",
    [(c.name, list, field(default_factory=list)) for c in COLLECTIONS.values()]
    + [("rejects", list, field(default_factory=list)), ("reports", list, field(default_factory=list)),
       ("usage", list, field(default_factory=list)), ("ran", list, field(default_factory=list))],
    namespace={"__doc__": "Everything the stages have made so far; each stage reads what it needs and adds its own.",
               "__module__": __name__, "BY_SEED": BY_SEED, "FILTERED": tuple(filtered())},
)
Tables.__module__ = __name__  # pickled by reference (Prefect, Ray): synth.registry.Tables


def present(recipe: Any, s: Stage) -> bool:
    """Whether the recipe runs the stage."""
    if s.runs_with is not None:
        return present(recipe, BY_NAME[s.runs_with])
    if s.config is None:
        return True
    return getattr(recipe.stages, s.name) is not None


def stage_names(recipe: Any) -> list[str]:
    """The stages a recipe runs, in order."""
    return [s.name for s in STAGES if present(recipe, s)]


def stage_models(recipe: Any, name: str) -> list:
    """The model specs a stage calls (for scheduling: which stages need the GPU)."""
    return [recipe.models[key] for _, key in BY_NAME[name].models(recipe)]


def prompts_used(recipe: Any) -> list[str]:
    """The prompt templates the recipe's stages render (each stage's in run order)."""
    return [p for s in STAGES if present(recipe, s) for p in s.prompts(recipe)]


def publish_order(kind: str) -> tuple[str, ...]:
    return KINDS[kind].publishes


def releases(recipe: Any, ran: list[str]) -> dict[str, list[Release]]:
    """The tables to write, in the order the stages that ran release them: table -> its releases
    (each release once, whichever of its stages ran first)."""
    out: dict[str, list[Release]] = {}
    for s in STAGES:
        if s.name not in ran:
            continue
        for rel in s.releases:
            if rel.when(recipe) and all(rel is not r for r in out.get(rel.table, [])):
                out.setdefault(rel.table, []).append(rel)
    return out


def derive(table: str) -> Optional[Callable[[Any], Any]]:
    """The function that adds the derived columns the table's GX suite reads (None: none)."""
    return next((r.derive for s in STAGES for r in s.releases if r.table == table and r.derive), None)


def row_citations() -> dict[str, tuple[str, ...]]:
    """Papers per funnel row (a stage's own row, or one it writes such as the filter's blocks)."""
    out: dict[str, tuple[str, ...]] = {}
    for s in STAGES:
        for row, keys in s.citations.items():
            out[row] = tuple(dict.fromkeys((*out.get(row, ()), *keys)))
    return out


def method_citations() -> dict[str, dict[str, tuple[str, ...]]]:
    return {s.name: s.method_citations for s in STAGES}


def table_citations() -> dict[str, tuple[str, ...]]:
    return {r.table: r.citations for s in STAGES for r in s.releases if r.citations}


def kind_tags(kind: str) -> tuple[str, ...]:
    return KINDS[kind].tags
