"""The recipe reference (docs/recipe-reference.md), generated from the pydantic models of
synth/recipe.py so it cannot drift from what a recipe accepts: every field, its type, default and
meaning. `synth recipe reference --out docs/recipe-reference.md` writes it; a test checks the
committed file is up to date."""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from synth import recipe as R
from synth import registry


def _type(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map {_type(args[0])} → {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return getattr(annotation, "__name__", str(annotation)).replace("Path", "path")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "`{}`" if isinstance(value, BaseModel) else f"`{value}`"
    if field.default is PydanticUndefined:
        return "**required**"
    return f"`{field.default}`"


def _models(model: type[BaseModel], seen: list[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.append(model)
    for f in model.model_fields.values():
        for m in R._models_in(f.annotation):
            _models(m, seen)


def _doc(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").strip()
    return "" if doc.startswith(("Usage docs", "!!!")) or not doc else " ".join(doc.split())


def reference() -> str:
    seen: list[type[BaseModel]] = []
    _models(R.Recipe, seen)
    out = ["# Recipe reference", "",
           "Generated from the pydantic models in `synth/recipe.py` by `synth recipe reference --out "
           "docs/recipe-reference.md`; do not edit by hand. Unknown fields are errors everywhere. Relative "
           "paths are taken from the recipe's folder.", ""]
    for model in seen:
        out += [f"## {model.__name__}", ""]
        if _doc(model):
            out += [_doc(model), ""]
        out += ["| field | type | default | meaning |", "|---|---|---|---|"]
        for name, f in model.model_fields.items():
            meaning = " ".join((f.description or "").split()).replace("|", "\\|")
            out.append(f"| `{name}` | {_type(f.annotation)} | {_default(f)} | {meaning} |")
        out.append("")
    out += ["## Seed formats and their columns", "",
            "| format | columns read (part: column) | parts a row must have |", "|---|---|---|"]
    for fmt, cols in R.FORMAT_COLUMNS.items():
        out.append(f"| `{fmt}` | {', '.join(f'{k}: `{v}`' for k, v in cols.items())} | {', '.join(R.FORMAT_NEEDS[fmt])} |")
    out += _stages_and_kinds()
    out += ["", "## Prompt templates", "",
            "Prompts are Jinja2 templates in `synth/prompts/`: one file `NAME.j2` holding each part as a block "
            "(`{% block system %}`, `{% block user %}`, and any other part the stage renders, named `NAME.PART`), "
            "or, for older prompts, one file per part (`NAME.j2`, with an optional `NAME.system.j2`); a stage's "
            "`prompt` field names one. To use your own wording, edit the template or add one beside "
            "it: the template's sha256 is recorded in the version's lineage and is part of the response "
            "cache key, so a changed prompt never reuses old answers.", ""]
    return "\n".join(out)


def _stages_and_kinds() -> list[str]:
    """The run order and the kinds, from the stage declarations (synth/registry.py)."""
    out = ["", "## Stages in run order", "",
           "Each runs only when the recipe has it (`stages.<name>`); from the declarations in `synth/stages/`.", "",
           "| stage | reads | writes | releases | prompts |", "|---|---|---|---|---|"]
    for s in registry.STAGES:
        cells = [", ".join(f"`{x}`" for x in xs) or "-" for xs in
                 (s.reads, [c.name for c in s.writes], [r.table for r in s.releases], s.templates)]
        out.append(f"| `{s.name}` | " + " | ".join(cells) + " |")
    out += ["", "## Dataset kinds", "", "| kind | needs | publishes (card order) |", "|---|---|---|"]
    for k in registry.KINDS.values():
        out.append(f"| `{k.name}` | {k.description} | {', '.join(f'`{t}`' for t in k.publishes)} |")
    return out
