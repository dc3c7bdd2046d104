"""The `synth` command line. Every command reports a SynthError as one readable message."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from synth.errors import RecipeError, SeedError, SynthError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="synth: build critique, preference and error-injected datasets.")
recipe_app = typer.Typer(no_args_is_help=True, help="Check recipes.")
model_app = typer.Typer(no_args_is_help=True, help="Prepare models.")
catalog_app = typer.Typer(no_args_is_help=True, help="Read the catalog.")
app.add_typer(recipe_app, name="recipe")
app.add_typer(model_app, name="model")
app.add_typer(catalog_app, name="catalog")

DataDir = typer.Option(None, "--data-dir", help="builds, catalog and hub folders (default: $SYNTH_HOME or ./synth-data)")


def _fail(err: Exception) -> None:
    from synth.console import console

    from rich.markup import escape

    console.print("[red]error:[/] " + escape(str(err)), soft_wrap=True)  # paths stay copyable
    code = 2 if isinstance(err, (RecipeError, SeedError)) else 1
    raise typer.Exit(code)


@app.command()
def build(recipe: Path = typer.Argument(..., help="recipe YAML file"), data_dir: Optional[Path] = DataDir,
          quiet: bool = typer.Option(False, "--quiet", help="no generation progress bar"),
          no_cache: bool = typer.Option(False, "--no-cache",
                                        help="send every request to its backend (no response cache, no resume)")) -> None:
    """Build a dataset version from a recipe: generate, verify, pair, validate, catalog, stage."""
    from synth.pipeline import preflight

    try:
        preflight(recipe)  # a bad recipe or seed file fails here, before Prefect or vLLM start
        from flows.build import build_dataset
        from synth.console import build_summary

        summary = build_dataset(str(recipe), str(data_dir) if data_dir else None, progress=not quiet,
                                use_cache=not no_cache)
        build_summary(summary)
    except SynthError as e:
        _fail(e)


@recipe_app.command("check")
def recipe_check(recipe: Path) -> None:
    """Validate a recipe without running anything."""
    from synth.console import console
    from synth.recipe import load_recipe

    try:
        r, sha = load_recipe(recipe)
    except SynthError as e:
        _fail(e)
    console.print(f"[green]ok[/] {recipe}: dataset {r.name!r}, kind {r.kind}, stages {' → '.join(r.stage_names())}, "
                  f"models {', '.join(r.models) or 'none'} (sha256 {sha[:12]})")


@model_app.command("prepare")
def model_prepare(name: str = typer.Argument("embedded:smollm2-135m-instruct")) -> None:
    """Convert the embedded model into the local cache (done once; builds do it on demand)."""
    from synth.console import console
    from synth.models import resolve_model

    try:
        m = resolve_model(name)
    except SynthError as e:
        _fail(e)
    console.print(f"[green]ready[/] {m.identity} at {m.path_or_name}")


@catalog_app.command("ls")
def catalog_ls(data_dir: Optional[Path] = DataDir) -> None:
    """List dataset versions."""
    from rich.table import Table

    from catalog import Catalog
    from synth.console import console
    from synth.paths import data_dir as default

    path = (data_dir.resolve() if data_dir else default()) / "catalog.duckdb"
    if not path.exists():
        _fail(SynthError(f"no catalog at {path}; build something first: synth build recipes/quickstart.yaml"))
    t = Table()
    for c in ("dataset", "version", "created", "validation", "rows", "fingerprint"):
        t.add_column(c)
    for r in Catalog(path).list_versions():
        t.add_row(r["dataset"], r["version"], str(r["created_at"])[:19], "passed" if r["validation_passed"] else "FAILED",
                  str(r["rows"]), r["fingerprint"][:16])
    console.print(t)


def main() -> None:  # pragma: no cover
    sys.exit(app())
