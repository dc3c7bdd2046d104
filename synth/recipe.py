"""Recipes: what to build, validated in full before anything runs.

A recipe is YAML. Every model is `extra="forbid"` so a misspelt field is an error, not a silently
ignored setting; errors name the field's path and the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal, Optional, get_args

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from synth import registry
from synth.config import (  # noqa: F401  (their old home: importable from here too)
    _no_repeats, _Strict, Sampling, _ModelBase, VLLMModel, OpenAIModel,
    _backend_of, ModelSpec, ProceduralSeeds, SeedFormat, SeedPart, FORMAT_COLUMNS,
    FORMAT_NEEDS, SeedFields, _TableSeeds, FileSeeds, HubSeeds, SeedSpec,
    GenerateStage, VerifyStage, Aspect, ASPECT_NAMES, JudgeStage, ChosenScreen,
    PairStage, ErrorTypeName, ERROR_TYPES, InjectionSource, _InjectBase, InjectStage,
    InjectLLMStage, MCLabelStage, CritiqueTarget, CritiqueStage, BenchmarkSpec, LengthLimits,
    NearDedupSpec, DecontaminateSpec, FilterStage, CodeErrorTypeName, CODE_ERROR_TYPES, CodeInjectStage,
    CodeCritiqueStage, did_you_mean, renamed_fields,
)
from synth.errors import RecipeError


# The recipe's `stages`: one optional field per declared stage (synth/stages/), in run order.
Stages = create_model(
    "Stages", __base__=_Strict, __module__=__name__,
    __doc__="Stages run in this order, each only when present (verify runs whenever generate does).",
    **{s.name: ((s.config, Field(default_factory=s.config)) if s.default else (Optional[s.config], None))
       for s in registry.STAGES if s.config is not None},
)


# Tables a recipe may bound (`gates.min_rows`): those some kind publishes.
TableName = Literal[tuple(dict.fromkeys(t for k in registry.KINDS.values() for t in k.publishes))]


class Gates(_Strict):
    """Recipe-level bounds added to the kind's expectation suite in validation/."""

    min_rows: dict[TableName, int] = Field(default_factory=dict)


PaperKey = Literal[tuple(registry.PAPERS)]


class Publish(_Strict):
    license: str = Field("apache-2.0", description="a Hub licence identifier (apache-2.0, mit, cc-by-4.0, ..., "
                                                   "other); the licence of the data you publish, which must allow "
                                                   "what the seeds' and models' licences require")
    version: Optional[str] = Field(None, pattern=r"^\d+\.\d+\.\d+$",
                                   description="the first version's number; None: 1.0.0, then bumped by the catalog")
    pretty_name: Optional[str] = Field(None, description="the card's title; None: the dataset's name")
    repo: Optional[str] = Field(None, pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$",
                                description="the Hub repo ORG/NAME the card's load snippet names (synth publish "
                                            "--repo names it too)")
    citations: list[PaperKey] = Field(
        default_factory=list, description="papers the recipe follows, cited in the card beside each stage's own")

    @field_validator("license")
    @classmethod
    def _hub_license(cls, value: str) -> str:
        from synth.licenses import check_license

        return check_license(value)


Kind = Literal[tuple(registry.KINDS)]


