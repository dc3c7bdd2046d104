"""The stage registry: every list the build keeps about its stages comes from the stages' own
declarations; a declaration that cannot work fails when it is imported or when a recipe is checked,
never mid-build; and the code has no import cycles (a cycle is what made the old lists central)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("synth", "flows", "validation", "catalog", "schemas")


# ---- import cycles ---------------------------------------------------------------------------------

def _modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    out = {}
    for pkg in packages:
        for p in (root / pkg).rglob("*.py"):
            name = ".".join(p.relative_to(root).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = p
    return out


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, (ast.Name, ast.Attribute)) and "TYPE_CHECKING" in ast.unparse(node.test)


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of these packages it imports anywhere (at the top or inside a function:
    a lazy import still ties the two modules together), except under `if TYPE_CHECKING:`."""
    mods = _modules(root, packages)

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        skip: set[int] = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node):
                skip |= {id(n) for b in node.body for n in ast.walk(b)}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for n in names:
                target = resolve(n)
                if target and target != mod:
                    graph[mod].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The check below can fail: a lazy import back to a module that imports it is a cycle."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    assert cycles(import_graph(tmp_path, ("pkg",))) == [["pkg.a", "pkg.b"]]


def test_no_import_cycles():
    """Between modules (lazy imports included), and between packages: validation, catalog and
    schemas never import synth or flows, so synth can use them without a cycle."""
    graph = import_graph(REPO)
    assert cycles(graph) == []
    # synth.errors and synth.paths are leaves (the error type every layer raises, the data folder and
    # file hashes): the lower packages may use them as long as they import nothing of the project.
    leaves = {"synth.errors", "synth.paths"}
    for leaf in leaves:
        assert not [t for t in graph.get(leaf, ()) if t.split(".")[0] in ("synth", "flows", "catalog",
                                                                        "validation", "schemas")], leaf
    for low in ("validation", "catalog", "schemas"):
        upward = sorted(f"{m} -> {t}" for m, ts in graph.items() if m.split(".")[0] == low
                        for t in ts if t.split(".")[0] in ("synth", "flows") and t not in leaves)
        assert upward == [], upward


@pytest.mark.parametrize("module", ["synth.config", "synth.stages.base", "synth.stages.refine", "synth.stages.judge",
                                    "synth.registry", "synth.recipe", "synth.card", "synth.access", "validation",
                                    "schemas.refinement", "schemas.spec", "schemas.tables", "synth.filters.text"])
def test_each_module_imports_first_in_a_fresh_interpreter(module):
    """An import-time cycle shows up as an ImportError only when the cycle's other end is imported
    first; each module here is imported first, alone."""
    r = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


# ---- what is derived from the declarations -----------------------------------------------------------

def test_every_list_is_derived_from_the_declarations():
    from synth import pipeline, registry
    from synth.recipe import Recipe, Stages

    names = [s.name for s in registry.STAGES]
    assert list(pipeline.STAGES) == names and names[0] == "seeds" and names[-1] == "filter"
    assert list(Stages.model_fields) == [s.name for s in registry.STAGES if s.config is not None]
    assert set(Recipe.model_fields["kind"].annotation.__args__) == set(registry.KINDS) >= {"refinement"}
    assert pipeline.PUBLISH_ORDER["refinement"] == ("refinements", "refine_sft", "critique_pairs")
    # A release several stages declare is written once (processbench, from inject and from mc_label);
    # two releases of one table add up (critique_sft: the critique and the code_critique rows).
    recipe = _recipe("deepcritic-mc-critique.yaml")
    rels = registry.releases(recipe, [*recipe.stage_names(), "inject", "code_critique"])
    assert len(rels["processbench"]) == 1 and len(rels["critique_sft"]) == 2
    assert list(rels)[:4] == ["seeds", "solutions", "injections", "processbench"]  # in the order the stages run
    assert {c for c, _, _ in registry.Tables.FILTERED} == {"labelled", "critiques", "refinements", "pairs"}


def _recipe(name: str):
    from synth.recipe import load_recipe

    return load_recipe(REPO / "recipes" / name)[0]


# ---- declarations that cannot work --------------------------------------------------------------

def _check(stage):
    from synth import registry

    return registry.check_declarations([*registry.STAGES, stage])


