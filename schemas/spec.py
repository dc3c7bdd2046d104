"""What a stored table is (`TableSpec`), and how the tables are found: every module of this package
that declares `TABLE_SPECS` adds its tables, so a new dataset kind is one module (its records, its
Arrow schemas, its tables: `schemas/refinement.py`) and no list here or anywhere else names it.

A declaration that cannot work (two tables of one name, a record whose fields are not its schema's
columns) raises DeclarationError when the package is imported, naming the module and the table,
before anything is built. This module imports nothing of the package's records.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any, Iterable, Type

import pyarrow as pa

from synth.errors import DeclarationError

STEPS = pa.list_(pa.string())
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))

# The package's own modules: everything else in schemas/ is a kind's module, found by walking.
BASE_MODULES = frozenset({"spec", "records", "tables"})


def arrow_schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    """An Arrow schema from (column, type, nullable) triples."""
    return pa.schema([pa.field(name, typ, nullable=nullable) for name, typ, nullable in fields])


@dataclass(frozen=True)
class TableSpec:
    """A stored table: its name (also the dataset config name), record type and Arrow schema.
    A record type the filters run over says how its text is seen with a `text_view()` method
    (record id, prompt, responses); a stored row of the table is seen through the same method."""

    name: str
    record_type: Type[Any]
    schema: pa.Schema
    description: str


def columns_of(record_type: type) -> list[str]:
    """The columns a record is stored as: its fields, a field named otherwise where its
    `metadata={"column": ...}` says so."""
    return [f.metadata.get("column", f.name) for f in dataclasses.fields(record_type)]


def spec_problems(spec: TableSpec, where: str) -> list[str]:
    """Why a table's record and schema cannot be stored together (empty: they can)."""
    if not dataclasses.is_dataclass(spec.record_type):
        return [f"{where}: table {spec.name!r} takes {spec.record_type!r}, which is not a dataclass"]
    fields, cols = columns_of(spec.record_type), spec.schema.names
    missing = [c for c in fields if c not in cols]
    extra = [c for c in cols if c not in fields]
    if not missing and not extra:
        return []
    said = [f"fields {missing} have no column in its schema" if missing else "",
            f"columns {extra} are no field of the record" if extra else ""]
    return [f"{where}: table {spec.name!r} stores {spec.record_type.__name__}, but "
            + " and ".join(s for s in said if s)]


@lru_cache(maxsize=None)
def kind_modules() -> tuple[ModuleType, ...]:
    """The package's kind modules (every module but the base ones), in name order."""
    package = importlib.import_module(__name__.rpartition(".")[0])  # schemas, by name: no import cycle
    return tuple(importlib.import_module(f"{package.__name__}.{info.name}")
                 for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name)
                 if info.name not in BASE_MODULES and not info.name.startswith("_"))


def collect_tables(base: Iterable[TableSpec], modules: Iterable[ModuleType]) -> dict[str, TableSpec]:
    """The base tables, then each module's `TABLE_SPECS`, checked (see the module docstring)."""
    out: dict[str, TableSpec] = {}
    owner: dict[str, str] = {}
    problems: list[str] = []
    entries = [("schemas.tables", s) for s in base]
    for module in modules:
        declared = getattr(module, "TABLE_SPECS", ())
        if not isinstance(declared, (tuple, list)) or not all(isinstance(s, TableSpec) for s in declared):
            problems.append(f"{module.__name__}.TABLE_SPECS must be a tuple of schemas.spec.TableSpec")
            continue
        entries += [(module.__name__, s) for s in declared]
    for where, spec in entries:
        if spec.name in out:
            problems.append(f"{where}: table {spec.name!r} is already declared in {owner[spec.name]}")
            continue
        problems += spec_problems(spec, where)
        out[spec.name], owner[spec.name] = spec, where
    if problems:
        raise DeclarationError("table declarations that cannot work (schemas/):\n  - " + "\n  - ".join(problems))
    return out


def declared_name(name: str, module: str) -> Any:
    """A name a kind module declares, looked up from an older home (`schemas.records.Refinement`,
    `schemas.tables.REFINEMENT_SCHEMA`), so code written before a kind moved to its own module runs."""
    for m in kind_modules():
        if name in vars(m):
            return vars(m)[name]
    raise AttributeError(f"module {module!r} has no attribute {name!r}")