class Recipe(_Strict):
    """A recipe file: what to build, from which seeds, with which models and stages."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=96,
                      description="the dataset's name in the catalog (lower case, digits, - and _)")
    kind: Kind = Field(description="; ".join(f"{k.name}: {k.description}" for k in registry.KINDS.values()))
    description: str = Field("", description="the card's first paragraph")
    random_seed: int = Field(0, description="the build's random seed: every sampled request's sampling_seed and "
                                            "every seeded choice of the build are derived from it")
    seeds: SeedSpec = Field(description="where the problems come from: type procedural, file or hub")
    models: dict[str, ModelSpec] = Field(default_factory=dict,
                                         description="models by the key stages name them with; backend vllm "
                                                     "(default) or openai")
    stages: Stages = Field(default_factory=Stages, description="the stages to run, each only when present")
    gates: Gates = Field(default_factory=Gates, description="extra validation bounds")
    publish: Publish = Field(default_factory=Publish, description="the card's licence, title, citations, repo")
    shards: int = Field(1, ge=1, le=10_000, description="at least this many seed chunks (smaller chunks when "
                                                        "needed), so the per-seed stages can run as that many tasks "
                                                        "(on Ray with `synth build --runner ray`)")
    chunk_size: int = Field(10_000, ge=1, le=10_000_000,
                            description="seeds per chunk: a build streams its seeds through the stages in chunks, "
                                        "writes each chunk's records at once and resumes after a kill from the last "
                                        "finished chunk; memory grows with it, not with the number of seeds")
    rows_per_file: int = Field(1_000_000, ge=1, description="most rows in one file of a version's table: the files "
                                                           "are <split>-NNNNN-of-MMMMM.parquet")
    workers: int = Field(0, ge=0, le=1024, description="processes running chunks side by side when no stage calls a "
                                                      "model; 0: one per core")
    splits: dict[str, float] = Field(
        default_factory=dict,
        description="held-out splits and their share of the seeds, e.g. {test: 0.05}; the rest is train. Records "
                    "go to the split of their seed (a hash of its id), so no problem is in two splits")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: object) -> object:
        return renamed_fields(data)

    @field_validator("name")
    @classmethod
    def _name_can_be_a_schema(cls, v: str) -> str:
        from catalog.store import RESERVED_SCHEMAS  # the name is the dataset's SQL schema in the catalog

        if v in RESERVED_SCHEMAS:
            raise ValueError(f"{v!r} is reserved by DuckDB, whose catalog schema takes the dataset's name; "
                             f"choose another name")
        return v

    @model_validator(mode="after")
    def _splits_add_up(self) -> "Recipe":
        import re as _re

        for name, share in self.splits.items():
            if name == "train" or not _re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"splits: {name!r} is not a held-out split name (lower case, not 'train': train "
                                 f"is what the other splits leave)")
            if not 0.0 < share < 1.0:
                raise ValueError(f"splits.{name}: share {share} should be between 0 and 1")
        if sum(self.splits.values()) >= 1.0:
            raise ValueError(f"splits: the shares add up to {sum(self.splits.values()):g}, leaving nothing for train")
        return self

    def _need_model(self, where: str, key: str) -> None:
        if key not in self.models:
            known = ", ".join(sorted(self.models)) or "none"
            raise ValueError(f"{where} names {key!r}, which is not under models (have: {known})")

    @model_validator(mode="after")
    def _stages_fit_together(self) -> "Recipe":
        """What the declarations say (synth/stages/): the kind's stages, each stage's earlier stages,
        the models it names, the prompts it renders, and its own checks across settings."""
        ran = registry.stage_names(self)
        present = {s.name for s in registry.STAGES if s.name in ran and not s.default and s.runs_with is None}
        for alternatives in registry.KINDS[self.kind].needs:
            if not present & set(alternatives):
                raise ValueError(f"kind {self.kind} needs stages.{' or stages.'.join(alternatives)}")
        for s in registry.STAGES:
            if s.name in present and s.needs and not present & set(s.needs):
                raise ValueError(f"stages.{s.name} needs stages.{' or stages.'.join(s.needs)} to run before it")
        for s in registry.STAGES:
            if s.name not in present:
                continue
            for where, key in s.models(self):
                self._need_model(f"stages.{s.name}.{where}", key)
            unknown = [p for p in s.prompts(self) if p not in s.templates]
            if unknown:
                raise ValueError(f"stages.{s.name} renders {', '.join(unknown)}, which its declaration does not list "
                                 f"among its templates ({', '.join(s.templates) or 'none'})")
            if s.check is not None:
                s.check(self)
        return self

    def stage_names(self) -> list[str]:
        """The stages this recipe runs, in order (seeds first)."""
        return registry.stage_names(self)


def _format_errors(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: recipe is invalid ({err.error_count()} error{'s' if err.error_count() != 1 else ''}):"]
    for e in err.errors():
        parts = [str(p) for p in e["loc"] if not str(p).startswith(("function-after", "tagged-union"))]
        # Drop the union tags pydantic puts in the path (seeds.procedural.count -> seeds.count).
        if parts[:1] == ["seeds"] and parts[1:2] in (["procedural"], ["file"], ["hub"]):
            del parts[1]
        if parts[:1] == ["models"] and parts[2:3] in (["vllm"], ["openai"]):
            del parts[2]
        loc = ".".join(parts)
        loc = loc or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field" + (_field_suggestion(e["loc"]) or " (check its spelling and nesting)")
        lines.append(f"  - {loc}: {msg}")
    lines.append(f"Fix the recipe, then check it with: synth recipe check {path}")
    return "\n".join(lines)


def load_recipe(path: str | Path) -> tuple[Recipe, str]:
    """Returns the validated recipe and the sha256 of its text. Relative seed paths are taken from the recipe's folder."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    text = path.read_text()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{path}:{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping (name, kind, seeds, models, ...), got {type(data).__name__}")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(_format_errors(e, path)) from None
    recipe, missing = _resolve_paths(recipe, path.parent)
    if missing:
        raise RecipeError(f"{path}: recipe is invalid ({len(missing)} path{'s' if len(missing) != 1 else ''} not "
                          f"found):\n" + "\n".join(f"  - {m}" for m in missing)
                          + f"\nRelative paths are taken from the recipe's folder ({path.parent}).")
    return recipe, hashlib.sha256(text.encode()).hexdigest()


def _resolve_paths(recipe: Recipe, folder: Path) -> tuple[Recipe, list[str]]:
    """The recipe with its seed and benchmark paths made absolute (relative ones are taken from the
    recipe's folder), and every path that does not exist, so one check reports them all."""
    missing: list[str] = []

    def resolved(p: Path, where: str, want_file: bool) -> Path:
        full = p if p.is_absolute() else folder / p
        if not (full.is_file() if want_file else full.exists()):
            missing.append(f"{where}: {'file ' if want_file else ''}not found: {full}")
        return full.resolve()

    flt = recipe.stages.filter
    if flt is not None and flt.decontaminate is not None:
        benches = [b if b.path is None else b.model_copy(update={"path": resolved(
                       b.path, f"stages.filter.decontaminate.benchmarks.{i}.path", want_file=False)})
                   for i, b in enumerate(flt.decontaminate.benchmarks)]
        decon = flt.decontaminate.model_copy(update={"benchmarks": benches})
        stages = recipe.stages.model_copy(update={"filter": flt.model_copy(update={"decontaminate": decon})})
        recipe = recipe.model_copy(update={"stages": stages})
    if isinstance(recipe.seeds, FileSeeds):
        seeds = recipe.seeds.model_copy(update={"path": resolved(recipe.seeds.path, "seeds.path", want_file=True)})
        recipe = recipe.model_copy(update={"seeds": seeds})
    return recipe, missing


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _field_suggestion(loc: tuple) -> str:
    """For an unknown field: the closest field name of the model it sits in."""
    models: list[type[BaseModel]] = [Recipe]
    for part in loc[:-1]:
        inner = [m for model in models if str(part) in model.model_fields
                 for m in _models_in(model.model_fields[str(part)].annotation)]
        models = inner or models  # a list index, a dict key or a union tag stays in the same models
    names = {n for m in models for n in m.model_fields}
    return did_you_mean(str(loc[-1]), names)
