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

def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"synth {version('synth')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            print("synth (not installed: pip install -e .)")
        raise typer.Exit()


@app.callback()
def _main(show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                            help="print synth's version and exit")) -> None:
    """synth: build critique, preference and error-injected datasets."""


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
                                        help="send every request to its backend (no response cache, no resume)"),
          runner: str = typer.Option("local", "--runner", help="local, or ray: the recipe's chunks of seeds run as "
                                                               "tasks on Ray (prefect-ray)"),
          ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                                    help="a Ray cluster (default: start a local Ray instance)")) -> None:
    """Build a dataset version from a recipe: generate, verify, pair, validate, catalog, stage."""
    from synth.pipeline import preflight

    try:
        preflight(recipe)  # a bad recipe or seed file fails here, before Prefect or vLLM start
        from synth.access import check_data_dir

        check_data_dir(data_dir, use_cache=not no_cache)  # so does a damaged catalog or response cache
        from flows.build import run_build

        if runner not in ("local", "ray"):
            raise SynthError(f"--runner must be local or ray, got {runner!r}")
        run_build(str(recipe), str(data_dir) if data_dir else None, progress=not quiet,  # prints its summary
                  use_cache=not no_cache, runner=runner, ray_address=ray_address)
    except SynthError as e:
        _fail(e)


@recipe_app.command("check")
def recipe_check(recipe: Path) -> None:
    """Validate a recipe without running anything."""
    from synth.console import console
    from synth.recipe import load_recipe

    from synth.pipeline import check_sources

    try:
        r, sha = load_recipe(recipe)
        problems = check_sources(r)  # the first rows of every seed and benchmark source, read as a build would
        if problems:
            raise SeedError(f"{recipe}: cannot read the recipe's data ({len(problems)} problem"
                            f"{'s' if len(problems) != 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems)
                            + f"\nFix them, then check again: synth recipe check {recipe}")
    except SynthError as e:
        _fail(e)
    console.print(f"[green]ok[/] {recipe}: dataset {r.name!r}, kind {r.kind}, stages {' → '.join(r.stage_names())}, "
                  f"models {', '.join(r.models) or 'none'} (sha256 {sha[:12]})")


@recipe_app.command("reference")
def recipe_reference(out: Optional[Path] = typer.Option(None, "--out", help="write it here (default: print it)")) -> None:
    """The recipe reference: every recipe field with its type, default and meaning, from the models."""
    from synth.reference import reference

    text = reference()
    if out is None:
        print(text)
    else:
        out.write_text(text + "\n")


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
    try:
        cat = Catalog(path)
        cat.check()
        versions = cat.list_versions()
    except SynthError as e:
        _fail(e)
    for r in versions:
        t.add_row(r["dataset"], r["version"], str(r["created_at"])[:19], "passed" if r["validation_passed"] else "FAILED",
                  str(r["rows"]), r["fingerprint"][:16])
    console.print(t)


@catalog_app.command("sql")
def catalog_sql(query: str = typer.Argument(..., help='e.g. SELECT count(*) FROM "quickstart-math-pairs".pairs'),
                data_dir: Optional[Path] = DataDir,
                as_json: bool = typer.Option(False, "--json", help="one JSON object per row")) -> None:
    """Run one read-only SELECT on the catalog: its tables, and a view per dataset version
    ("<dataset>".<table>_vX_Y_Z; "<dataset>".<table> is the latest), reading the registered Parquet
    files in place, each checked against its sha256 first. Nothing can be written."""
    import json

    from rich.table import Table

    from synth.access import open_catalog
    from synth.console import console

    try:
        rows = open_catalog(data_dir).user_query(query)
    except SynthError as e:
        _fail(e)
    except Exception as e:  # duckdb's own errors name the problem in the query
        _fail(SynthError(f"query failed: {e}"))
    if as_json:
        for r in rows:
            print(json.dumps(r, default=str))
        return
    t = Table()
    for c in (rows[0].keys() if rows else []):
        t.add_column(c)
    for r in rows[:200]:
        t.add_row(*(str(v)[:80] for v in r.values()))
    console.print(t)
    console.print(f"{len(rows)} rows" + (" (first 200 shown; --json prints all)" if len(rows) > 200 else ""))