def test_an_incomplete_declaration_is_refused_naming_what_is_missing():
    from synth import registry
    from synth.stages.base import Kind, Release, Stage

    refine = registry.BY_NAME["refine"]
    others = [s for s in registry.STAGES if s.name != "refine"]
    cases = {
        "prompt template 'refine_typo' not found": replace(refine, templates=("refine_typo",)),
        "is published but has no GX suite": replace(
            refine, releases=(*refine.releases, Release("seeds", lambda ctx, t: t.seeds)),
            kinds=(replace(refine.kinds[0], publishes=("refinements", "seeds")),)),
        "which schemas.TABLES does not describe": replace(refine, releases=(Release("refinementz", lambda c, t: []),)),
        "declares no derive function": replace(refine, releases=(replace(refine.releases[0], derive=None),
                                                                  *refine.releases[1:])),
        "publishes 'critique_pairs', which no stage releases": replace(refine, releases=refine.releases[:2]),
        "cites 'ctrl-typo'": replace(refine, citations={"refine": ("ctrl-typo",)}),
        "reads 'critiquez', which no stage writes": replace(refine, reads=("critiquez",)),
        "order 51 is taken": replace(refine, order=51),
    }
    for message, bad in cases.items():
        with pytest.raises(registry.DeclarationError, match=message):
            registry.check_declarations([*others, bad])
    registry.check_declarations(registry.STAGES)  # the real ones pass
    dup = Stage(name="refine2", order=61, step=refine.step,
                kinds=(Kind("refinement", needs=(), publishes=(), tags=(), description=""),))
    with pytest.raises(registry.DeclarationError, match="kind 'refinement' is declared twice"):
        _check(dup)


_BAD_STAGE = '''
from synth.stages.base import Stage, Release, Kind
from synth.stages.refine import RefineStage

def _step(ctx, t):
    return t

STAGE = Stage(name="broken", order=65, step=_step, config=RefineStage, {extra})
'''


def _import_with_extra_stage(tmp_path: Path, extra: str, then: str) -> subprocess.CompletedProcess:
    """A fresh interpreter in which synth/stages/ holds one more module, as a new stage file would."""
    (tmp_path / "zz_broken.py").write_text(textwrap.dedent(_BAD_STAGE).replace("{extra}", extra))
    code = f"import synth.stages; synth.stages.__path__.append({str(tmp_path)!r})\n{then}"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)


def test_a_stage_file_with_a_missing_suite_fails_at_import(tmp_path):
    r = _import_with_extra_stage(
        tmp_path, 'releases=(Release("refinements", lambda c, t: []),), '
                  'kinds=(Kind("broken", needs=(("broken",),), publishes=("refinements",), tags=(), description=""),)',
        "import synth.recipe")
    assert r.returncode != 0
    assert "DeclarationError" in r.stderr and "stage broken: GX suite refinement.json (synth.refinements) checks derived columns" in r.stderr


