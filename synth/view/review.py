"""Human review: a reviewer accepts, rejects (with a reason) or relabels a record of a version, or
leaves a comment. Reviews live in the catalog (`reviews`), never in the version's files; `apply`
turns a reviewed version into a new version through the normal registration path.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from catalog import BuildRecord, Catalog, FileEntry, Registered
from catalog.store import utcnow
from schemas import TABLES, LabelledSolution, records_to_table
from synth.errors import SynthError
from synth.view.data import ID_COLUMNS, NotFound, VersionData, record_hash

# Labels a reviewer may change, per table: (label, column in that table, type). The label names are
# the same across tables and a record has the same id in each, so a relabel made on an injection or
# a Monte Carlo record is applied to its ProcessBench row and the exports made from it. The injection
# and rollout records themselves keep what was measured (the first changed step, the rollouts): their
# suites check exactly that, and the reviewer's label is the released one.
RELABEL: dict[str, dict[str, tuple[str, str]]] = {
    "injections": {"first_error_step": ("first_error_step", "int")},
    "processbench": {"first_error_step": ("label", "int"), "final_answer_correct": ("final_answer_correct", "bool")},
    "mc_labels": {"first_error_step": ("first_error_step", "int"),
                  "final_answer_correct": ("final_answer_correct", "bool")},
}
# Export configs made row by row, in order, from a record table: a dropped record drops the same row.
ALIGNED: dict[str, tuple[str, ...]] = {"processbench": ("math_shepherd", "prm_stepwise"), "pairs": ("dpo",),
                                       "critiques": ("critique_sft",), "code_critiques": ("critique_sft",)}
REJECT_REASONS = ("wrong_label", "wrong_solution", "bad_problem", "duplicate", "harmful", "unreadable", "other")


@dataclass(frozen=True)
class ReviewInput:
    """One review as submitted (from the browser's form or a caller), before it is checked."""

    table: str
    record_id: str
    decision: str
    reviewer: str
    reason: str = ""
    label_field: str = ""
    new_value: str = ""
    comment: str = ""


def _steps_of(table: str, row: dict[str, Any]) -> int:
    return len(row.get("corrupted_steps") or row.get("steps") or [])


def _parse_label(table: str, label_field: str, value: str, row: dict[str, Any]) -> Any:
    kind = RELABEL[table][label_field][1]
    if kind == "bool":
        if value.lower() not in ("true", "false"):
            raise SynthError(f"{label_field} is true or false, got {value!r}")
        return value.lower() == "true"
    try:
        k = int(value)
    except ValueError:
        raise SynthError(f"{label_field} is a step number (0-based, -1 for no wrong step), got {value!r}") from None
    n = _steps_of(table, row)
    if not -1 <= k < n:
        raise SynthError(f"{label_field} must be between -1 and {n - 1} (the record has {n} steps), got {k}")
    return k


def label_choices(table: str, row: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """What the review form offers for each label of the record: its steps by number (as shown), or
    true and false, the automatic label marked."""
    out: dict[str, list[tuple[str, str]]] = {}
    for label, (column, kind) in RELABEL.get(table, {}).items():
        current = row.get(column)
        if kind == "int":
            steps = row.get("corrupted_steps") or row.get("steps") or []
            options = [("-1", "no wrong step")] + [(str(i), f"step {i + 1}: {' '.join(str(s).split())[:70]}")
                                                  for i, s in enumerate(steps)]
        else:
            options = [("true", "true"), ("false", "false")]
            current = str(current).lower()
        out[label] = [(value, text + (" (automatic label)" if value == str(current) else "")) for value, text in options]
    return out


def submit(catalog: Catalog, data: VersionData, r: ReviewInput) -> str:
    """Checks a review against the record it names and stores it: the record's content hash is the
    one of the registered record, a rejection has a reason, a relabel names a label this table has and
    a value in range and different from the automatic one."""
    if r.table not in ID_COLUMNS or r.table in ("seeds", "rejects"):
        raise SynthError(f"config {r.table!r} is made from other records; review those (configs with records: "
                         f"{', '.join(t for t in ID_COLUMNS if t not in ('seeds', 'rejects'))})")
    if not r.reviewer.strip():
        raise SynthError("a review needs the reviewer's name")
    row = data.record(r.table, r.record_id)
    kw: dict[str, Any] = {}
    if r.decision == "rejected":
        if not r.reason.strip():
            raise SynthError("a rejection needs a reason")
        kw["reason"] = r.reason.strip()
    elif r.decision == "relabelled":
        labels = RELABEL.get(r.table, {})
        if r.label_field not in labels:
            raise SynthError(f"config {r.table!r} has no label {r.label_field!r} to change"
                             f" (labels: {', '.join(labels) or 'none: accept or reject its records'})")
        new = _parse_label(r.table, r.label_field, r.new_value, row)
        old = row[labels[r.label_field][0]]
        if new == old:
            raise SynthError(f"{r.label_field} is already {old!r}: accept the record instead")
        kw.update(label_field=r.label_field, old_value=json.dumps(old), new_value=json.dumps(new))
    elif r.decision == "comment" and not r.comment.strip():
        raise SynthError("a comment cannot be empty")
    return catalog.add_review(data.dataset, data.version, r.table, r.record_id, record_hash(row), r.decision,
                              r.reviewer.strip(), comment=r.comment.strip(), **kw)


def latest(reviews: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Each record's review: its last decision (comments do not replace a decision)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in reviews:
        if r["decision"] != "comment":
            out[(r["table_name"], r["record_id"])] = r
    return out


@dataclass
class ReviewSummary:
    reviewed: int = 0
    accepted: int = 0
    rejected: int = 0
    relabelled: int = 0
    comments: int = 0
    reviewers: list[str] = field(default_factory=list)

    @property
    def agreement(self) -> Optional[float]:
        """How often reviewers agreed with the automatic labels: accepted records over reviewed ones."""
        return self.accepted / self.reviewed if self.reviewed else None

    def sentence(self) -> str:
        if not self.reviewed:
            return "no records reviewed"
        return (f"{self.reviewed} records reviewed by {', '.join(self.reviewers)}; reviewers agreed with the "
                f"automatic labels on {self.accepted} of {self.reviewed} ({100 * self.agreement:.1f}%): "
                f"{self.rejected} rejected (dropped as human_review), {self.relabelled} relabelled")


def summarize(reviews: list[dict[str, Any]]) -> ReviewSummary:
    last = latest(reviews)
    c = Counter(r["decision"] for r in last.values())
    return ReviewSummary(reviewed=len(last), accepted=c["accepted"], rejected=c["rejected"],
                         relabelled=c["relabelled"], comments=sum(r["decision"] == "comment" for r in reviews),
                         reviewers=sorted({r["reviewer"] for r in reviews}))


# ---- apply: a reviewed version becomes a new version ---------------------------------------------

@dataclass
class Decisions:
    dropped: dict[str, dict[str, Any]]  # record id -> its review (rejected)
    relabels: dict[str, dict[str, Any]]  # record id -> {label: new value}


def _decisions(data: VersionData, reviews: list[dict[str, Any]]) -> Decisions:
    """The latest decision per record, each checked against the registered record's content hash."""
    dropped: dict[str, dict[str, Any]] = {}
    relabels: dict[str, dict[str, Any]] = {}
    by_table: dict[str, list[dict[str, Any]]] = {}
    for r in latest(reviews).values():
        by_table.setdefault(r["table_name"], []).append(r)
    for table, rs in by_table.items():
        rows = data.records_by_id(table, [r["record_id"] for r in rs])
        for r in rs:
            row = rows.get(r["record_id"])
            if row is None or record_hash(row) != r["content_sha256"]:
                raise SynthError(f"review {r['review_id']} of {data.ref} {table} {r['record_id']} was made on other "
                                 f"content than the registered record; nothing was applied")
            if r["decision"] == "rejected":
                dropped[r["record_id"]] = r
            elif r["decision"] == "relabelled":
                relabels.setdefault(r["record_id"], {})[r["label_field"]] = json.loads(r["new_value"])
    return Decisions(dropped, relabels)


RELABELLED_TABLES = ("processbench",)  # the tables whose label columns a relabel changes (see RELABEL)


def _relabel_row(table: str, row: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    if table not in RELABELLED_TABLES:
        return row
    out = dict(row)
    for label, value in new.items():
        column = RELABEL.get(table, {}).get(label, (None,))[0]
        if column in out:
            out[column] = value
    return out


def _derived_row(table: str, old: dict[str, Any], pb: dict[str, Any]) -> dict[str, Any]:
    """An export row made again, with the project's exports, from a relabelled ProcessBench row."""
    from synth import exports

    k = pb["label"]
    s = LabelledSolution(label_id=pb["id"], seed_id=pb["seed_id"], problem=pb["problem"], steps=list(pb["steps"]),
                         first_error_step=k, final_answer_correct=pb["final_answer_correct"],
                         step_labels=[k < 0 or i < k for i in range(len(pb["steps"]))], label_source="review",
                         generator=pb["generator"], gold_answer="")
    if table == "math_shepherd":
        return records_to_table([exports.to_math_shepherd(s, old["task"])], TABLES[table]).to_pylist()[0]
    return records_to_table([exports.to_prm_stepwise(s)], TABLES[table]).to_pylist()[0]


@dataclass
class Applied:
    registered: Optional[Registered]
    summary: ReviewSummary
    dropped: int
    relabelled: int
    hub_dir: Optional[Path] = None
    message: str = ""


def apply(catalog: Catalog, ref: str, data_dir: Path) -> Applied:
    """A new version of the dataset from a reviewed version: rejected records dropped (kept in
    `rejects` with reason `human_review`), relabels applied to the record and to every config made
    from it, the rest copied as registered; validated, registered (lineage names the reviewed
    version) and staged with its card, which reports the review."""
    name, version = catalog.resolve(ref)
    data = VersionData(catalog, name, version)
    reviews = catalog.reviews(name, version)
    summary = summarize(reviews)
    if not summary.reviewed:
        raise SynthError(f"{data.ref} has no reviews to apply; review records first: synth view {data.ref}")
    d = _decisions(data, reviews)
    if not d.dropped and not d.relabels:
        return Applied(None, summary, 0, 0, message=(
            f"all {summary.reviewed} reviewed records of {data.ref} were accepted: a new version would hold the "
            f"same content, so none was made"))
    build_id = f"{name}-review-{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    build_dir = Path(data_dir) / "builds" / build_id
    started = utcnow()
    files: dict[str, list[dict[str, Any]]] = {}
    for t in data.tables():
        files[t["table"]] = data.files(t["table"])  # each checked against its sha256
    split_rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for table, fs in files.items():
        for f in fs:
            split_rows[(table, Path(f["path"]).name)] = pq.read_table(
                f["path"], page_checksum_verification=True).to_pylist()
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    dropped_rows: dict[str, tuple[str, dict[str, Any]]] = {}
    n_in = n_out = 0
    for (table, fname), rows in split_rows.items():
        id_col = ID_COLUMNS.get(table)
        if not id_col or table in ("seeds", "rejects"):
            continue
        kept, keep_mask = [], []
        for row in rows:
            rid = str(row[id_col])
            keep = rid not in d.dropped
            keep_mask.append(keep)
            if not keep and (rid not in dropped_rows or table == d.dropped[rid]["table_name"]):
                dropped_rows[rid] = (table, row)  # the reviewed record itself goes to rejects
            elif rid in d.relabels:
                row = _relabel_row(table, row, d.relabels[rid])
            if keep:
                kept.append(row)
        out[(table, fname)] = kept
        if data.info["files"] and table == _primary(files):
            n_in += len(rows)
            n_out += len(kept)
        for derived in ALIGNED.get(table, ()):
            if (derived, fname) not in split_rows or (derived, fname) in out:
                continue
            drows = split_rows[(derived, fname)]
            if len(drows) != len(rows):
                if any(not k for k in keep_mask):
                    raise SynthError(f"{data.ref}: {derived}/{fname} has {len(drows)} rows and {table}/{fname} "
                                     f"{len(rows)}, so the rows made from a dropped record cannot be found; "
                                     f"nothing was applied")
                continue
            new_rows = []
            for drow, row, keep in zip(drows, rows, keep_mask):
                if not keep:
                    continue
                rid = str(row[id_col])
                if table == "processbench" and rid in d.relabels:
                    drow = _derived_row(derived, drow, _relabel_row(table, row, d.relabels[rid]))
                new_rows.append(drow)
            out[(derived, fname)] = new_rows
    for (table, fname), rows in split_rows.items():
        if table == "rejects":
            rows = rows + [{"stage": "review", "record_id": rid, "reason": "human_review",
                            "detail": f"{table_}: {d.dropped[rid]['reason']} (reviewer {d.dropped[rid]['reviewer']}"
                                      + (f": {d.dropped[rid]['comment']}" if d.dropped[rid]["comment"] else "") + ")",
                            "payload": json.dumps(row, default=str)}
                           for rid, (table_, row) in dropped_rows.items()]
        out.setdefault((table, fname), rows)
    if "rejects" not in files:
        out[("rejects", "train-00000-of-00001.parquet")] = []
    entries = _write(build_dir, data, out)
    validations = _validate(build_dir, data, entries)
    funnel = [{k: f[k] for k in ("stage", "unit_in", "unit_out", "n_in", "n_out", "dropped", "labels",
                                 "wall_seconds", "breakdown")} for f in data.info["funnel"]]
    funnel.append({"stage": "human_review", "unit_in": "records", "unit_out": "records", "n_in": n_in,
                   "n_out": n_out, "dropped": {"human_review": len(d.dropped)} if d.dropped else {},
                   "labels": {k: v for k, v in (("accepted", summary.accepted), ("relabelled", len(d.relabels)))
                              if v},
                   "wall_seconds": (utcnow() - started).total_seconds(),
                   "breakdown": {"reviewers": {"reviewed": summary.reviewed, "agreed": summary.accepted,
                                               "rejected": summary.rejected, "relabelled": summary.relabelled}}})
    usage_cols = ("stage", "model", "backend", "requests", "cache_hits", "backend_requests", "parse_retries",
                  "failures", "samples", "prompt_tokens", "completion_tokens", "load_seconds", "wall_seconds")
    lineage = [(l["source_kind"], l["source"], l["detail"]) for l in data.info["lineage"]
               if l["source_kind"] not in ("parent", "reviewed")]
    lineage.append(("reviewed", data.ref, summary.sentence()))
    b = data.info["build"]
    record = BuildRecord(
        build_id=build_id, dataset=name, kind=data.kind, description=data.info["dataset_row"]["description"],
        recipe_path=b["recipe_path"], recipe_yaml=data.info["recipe_yaml"], recipe_sha256=data.info["recipe_sha256"],
        requested_version=None, started_at=started, finished_at=utcnow(), build_dir=str(build_dir),
        files=entries, funnel=funnel, usage=[{c: u[c] for c in usage_cols} for u in data.info["usage"]],
        validations=validations, lineage=lineage)
    registered = catalog.register(record)
    if not registered.new:
        shutil.rmtree(build_dir, ignore_errors=True)
    hub = None
    if registered.new and registered.validation_passed:
        from synth.publish import stage_folder

        hub = stage_folder(catalog, registered.dataset, registered.version, Path(data_dir) / "hub")
    return Applied(registered, summary, len(d.dropped), len(d.relabels), hub)


def _primary(files: dict[str, list[dict[str, Any]]]) -> str:
    """The record table the review row of the funnel counts: the first of the kind's record tables."""
    for t in ("processbench", "pairs", "critiques", "code_critiques", "code_injections", "injections", "mc_labels",
              "solutions", "ratings", "comparisons"):
        if t in files:
            return t
    return ""


def _write(build_dir: Path, data: VersionData, out: dict[tuple[str, str], list[dict[str, Any]]]) -> list[FileEntry]:
    """Writes every table as the build does (declared Arrow schema, zstd, page checksums)."""
    from synth.pipeline import write_table_file

    published = {f["table_name"]: f["published"] for f in data.info["files"]}
    return [write_table_file(table, pa.Table.from_pylist(rows, schema=TABLES[table].schema if table in TABLES else None),
                             build_dir / "data" / table / fname, published.get(table, False))
            for (table, fname), rows in sorted(out.items())]


def _validate(build_dir: Path, data: VersionData, entries: list[FileEntry]) -> list[dict[str, Any]]:
    """The same Great Expectations suites and minimum rows as the recipe's build."""
    import yaml

    from synth.pipeline import validate_files

    gates = (yaml.safe_load(data.info["recipe_yaml"]) or {}).get("gates") or {}
    return validate_files(entries, gates.get("min_rows") or {}, build_dir / "validation-docs")


__all__ = ["ReviewInput", "submit", "apply", "summarize", "latest", "RELABEL", "REJECT_REASONS", "NotFound"]