@catalog_app.command("show")
def catalog_show(ref: str = typer.Argument(..., help="NAME or NAME@VERSION"), data_dir: Optional[Path] = DataDir) -> None:
    """One version: identity, recipe, files, validation, funnel, lineage, publications."""
    from catalog.store import schema_name, view_name
    from synth.access import open_catalog
    from synth.console import console

    try:
        cat = open_catalog(data_dir)
        name, version = cat.resolve(ref)
        info = cat.version_info(name, version)
    except SynthError as e:
        _fail(e)
    console.print(f"[bold]{name}@{version}[/]  kind {info['dataset_row']['kind']}  created {str(info['created_at'])[:19]}")
    console.print(f"  fingerprint {info['fingerprint']}  parent {info['parent_version'] or '-'}  "
                  f"recipe sha256 {info['recipe_sha256'][:16]}  build {info['build_id']}")
    console.print(f"  validation {'passed' if info['validation_passed'] else 'FAILED'}")
    for v in info["validations"]:
        console.print(f"    {v['table_name']}: {v['evaluated'] - v['failed']}/{v['evaluated']} expectations passed")
    console.print("  files (table, rows, bytes, published, sha256, view, on disk):")
    checks = {c.path: c for c in cat.file_checks(name, version)}
    for f in info["files"]:
        c = checks[f["path"]]
        state = "ok" if c.status == "ok" else f"[red]{c.status.upper()}[/] ({c.detail}): {f['path']}"
        console.print(f"    {f['table_name']:<14} {f['rows']:>8} {f['bytes']:>10}  {'yes' if f['published'] else 'no ':<3} "
                      f"{f['sha256'][:16]}  \"{schema_name(name)}\".{view_name(f['table_name'], version)}  {state}")
    bad = [c for c in checks.values() if c.status != "ok"]
    if bad:
        console.print(f"  [red]{len(bad)} file(s) missing or changed[/]: {cat.damage_message(bad)}", soft_wrap=True)
    console.print("  funnel:")
    for f in info["funnel"]:
        drops = ", ".join(f"{k}: {n}" for k, n in f["dropped"].items()) or "-"
        console.print(f"    {f['stage']:<14} {f['n_in']} {f['unit_in']} → {f['n_out']} {f['unit_out']}  dropped {drops}")
    console.print("  lineage:")
    for l in info["lineage"]:
        console.print(f"    {l['source_kind']}: {l['source']}")
    for p in info["publications"]:
        console.print(f"  published to {p['repo_id']} ({p['endpoint']}) as {p['tag']}, commit {p['commit_oid']}")


@catalog_app.command("diff")
def catalog_diff(a: str = typer.Argument(..., help="NAME@VERSION"), b: str = typer.Argument(..., help="NAME@VERSION"),
                 data_dir: Optional[Path] = DataDir) -> None:
    """What changed from A to B: rows per table, schema changes, funnel changes, rows added and removed."""
    from synth.access import diff, open_catalog
    from synth.console import console

    try:
        d = diff(open_catalog(data_dir), a, b)
    except SynthError as e:
        _fail(e)
    console.print(f"[bold]{d['a']} → {d['b']}[/]  content {'identical' if d['same_content'] else 'differs'}, "
                  f"recipe {'changed' if d['recipe_changed'] else 'unchanged'}")
    for t in d["tables"]:
        line = f"  {t['table']:<14} rows {t['rows_a']} → {t['rows_b']}"
        if "rows_added" in t:
            line += f"  (+{t['rows_added']} / -{t['rows_removed']} rows by content)"
            for c in t["columns_added"]:
                line += f"  +column {c}"
            for c in t["columns_removed"]:
                line += f"  -column {c}"
            for c, (x, y) in t["types_changed"].items():
                line += f"  {c}: {x} → {y}"
        console.print(line)
    for s in d["funnel"]:
        console.print(f"  funnel {s['stage']}: {s['a']} → {s['b']} (in, out); dropped {s['dropped_a']} → {s['dropped_b']}")