def test_a_prompt_the_declaration_does_not_list_fails_at_recipe_check(tmp_path):
    """Which template a stage renders can depend on the recipe: `synth recipe check` renders the
    choice against the declared templates, before anything runs."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text((REPO / "recipes" / "refinement-math.yaml").read_text().replace(
        "  refine:\n", "  broken: {model: refiner}\n  refine:\n").replace(
        "seeds/gsm8k", str(REPO / "recipes" / "seeds" / "gsm8k")))
    r = _import_with_extra_stage(
        tmp_path, 'prompts=lambda r: ["refine_v2"], templates=("refine",)',
        f"from synth.recipe import load_recipe\nload_recipe({str(recipe)!r})")
    assert r.returncode != 0
    assert "stages.broken renders refine_v2, which its declaration does not list" in r.stderr


# ---- a new kind is five files ------------------------------------------------------------------------

TOY_FILES = {
    # its stage: settings, step, release, kind
    "synth/stages/toy_notes.py": '''
        """A toy stage: one note per seed problem, written from its prompt (a kind made of five files)."""
        import time
        from typing import Literal

        from schemas.toy import ToyNote
        from synth.config import _Strict
        from synth.prompts import render
        from synth.stages.base import Collection, Kind, Release, Stage, StageReport, StageResult, added


        class ToyNotesStage(_Strict):
            """Notes on each problem."""

            prompt: Literal["toy_notes"] = "toy_notes"


        def toy_step(ctx, t):
            t0 = time.perf_counter()
            notes = [ToyNote(note_id=f"{s.seed_id}-note", seed_id=s.seed_id, problem=s.problem,
                             note=render("toy_notes.note", problem=s.problem)) for s in t.seeds]
            report = StageReport("toy_notes", unit_in="problems", unit_out="notes", n_in=len(t.seeds), n_out=len(notes),
                                 wall_seconds=time.perf_counter() - t0)
            return added(t, "toy_notes", StageResult(notes, [], report), toy_notes=notes)


        STAGE = Stage(
            name="toy_notes", order=63, step=toy_step, config=ToyNotesStage, reads=("seeds",),
            writes=(Collection("toy_notes", ToyNote),), prompts=lambda r: [r.stages.toy_notes.prompt],
            templates=("toy_notes", "toy_notes.note"),
            releases=(Release("toy_notes", lambda ctx, t: t.toy_notes, filtered="toy_notes"),),
            kinds=(Kind("toy", needs=(("toy_notes",),), publishes=("toy_notes",), tags=("toy",),
                        description="toy_notes"),),
        )
    ''',
    # its record and table
    "schemas/toy.py": '''
        from dataclasses import dataclass

        import pyarrow as pa

        from schemas.spec import TableSpec, arrow_schema


        @dataclass(frozen=True)
        class ToyNote:
            note_id: str
            seed_id: str
            problem: str
            note: str

            def text_view(self):
                return self.note_id, self.problem, [self.note]


        TOY_SCHEMA = arrow_schema(("note_id", pa.string(), False), ("seed_id", pa.string(), False),
                                  ("problem", pa.string(), False), ("note", pa.string(), False))
        TABLE_SPECS = (TableSpec("toy_notes", ToyNote, TOY_SCHEMA, "A note on each problem."),)
    ''',
    # its prompt, one block per part
    "synth/prompts/toy_notes.j2": '''
        {% block user %}Write a note on this problem:
        {{ problem }}{% endblock %}
        {% block note %}A note on: {{ problem }}{% endblock %}
    ''',
    # its suites
    "validation/suites/toy.json": '''
        {"suites": [{"name": "synth.toy_notes", "meta": {"table": "toy_notes"}, "expectations": [
          {"type": "expect_table_columns_to_match_set",
           "kwargs": {"column_set": ["note_id", "seed_id", "problem", "note"], "exact_match": true}},
          {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "note", "regex": "^A note on: "}},
          {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "note_id"}}]}]}
    ''',
    # its recipe
    "recipes/toy.yaml": '''
        name: toy-notes
        kind: toy
        seeds: {type: procedural, count: 6, random_seed: 5}
        stages:
          toy_notes: {}
          filter: {}
    ''',
}


def _tree_with_toy_kind(tmp_path: Path) -> Path:
    """A copy of the packages with the toy kind's five files added and nothing else changed."""
    import shutil

    root = tmp_path / "tree"
    for pkg in PACKAGES:
        shutil.copytree(REPO / pkg, root / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, text in TOY_FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip())
    return root


