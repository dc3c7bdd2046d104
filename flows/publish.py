"""`publish-dataset`: a cataloged, validated version to the Hugging Face Hub (synth/publish.py).

The deployment in prefect.yaml runs it with `dry_run` on by default: a run with the default
parameters after the quickstart stages `quickstart-math-pairs` and reports what it staged, and a
real publish is asked for by setting `repo_id` and `dry_run=false`.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional

from flows import run_logs  # first: Prefect environment defaults
from prefect import flow

from synth import console
from synth.access import open_catalog
from synth.paths import sha256_file
from synth.publish import Published, publish


def staged_report(p: Published, files: list[Path]) -> str:
    """What a dry run staged, file by file, as markdown: what would be uploaded, and where it is."""
    folder = Path(p.folder)
    lines = [f"# {p.dataset}@{p.version}: staged, not uploaded (dry run)", "",
             f"Folder `{folder}`; publish it with `repo_id` set and `dry_run` false.", "",
             "| file | bytes | sha256 |", "|---|---:|---|"]
    for f in files:
        lines.append(f"| {f.relative_to(folder)} | {f.stat().st_size:,} | `{sha256_file(f)[:16]}` |")
    return "\n".join(lines)


@flow(name="publish-dataset", log_prints=False, validate_parameters=True)
def publish_dataset(ref: str = "quickstart-math-pairs", repo_id: Optional[str] = None, dry_run: bool = True,
                    data_dir: Optional[str] = None, endpoint: Optional[str] = None) -> dict:
    """NAME@VERSION (or NAME for its latest) to `repo_id` as one commit tagged vX.Y.Z; with `dry_run`,
    only the Hub folder is staged, and reported as a log line and an artifact. The token comes from
    the worker's environment (HF_TOKEN) or its `hf auth login`."""
    from prefect.artifacts import create_markdown_artifact

    with run_logs():
        catalog = open_catalog(data_dir)
        # A deployment's user sets the parameter `repo_id`, not the CLI's --repo: the error says so.
        p = publish(catalog, ref, repo_id, catalog.path.parent / "hub", dry_run=dry_run, endpoint=endpoint,
                    repo_arg="publish-dataset: parameter `repo_id`")
        key = f"publish-{p.dataset}".lower().replace("_", "-").replace(".", "-")
        if dry_run:
            files = sorted(f for f in Path(p.folder).rglob("*") if f.is_file())
            console.step(f"dry run: staged {p.dataset}@{p.version} in {p.folder} ({len(files)} files: "
                         f"{', '.join(str(f.relative_to(p.folder)) for f in files)}); nothing was uploaded")
            create_markdown_artifact(staged_report(p, files), key=key, description=f"staged {p.dataset}@{p.version} (dry run)")
        else:
            console.step(f"published {p.dataset}@{p.version} to {p.repo_id} as {p.tag}, commit {p.commit_oid}")
            create_markdown_artifact(f"# {p.dataset}@{p.version}\n\nPublished to [{p.repo_id}]({p.url}) as "
                                     f"`{p.tag}`, commit `{p.commit_oid}`.", key=key,
                                     description=f"published {p.dataset}@{p.version}")
        return asdict(p)