@app.command("publish")
def publish_cmd(ref: str = typer.Argument(..., help="NAME@VERSION (or NAME: its latest version)"),
                repo: Optional[str] = typer.Option(None, "--repo", help="the Hub dataset repo, ORG/NAME"),
                dry_run: bool = typer.Option(False, "--dry-run", help="stage the folder only; upload nothing"),
                endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Hub URL (default: HF_ENDPOINT or huggingface.co)"),
                private: bool = typer.Option(False, "--private", help="create the repo private"),
                data_dir: Optional[Path] = DataDir) -> None:
    """Publish a validated version: one commit with the card and files, tagged vX.Y.Z. The token comes
    from HF_TOKEN or `hf auth login`, never from synth's files."""
    from synth.access import open_catalog
    from synth.console import console
    from synth.publish import publish

    try:
        cat = open_catalog(data_dir)
        p = publish(cat, ref, repo, cat.path.parent / "hub", dry_run=dry_run, endpoint=endpoint, private=private)
    except SynthError as e:
        _fail(e)
    if dry_run:
        console.print(f"[green]staged[/] {p.dataset}@{p.version} in {p.folder} (nothing uploaded)")
    else:
        for line in p.checked:
            console.print(f"  {line}", soft_wrap=True)
        console.print(f"[green]published[/] {p.dataset}@{p.version} to {p.repo_id} as {p.tag}, commit {p.commit_oid}")


@catalog_app.command("verify")
def catalog_verify(ref: Optional[str] = typer.Argument(None, help="NAME or NAME@VERSION (default: every version)"),
                   data_dir: Optional[Path] = DataDir) -> None:
    """Check every registered file (of a dataset, or of one version) against the size and sha256 the
    catalog records; exits 1 when a file is missing or changed."""
    from synth.access import open_catalog
    from synth.console import console

    try:
        cat = open_catalog(data_dir)
        name = version = None
        if ref:
            name, version = cat.resolve(ref) if "@" in ref else (cat.resolve(ref)[0], None)
        checks = cat.file_checks(name, version)
    except SynthError as e:
        _fail(e)
    bad = [c for c in checks if c.status != "ok"]
    for c in bad:
        console.print(f"[red]{c.status}[/] {c.dataset}@{c.version} {c.table}: {c.path} ({c.detail})", soft_wrap=True)
    versions = len({(c.dataset, c.version) for c in checks})
    if bad:
        _fail(SynthError(cat.damage_message(bad)))
    console.print(f"[green]ok[/] {len(checks)} files of {versions} version(s) hold the registered bytes")


@app.command("compile")
def compile_cmd(status: bool = typer.Option(False, "--status", help="only say whether a build matches the sources")) -> None:
    """Compile the CPU-bound stages (injection, its checks, the answer reader) to C with mypyc: about
    30% less CPU per seed in model-free builds, the same records (synth/native.py). scripts/install.sh
    runs it; after editing those modules, run it again (a build of other sources is never loaded)."""
    from synth import native
    from synth.console import console

    folder = native.usable_build()
    if status or folder is not None:
        console.print(f"compiled build for these sources: {folder}" if folder else
                      "no compiled build for these sources: synth runs them as Python (run `synth compile`)",
                      soft_wrap=True)
        return
    console.print(f"compiling {len(native.MODULES)} modules with mypyc (about 20 s on 2 cores)")
    try:
        folder = native.build()
    except (RuntimeError, OSError) as e:
        from rich.markup import escape

        console.print("[red]error:[/] " + escape(f"{e}\nsynth runs these modules as Python: the same records, "
                                                 "slower."), soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"[green]ok[/] compiled modules in {folder}", soft_wrap=True)


@app.command("gc")
def gc_cmd(dry_run: bool = typer.Option(False, "--dry-run", help="list what would be removed; remove nothing"),
           data_dir: Optional[Path] = DataDir) -> None:
    """Remove what killed builds and stagings left: build folders the catalog does not know and that no
    running build holds, and half-staged Hub folders. Lists each; registered data is never touched."""
    from synth.console import console
    from synth.gc import collect
    from synth.paths import data_dir as default

    root = data_dir.resolve() if data_dir else default()
    try:
        found = collect(root, dry_run=dry_run)
    except SynthError as e:
        _fail(e)
    verb = "would remove" if dry_run else "removed"
    for f in found:
        console.print(f"{verb} {f.kind} {f.path} ({f.bytes:,} bytes): {f.reason}", soft_wrap=True)
    total = sum(f.bytes for f in found)
    console.print(f"{verb} {len(found)} item(s), {total:,} bytes" if found else f"nothing to remove under {root}")