def _run_in(root: Path, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PYTHONPATH": str(root), "SYNTH_HOME": str(tmp_path / "home")}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=600)


_TOY_LISTS = '''
import json, schemas
from schemas.toy import ToyNote
from synth import pipeline, prompts, registry
from synth.filters.text import view, view_of_row
from synth.recipe import Recipe, load_recipe
from validation.gx_suite import suite_index

recipe = load_recipe("recipes/toy.yaml")[0]
note = ToyNote("n1", "s1", "p", "A note on: p")
print(json.dumps({
    "package": schemas.__file__, "tables": list(schemas.TABLES), "kinds": list(Recipe.model_fields["kind"].annotation.__args__),
    "publish": list(pipeline.PUBLISH_ORDER["toy"]), "stages": recipe.stage_names(),
    "prompts": registry.prompts_used(recipe), "suite": str(suite_index()["toy_notes"][0]),
    "collections": list(registry.Tables.__dataclass_fields__), "filtered": [c for c, _, _ in registry.Tables.FILTERED],
    "user": prompts.chat("toy_notes", problem="2 + 2?")[-1].content, "view": view(note).text,
    "row_view": view_of_row("toy_notes", {"note_id": "n1", "seed_id": "s1", "problem": "p", "note": "q"}).text,
}))
'''


def test_a_new_kind_is_five_files_and_no_list(tmp_path):
    """The toy kind's stage, record and table, prompt, suite and recipe, added to a copy of the tree
    and nothing else edited: the recipe check accepts its recipe, and every derived list (tables,
    kinds, publish order, prompts, suites, collections, the filter's inputs) holds it."""
    import json

    root = _tree_with_toy_kind(tmp_path)
    added = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and not (REPO / p.relative_to(root)).exists())
    assert added == sorted(TOY_FILES)  # exactly the five files; every other file is the repository's own

    r = _run_in(root, ["-c", "from synth.cli import app; app()", "recipe", "check", "recipes/toy.yaml"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    said = " ".join((r.stdout + r.stderr).split())  # the console writes to stderr, wrapped
    assert "ok recipes/toy.yaml: dataset 'toy-notes', kind toy, stages seeds → toy_notes → filter" in said, said

    r = _run_in(root, ["-c", _TOY_LISTS], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["package"].startswith(str(root))  # the copy was imported, not the repository
    assert "toy_notes" in got["tables"] and "toy" in got["kinds"] and got["publish"] == ["toy_notes"]
    assert got["stages"] == ["seeds", "toy_notes", "filter"] and got["prompts"] == ["toy_notes"]
    assert got["suite"] == str(root / "validation" / "suites" / "toy.json")
    assert "toy_notes" in got["collections"] and "toy_notes" in got["filtered"]
    assert got["user"] == "Write a note on this problem:\n2 + 2?"
    assert got["view"] == "p\nA note on: p" and got["row_view"] == "p\nq"

    # And it builds (no model: about 20 s): written with its schema, gated by its suite, filtered
    # through its text view, registered and staged with a card that publishes it.
    r = _run_in(root, ["-c", "from synth.cli import app; app()", "build", "recipes/toy.yaml"], tmp_path)
    said = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 0, said[-3000:]
    assert "passed toy_notes: 3/3 expectations passed (synth.toy_notes)" in said
    assert "exact_dedup 6 toy_notes → 6 toy_notes" in said
    staged = tmp_path / "home" / "hub" / "toy-notes" / "v1.0.0"
    assert (staged / "data" / "toy_notes" / "train-00000-of-00001.parquet").is_file()
    card = (staged / "README.md").read_text()
    assert "- config_name: toy_notes" in card and "`toy_notes` with suite `synth.toy_notes`" in card

    # The same files in the repository itself are unknown to it: the copy's lists came from the five files.
    from schemas import TABLES
    from synth import registry

    assert "toy_notes" not in TABLES and "toy" not in registry.KINDS


def test_a_kind_module_that_cannot_work_fails_at_import(tmp_path):
    """A table whose record is not its schema, or a second table of a name, is refused when the
    package is imported, naming the module; so is a filtered record with no text view."""
    root = _tree_with_toy_kind(tmp_path)
    toy = root / "schemas" / "toy.py"
    good = toy.read_text()
    cases = {
        'from schemas.spec import TableSpec, arrow_schema\n': (
            'from schemas.spec import TableSpec, arrow_schema\nfrom schemas.records import Critique\n', None),
        '("note", pa.string(), False))': ('("notes", pa.string(), False))',
                                          "schemas.toy: table 'toy_notes' stores ToyNote, but fields ['note'] have "
                                          "no column in its schema and columns ['notes'] are no field of the record"),
        'TableSpec("toy_notes",': ('TableSpec("critiques",',
                                   "schemas.toy: table 'critiques' is already declared in schemas.tables"),
        "    def text_view(self):\n        return self.note_id, self.problem, [self.note]\n": (
            "", "stage toy_notes: filters collection 'toy_notes', but ToyNote has no text_view() method"),
    }
    for old, (new, message) in cases.items():
        assert old in good, old
        toy.write_text(good.replace(old, new))
        r = _run_in(root, ["-c", "import synth.registry"], tmp_path)
        if message is None:  # the control: the change alone is harmless
            assert r.returncode == 0, r.stderr[-2000:]
            continue
        assert r.returncode != 0 and "DeclarationError" in r.stderr, r.stderr[-2000:]
        assert message in r.stderr, r.stderr[-2000:]
