"""Publishes a cataloged version to the Hugging Face Hub as one commit and a `vX.Y.Z` tag, as a
protocol that any interruption leaves recoverable.

The folder (card rendered from the catalog, the published Parquet files, each copy checked against
the catalog's sha256) is staged first, under a lock per version so concurrent stagings and
publishes of one version take turns; with `dry_run` that is all. Otherwise:
0. the attempt is recorded in the catalog (`publish_attempts`) before the first request, and each
   step below updates it (staging branch, base commit, staged commit);
1. the version is committed, in one commit, to a staging branch made from `main`'s head;
2. the tag is put on that commit;
3. `main` gets the same files in one commit whose parent must be the head we started from (a
   concurrent push makes it fail rather than be overwritten);
4. the staging branch is deleted and the catalog records the publication.
When a step fails, what the Hub holds is read back before anything is said: a main commit that
landed although its answer was lost is kept and recorded; otherwise the tag and branch are removed
and checked gone. When the Hub cannot be reached, nothing is assumed: the attempt stays recorded.
A later run reconciles with the Hub: a tag whose commit holds exactly this version's files (sizes and
hashes as the Hub reports them) is accepted and recorded, an interrupted attempt whose tag never
reached `main` is finished when `main` is still where it began, and earlier attempts' staging
branches are removed. The token comes from the environment (HF_TOKEN) or the user's
`hf auth login`, through huggingface_hub itself; synth never reads, logs or writes it.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from catalog import Catalog
from synth.errors import SynthError
from synth.gc import exclusive, staging_lock
from synth.paths import sha256_file


@dataclass(frozen=True)
class Published:
    dataset: str
    version: str
    folder: str
    repo_id: Optional[str] = None
    commit_oid: Optional[str] = None
    tag: Optional[str] = None
    url: Optional[str] = None
    checked: list[str] = field(default_factory=list)  # what was read back from the Hub, in order


def stage_folder(catalog: Catalog, dataset: str, version: str, out_root: Path, repo_id: Optional[str] = None) -> Path:
    """The Hub folder of a version: README.md (the card, from the catalog), recipe.yaml and the
    published files under data/<table>/. Written to a temporary name and swapped in under the
    version's staging lock, so a folder is never half there and concurrent stagings take turns."""
    out = out_root / dataset / f"v{version}"
    with exclusive(staging_lock(out.parent, version), f"waiting for another synth process staging {dataset}@{version}"):
        return _stage(catalog, catalog.version_info(dataset, version), out, repo_id)


def _stage(catalog: Catalog, info: dict[str, Any], out: Path, repo_id: Optional[str]) -> Path:
    """Staging proper; the caller holds the version's staging lock."""
    from synth.card import render_card
    from synth.registry import publish_order

    dataset, version = info["dataset"], info["version"]
    published = [f for f in info["files"] if f["published"]]
    catalog.require_intact(dataset, version, info["files"])  # the card reads unpublished tables too
    tmp = out.with_name(out.name + f".tmp-{secrets.token_hex(3)}")
    try:
        for f in published:
            src = Path(f["path"])
            dest = tmp / "data" / f["table_name"] / src.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            if sha256_file(dest) != f["sha256"]:  # the copy is what gets uploaded: it is checked, not the source
                raise SynthError(f"{dataset}@{version}: the copy of {src} in {dest} does not hold the registered "
                                 f"bytes (sha256 differs); check the disk, then run the command again")
        changes = None
        if info["parent_version"]:
            from synth.access import diff

            changes = diff(catalog, f"{dataset}@{info['parent_version']}", f"{dataset}@{version}")
        (tmp / "README.md").write_text(render_card(info, publish_order(info["dataset_row"]["kind"]), changes, repo_id))
        (tmp / "recipe.yaml").write_text(info["recipe_yaml"])  # the recipe travels with the data, as distilabel's pipeline.yaml
        if out.exists():
            old = out.with_name(out.name + f".old-{secrets.token_hex(3)}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def publish(catalog: Catalog, ref: str, repo_id: Optional[str], out_root: Path, dry_run: bool = False,
            endpoint: Optional[str] = None, private: bool = False, repo_arg: str = "--repo") -> Published:
    """`repo_arg` is how the caller spells the repo (a CLI flag, a flow parameter), for the error."""
    if not dry_run and (not repo_id or repo_id.count("/") != 1 or repo_id.strip() != repo_id):
        raise SynthError(f"{repo_arg} must be ORG/NAME to publish, got {repo_id!r}; or stage the Hub folder "
                         f"only with a dry run")
    dataset, version = catalog.resolve(ref)
    info = catalog.version_info(dataset, version)
    if not info["validation_passed"]:
        failed = [v["table_name"] for v in info["validations"] if not v["success"]]
        raise SynthError(f"{dataset}@{version} failed validation ({', '.join(failed)}) and is not published; "
                         f"see `synth catalog show {dataset}@{version}`, fix the recipe and build again")
    out = out_root / dataset / f"v{version}"
    # The lock is held through the upload: a concurrent staging of this version would swap the folder
    # being uploaded, and a concurrent publish of it would race for the tag.
    with exclusive(staging_lock(out.parent, version), f"waiting for another synth process staging or "
                                                      f"publishing {dataset}@{version}"):
        folder = _stage(catalog, info, out, repo_id)
        if dry_run:
            return Published(dataset, version, str(folder))
        return _Publication(catalog, info, folder, repo_id, endpoint, private).run()