# ---- the viewer and human review (synth/view/) ----------------------------------------------------

review_app = typer.Typer(no_args_is_help=True, help="Human review of a version's records.")
app.add_typer(review_app, name="review")


@app.command("view")
def view_cmd(ref: Optional[str] = typer.Argument(None, help="NAME or NAME@VERSION to open (default: the catalog)"),
             port: int = typer.Option(8765, "--port", help="port on 127.0.0.1"),
             reviewer: str = typer.Option("", "--reviewer", help="the name reviews are stored under (default: $USER)"),
             data_dir: Optional[Path] = DataDir) -> None:
    """Browse the catalog and its versions in a local web app on 127.0.0.1 (no account, no internet),
    and review records: accept, reject with a reason, relabel, comment."""
    from synth.access import open_catalog
    from synth.console import console
    from synth.view.app import serve

    try:
        cat = open_catalog(data_dir)
        path, opened = "/", None
        if ref:
            name, version = cat.resolve(ref)
            cat.version_info(name, version)  # an unknown version fails here, not in the browser
            from synth.view.app import Viewer

            path, opened = Viewer.url("d", name, version), (name, version)
        console.print(f"synth viewer on [bold]http://127.0.0.1:{port}{path}[/] (Ctrl-C stops it)", soft_wrap=True)
        serve(cat.path, port=port, reviewer=reviewer, open_version=opened)
    except SynthError as e:
        _fail(e)


@review_app.command("apply")
def review_apply(ref: str = typer.Argument(..., help="NAME@VERSION that was reviewed"),
                 data_dir: Optional[Path] = DataDir) -> None:
    """Make a new version from a reviewed one: rejected records dropped (kept in rejects with reason
    human_review), relabels applied to the records and the configs made from them; validated,
    registered with lineage to the reviewed version, and staged with its card."""
    from synth.access import open_catalog
    from synth.console import console
    from synth.view.review import apply

    try:
        cat = open_catalog(data_dir)
        done = apply(cat, ref, cat.path.parent)
    except SynthError as e:
        _fail(e)
    if done.registered is None:
        console.print(done.message)
        return
    r = done.registered
    console.print(f"{done.summary.sentence()}")
    state = "registered" if r.new else "matched the existing"
    console.print(f"[green]{state}[/] {r.dataset}@{r.version} (validation {'passed' if r.validation_passed else 'FAILED'}): "
                  f"{done.dropped} record(s) dropped as human_review, {done.relabelled} relabelled"
                  + (f"; staged in {done.hub_dir}" if done.hub_dir else ""), soft_wrap=True)
    if not r.validation_passed:
        _fail(SynthError(f"{r.dataset}@{r.version} failed validation; see: synth catalog show {r.dataset}@{r.version}"))


@review_app.command("ls")
def review_ls(ref: str = typer.Argument(..., help="NAME or NAME@VERSION"), data_dir: Optional[Path] = DataDir) -> None:
    """A version's reviews, newest last, and how often reviewers agreed with the automatic labels."""
    from synth.access import open_catalog
    from synth.console import console
    from synth.view.review import summarize

    try:
        cat = open_catalog(data_dir)
        name, version = cat.resolve(ref)
        cat.version_info(name, version)
        reviews = cat.reviews(name, version)
    except SynthError as e:
        _fail(e)
    for h in reviews:
        label = f" {h['label_field']}: {h['old_value']} → {h['new_value']}" if h["label_field"] else ""
        console.print(f"{str(h['created_at'])[:19]}  {h['reviewer']}  {h['table_name']}/{h['record_id']}  "
                      f"{h['decision']}{(' (' + h['reason'] + ')') if h['reason'] else ''}{label}"
                      f"{('  ' + h['comment']) if h['comment'] else ''}", soft_wrap=True, markup=False)
    console.print(f"{name}@{version}: {summarize(reviews).sentence()}")


def main() -> None:  # pragma: no cover
    sys.exit(app())
