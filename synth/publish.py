"""Publishes a cataloged version to the Hugging Face Hub as one commit and a `vX.Y.Z` tag.

The folder (card rendered from the catalog, and the published Parquet files) is staged first; with
`dry_run` that is all. Otherwise, so that a failure at any point leaves the repo's `main` as it was:
1. the version is committed, in one commit, to a staging branch made from `main`'s head;
2. the tag is put on that commit;
3. `main` gets the same files in one commit whose parent must be the head we started from (a
   concurrent push makes it fail rather than be overwritten);
4. the staging branch is deleted. If 1-3 fail, the tag and branch are removed and nothing is
   recorded; only after all of them does the catalog record the commit and the tag.
The token comes from the environment (HF_TOKEN) or the user's `hf auth login`, through
huggingface_hub itself; synth never reads, logs or writes it.
"""

from __future__ import annotations

import shutil
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from catalog import Catalog
from synth.errors import SynthError


@dataclass(frozen=True)
class Published:
    dataset: str
    version: str
    folder: str
    repo_id: Optional[str] = None
    commit_oid: Optional[str] = None
    tag: Optional[str] = None
    url: Optional[str] = None


def stage_folder(catalog: Catalog, dataset: str, version: str, out_root: Path) -> Path:
    """The Hub folder of a version: README.md (the card, from the catalog) and the published files
    under data/<table>/. Written to a temporary name and renamed, so a folder is never half there."""
    from synth.card import render_card
    from synth.pipeline import PUBLISH_ORDER

    info = catalog.version_info(dataset, version)
    out = out_root / dataset / f"v{version}"
    tmp = out.with_name(out.name + f".tmp-{secrets.token_hex(3)}")
    for f in info["files"]:
        if f["published"]:
            src = Path(f["path"])
            if not src.exists():
                raise SynthError(f"{dataset}@{version}: file {src} is gone from disk; restore it or rebuild")
            dest = tmp / "data" / f["table_name"] / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    changes = None
    if info["parent_version"]:
        from synth.access import diff

        changes = diff(catalog, f"{dataset}@{info['parent_version']}", f"{dataset}@{version}")
    (tmp / "README.md").write_text(render_card(info, PUBLISH_ORDER[info["dataset_row"]["kind"]], changes))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def publish(catalog: Catalog, ref: str, repo_id: Optional[str], out_root: Path, dry_run: bool = False,
            endpoint: Optional[str] = None, private: bool = False) -> Published:
    dataset, version = catalog.resolve(ref)
    info = catalog.version_info(dataset, version)
    if not info["validation_passed"]:
        failed = [v["table_name"] for v in info["validations"] if not v["success"]]
        raise SynthError(f"{dataset}@{version} failed validation ({', '.join(failed)}) and is not published; "
                         f"see `synth catalog show {dataset}@{version}`, fix the recipe and build again")
    folder = stage_folder(catalog, dataset, version, out_root)
    if dry_run:
        return Published(dataset, version, str(folder))
    if not repo_id or repo_id.count("/") != 1:
        raise SynthError(f"--repo must be ORG/NAME, got {repo_id!r}")
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(endpoint=endpoint)
    tag = f"v{version}"
    staging = f"synth-staging-{tag}-{secrets.token_hex(3)}"
    try:
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        if any(t.name == tag for t in refs.tags):
            raise SynthError(f"{repo_id} already has tag {tag}: versions are immutable; publish a new version")
        head = next(b.target_commit for b in refs.branches if b.name == "main")
        local = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        remote = api.list_repo_files(repo_id, repo_type="dataset", revision=head)
        stale = [p for p in remote if p not in local and p != ".gitattributes"]

        def operations() -> list:  # an operation object serves one commit only
            return ([CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(folder / p)) for p in local]
                    + [CommitOperationDelete(path_in_repo=p) for p in stale])
    except SynthError:
        raise
    except Exception as e:
        raise SynthError(f"publishing {dataset}@{version} to {repo_id} failed before anything was uploaded: {e}") from None
    message = f"{dataset} {tag}"
    description = f"synth dataset {dataset} version {version}, fingerprint {info['fingerprint']}"
    made_tag = made_branch = False
    try:
        api.create_branch(repo_id, branch=staging, revision=head, repo_type="dataset")
        made_branch = True
        staged = api.create_commit(repo_id, operations(), commit_message=message, commit_description=description,
                                   repo_type="dataset", revision=staging, parent_commit=head)
        api.create_tag(repo_id, tag=tag, revision=staged.oid, tag_message=message, repo_type="dataset")
        made_tag = True
        final = api.create_commit(repo_id, operations(), commit_message=message, commit_description=description,
                                  repo_type="dataset", revision="main", parent_commit=head)
    except Exception as e:
        for undo, done in ((lambda: api.delete_tag(repo_id, tag=tag, repo_type="dataset"), made_tag),
                           (lambda: api.delete_branch(repo_id, branch=staging, repo_type="dataset"), made_branch)):
            if done:
                try:
                    undo()
                except Exception:  # the error that matters is the one below
                    pass
        raise SynthError(f"publishing {dataset}@{version} to {repo_id} failed; main is unchanged and the catalog "
                         f"records nothing: {e}") from None
    try:
        api.delete_branch(repo_id, branch=staging, repo_type="dataset")
    except Exception:
        pass  # a leftover staging branch holds the same commit as the tag; harmless
    catalog.record_publication(dataset, version, repo_id, api.endpoint, final.oid, tag)
    return Published(dataset, version, str(folder), repo_id, final.oid, tag, final.commit_url)