def git_blob_sha1(path: Path) -> str:
    """The git object id the Hub reports for a file stored in git (not LFS)."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Publication:
    """One run of the protocol for one version and repo; `checked` collects what was read back."""

    def __init__(self, catalog: Catalog, info: dict[str, Any], folder: Path, repo_id: str,
                 endpoint: Optional[str], private: bool):
        from huggingface_hub import HfApi

        self.catalog, self.info, self.folder, self.repo_id, self.private = catalog, info, folder, repo_id, private
        self.dataset, self.version = info["dataset"], info["version"]
        self.ref = f"{self.dataset}@{self.version}"
        self.api = HfApi(endpoint=endpoint)
        self.endpoint = self.api.endpoint
        self.tag = f"v{self.version}"
        self.local = {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}
        self.sha256 = {rel: sha256_file(p) for rel, p in self.local.items()}
        self.checked: list[str] = []
        self.attempt = secrets.token_hex(6)
        self.staging = f"synth-staging-{self.tag}-{self.attempt[:6]}"

    # ---- reading the Hub back -------------------------------------------------------------------

    def _refs(self) -> tuple[dict[str, str], dict[str, str]]:
        refs = self.api.list_repo_refs(self.repo_id, repo_type="dataset")
        return ({b.name: b.target_commit for b in refs.branches}, {t.name: t.target_commit for t in refs.tags})

    def differences(self, revision: str) -> list[str]:
        """How the files of a Hub revision differ from this version's staged files: nothing when the
        revision holds exactly them (LFS files by sha256 and size, git files by blob id)."""
        from huggingface_hub.hf_api import RepoFile

        remote = {e.path: e for e in self.api.list_repo_tree(self.repo_id, recursive=True, revision=revision,
                                                             repo_type="dataset") if isinstance(e, RepoFile)}
        remote.pop(".gitattributes", None)
        out = [f"{p} is missing" for p in self.local if p not in remote]
        out += [f"{p} is not part of {self.ref}" for p in remote if p not in self.local]
        for p, e in remote.items():
            if p not in self.local:
                continue
            path = self.local[p]
            if e.size != path.stat().st_size:
                out.append(f"{p} has {e.size} bytes, {self.ref} has {path.stat().st_size}")
            elif e.lfs is not None and e.lfs.sha256 != self.sha256[p]:
                out.append(f"{p} has sha256 {e.lfs.sha256[:12]}…, {self.ref} has {self.sha256[p][:12]}…")
            elif e.lfs is None and e.blob_id != git_blob_sha1(path):
                out.append(f"{p} has git blob {e.blob_id[:12]}…, {self.ref}'s is {git_blob_sha1(path)[:12]}…")
        return out

    def _note(self, step: str, note: str, **commits: Optional[str]) -> None:
        self.checked.append(note)
        self.catalog.update_attempt(self.attempt, step, note, **commits)

    # ---- the protocol ---------------------------------------------------------------------------

    def run(self) -> Published:
        self.catalog.start_attempt(self.attempt, self.dataset, self.version, self.repo_id, self.endpoint, self.tag,
                                   self.staging)
        try:
            self.api.create_repo(self.repo_id, repo_type="dataset", exist_ok=True, private=self.private)
            branches, tags = self._refs()
        except Exception as e:
            self.catalog.update_attempt(self.attempt, "rolled_back", f"no change made: {e}")
            raise SynthError(f"publishing {self.ref} to {self.repo_id} failed before anything was changed on the "
                             f"Hub ({e}); the catalog records no publication. Run the command again when "
                             f"{self.endpoint} answers") from None
        head = branches["main"]
        self._remove_stale_branches(branches)
        if self.tag in tags:
            return self._reconcile(tags[self.tag], head)
        return self._fresh(head)

    def _remove_stale_branches(self, branches: dict[str, str]) -> None:
        """Staging branches of this version's earlier attempts (recorded in the catalog) still on
        the Hub: their attempts ended or were killed, since this process holds the version's lock."""
        for a in self.catalog.attempts(self.dataset, self.version, self.repo_id, self.endpoint):
            if a["attempt_id"] == self.attempt:
                continue
            if a["staging_branch"] in branches:
                self.api.delete_branch(self.repo_id, branch=a["staging_branch"], repo_type="dataset")
                self.checked.append(f"removed the staging branch {a['staging_branch']} of an earlier attempt "
                                    f"(stopped at step '{a['step']}')")
            if a["step"] not in ("done", "rolled_back"):
                self.catalog.update_attempt(a["attempt_id"], "superseded", f"taken over by attempt {self.attempt}")

    def _operations(self, parent: str) -> list:
        """The commit's operations (an operation object serves one commit only): every staged file,
        and the removal of files the parent has that the version does not."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        remote = self.api.list_repo_files(self.repo_id, repo_type="dataset", revision=parent)
        stale = [p for p in remote if p not in self.local and p != ".gitattributes"]
        return ([CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f)) for p, f in self.local.items()]
                + [CommitOperationDelete(path_in_repo=p) for p in stale])

    def _commit(self, revision: str, parent: str):
        return self.api.create_commit(
            self.repo_id, self._operations(parent), commit_message=f"{self.dataset} {self.tag}",
            commit_description=f"synth dataset {self.dataset} version {self.version}, fingerprint "
                               f"{self.info['fingerprint']}", repo_type="dataset", revision=revision,
            parent_commit=parent)

    def _fresh(self, head: str) -> Published:
        step = "create the staging branch"
        self.catalog.update_attempt(self.attempt, "started", f"main's head is {head}", base_commit=head)
        staged = None
        try:
            self.api.create_branch(self.repo_id, branch=self.staging, revision=head, repo_type="dataset")
            step = "commit to the staging branch"
            staged = self._commit(self.staging, head).oid
            self._note("staged", f"committed {len(self.local)} files to {self.staging} as {staged[:12]}",
                       staged_commit=staged)
            step = f"create tag {self.tag}"
            self.api.create_tag(self.repo_id, tag=self.tag, revision=staged, tag_message=f"{self.dataset} {self.tag}",
                                repo_type="dataset")
            self._note("tagged", f"tagged {staged[:12]} {self.tag}")
            step = "commit to main"
            final = self._commit("main", head)
        except Exception as e:
            return self._recover(e, step, head, staged)
        self._note("main", f"committed the version to main as {final.oid[:12]} (parent {head[:12]})",
                   main_commit=final.oid)
        return self._finish(final.oid, final.commit_url)

    def _finish(self, main_commit: str, url: Optional[str] = None) -> Published:
        try:
            self.api.delete_branch(self.repo_id, branch=self.staging, repo_type="dataset")
        except Exception as e:  # a later run removes it (it is recorded with this attempt)
            self.checked.append(f"could not remove the staging branch {self.staging} ({e}); the next publish of "
                                f"{self.ref} to {self.repo_id} removes it")
        earlier = self.catalog.publications_of(self.dataset, self.version, self.repo_id, self.endpoint)
        if earlier:
            note = f"the catalog already records {self.ref} as published there (commit {earlier[0]['commit_oid'][:12]})"
        else:
            self.catalog.record_publication(self.dataset, self.version, self.repo_id, self.endpoint, main_commit,
                                            self.tag)
            note = f"recorded {self.ref} as published to {self.repo_id} at {main_commit[:12]}, tag {self.tag}"
        self._note("done", note, main_commit=main_commit)
        return Published(self.dataset, self.version, str(self.folder), self.repo_id, main_commit, self.tag, url,
                         list(self.checked))

    def _reconcile(self, tagged: str, head: str) -> Published:
        """The tag exists: accepted when its commit holds exactly this version's files, refused otherwise."""
        diffs = self.differences(tagged)
        if diffs:
            self.catalog.update_attempt(self.attempt, "rolled_back", f"tag {self.tag} holds other files")
            raise SynthError(
                f"{self.repo_id} already has tag {self.tag} (commit {tagged[:12]}), and its files are not "
                f"{self.ref}'s: {'; '.join(diffs[:3])}{' …' if len(diffs) > 3 else ''}. Versions are immutable: "
                f"publish a new version (or delete that tag on the Hub if it is wrong)")
        self.checked.append(f"tag {self.tag} → commit {tagged[:12]} holds exactly the {len(self.local)} files of "
                            f"{self.ref} (sizes and hashes as the Hub reports them)")
        if not self.differences(head):
            self.checked.append(f"main's head {head[:12]} holds the same files")
            return self._finish(head)
        begun = [a for a in self.catalog.attempts(self.dataset, self.version, self.repo_id, self.endpoint)
                 if a["staged_commit"] == tagged]
        if begun and begun[-1]["base_commit"] == head:
            self.checked.append(f"main is still at {head[:12]}, where the attempt that made the tag began: "
                                f"finishing it")
            try:
                final = self._commit("main", head)
            except Exception as e:
                return self._recover(e, "commit to main", head, None)
            self._note("main", f"committed the version to main as {final.oid[:12]} (parent {head[:12]})",
                       main_commit=final.oid)
            return self._finish(final.oid, final.commit_url)
        self.checked.append(f"main's head {head[:12]} holds other files and is not where the tagged attempt began: "
                            f"main is left as it is")
        return self._finish(tagged)

    def _recover(self, error: Exception, step: str, base: str, staged: Optional[str]) -> Published:
        """After a failed step: read the Hub back, then keep what landed or undo what is ours."""
        try:
            branches, tags = self._refs()
            landed = self.tag in tags and not self.differences(branches["main"])
        except Exception as e:
            self.catalog.update_attempt(self.attempt, "stopped", f"failed to {step}: {error}; Hub unreachable: {e}")
            raise SynthError(
                f"publishing {self.ref} to {self.repo_id} stopped when trying to {step} ({error}), and the Hub could "
                f"not be read back to see what it holds ({e}). The attempt is recorded in the catalog; the catalog "
                f"records no publication. Run the same command again when {self.endpoint} answers: it finishes "
                f"the attempt or removes what it left") from None
        if landed:
            self.checked.append(f"the request to {step} failed ({error}), but main's head {branches['main'][:12]} "
                                f"holds exactly the version's files and tag {self.tag} exists: kept")
            return self._finish(branches["main"])
        undone = []
        try:
            if staged and tags.get(self.tag) == staged:
                self.api.delete_tag(self.repo_id, tag=self.tag, repo_type="dataset")
            if self.staging in branches:
                self.api.delete_branch(self.repo_id, branch=self.staging, repo_type="dataset")
            branches, tags = self._refs()
        except Exception as e:
            self.catalog.update_attempt(self.attempt, "stopped", f"failed to {step}: {error}; undo failed: {e}")
            raise SynthError(
                f"publishing {self.ref} to {self.repo_id} failed when trying to {step} ({error}), and removing the "
                f"staging branch and tag failed too ({e}). The attempt is recorded in the catalog; the catalog "
                f"records no publication. Run the same command again to finish or clean up") from None
        undone.append(f"tag {self.tag} is " + ("absent" if self.tag not in tags else f"on {tags[self.tag][:12]}, "
                                                                                     f"not made by this attempt"))
        undone.append(f"branch {self.staging} is {'still there' if self.staging in branches else 'gone'}")
        main = branches["main"]
        undone.append(f"main is at {main[:12]}" + (" (unchanged)" if main == base else f" (was {base[:12]})"))
        self.catalog.update_attempt(self.attempt, "rolled_back", f"failed to {step}: {error}; " + ", ".join(undone))
        raise SynthError(f"publishing {self.ref} to {self.repo_id} failed when trying to {step}: {error}. Checked on "
                         f"the Hub afterwards: {', '.join(undone)}; the catalog records no publication") from None
