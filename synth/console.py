"""What a person watching a build sees: one line per finished stage, then the totals.

Each line also goes to the `synth` logger as plain text: a flow run attaches Prefect's run-log
handler to it (flows/__init__.py), so a deployed run's logs in the UI and in `prefect flow-run logs`
tell what each stage did, not only task states.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console
from rich.text import Text

console = Console(stderr=True)
log = logging.getLogger("synth")


def emit(markup: str) -> None:
    console.print(markup)
    log.info(Text.from_markup(markup).plain)


def _reasons(d: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in d.items()) or "-"


def stage_done(report: dict[str, Any]) -> None:
    drops = f"  dropped {_reasons(report['dropped'])}" if report["dropped"] else ""
    labels = f"  labels {_reasons(report['labels'])}" if report["labels"] else ""
    emit(
        f"[green]✓[/] [bold]{report['stage']:<9}[/] {report['n_in']} {report['unit_in']} → "
        f"{report['n_out']} {report['unit_out']}{drops}{labels}  [dim]{report['wall_seconds']:.1f} s[/]"
    )


def step(message: str) -> None:
    emit(f"[cyan]•[/] {message}")


def build_summary(summary: Any) -> None:
    from synth.card import breakdown_rows, judge_rows

    # Blocks rather than a table: reasons and labels are long, and a wide table is unreadable at 80 columns.
    emit(f"[bold]{summary.dataset}@{summary.version} funnel[/]")
    for f in summary.funnel:
        emit(f"  {f['stage']:<9} {f['n_in']} {f['unit_in']} → {f['n_out']} {f['unit_out']}  "
                      f"[dim]{f['wall_seconds']:.1f} s[/]")
        if f["dropped"]:
            emit(f"    dropped  {_reasons(f['dropped'])}")
        if f["labels"]:
            emit(f"    kept     {_reasons(f['labels'])}")
        if f["stage"] == "judge":
            for j in judge_rows(f):
                if j["flip_rate"] is not None:
                    emit(f"    {j['judge']}: {j['tried']} pairs, flip rate {100 * j['flip_rate']:.0f}% "
                                  f"({j['flips']} flipped), position A picked {100 * (j['first_position_rate'] or 0):.0f}%")
                elif j["mean_rating"] is not None:
                    emit(f"    {j['judge']}: {j['tried']} judgments, {j['unparsable']} unparsable, "
                                  f"mean rating {j['mean_rating']:.2f}")
            continue
        if f["stage"] == "pair":
            c = f.get("breakdown", {}).get("length", {})
            if c:
                n = sum(c.values())
                emit(f"    length   chosen longer in {c.get('chosen_longer', 0)}/{n} pairs "
                              f"({100 * c.get('chosen_longer', 0) / n:.0f}%)")
            continue
        # Breakdowns of outcomes, not of tries (verify's label sources, refine's with/without critique):
        # their counts as they are, not an "attempted → kept" line of zeros.
        tries = any(c.get("tried") for c in f.get("breakdown", {}).values())
        if f.get("breakdown") and (f["stage"] == "verify" or not tries):
            for group, c in f["breakdown"].items():
                emit(f"    {group}  {_reasons(c)}")
            continue
        rows = breakdown_rows(f)
        if rows:
            emit("    per type: attempted → kept (keep rate)")
            for r in rows:
                emit(f"      {r['group']:<20} {r['attempted']} → {r['kept']} ({100 * r['keep_rate']:.0f}%)")
    # One short block per stage and model: model names are long, and a wide table is unreadable at 80 columns.
    if summary.usage:
        emit("[bold]tokens and time per stage and model[/]")
    for u in summary.usage:
        tps = u["completion_tokens"] / u["wall_seconds"] if u["wall_seconds"] else 0.0
        emit(f"  {u['stage']} · {u['model']} ({u['backend']})")
        emit(f"    requests {u['requests']}: {u['cache_hits']} from the response cache, {u['backend_requests']} sent; "
                      f"{u['parse_retries']} schema retries, {u['failures']} failed samples; {u['samples']} samples")
        emit(f"    tokens {u['prompt_tokens']:,} prompt + {u['completion_tokens']:,} completion; engine start "
                      f"{u['load_seconds']:.1f} s, generation {u['wall_seconds']:.1f} s, {tps:.0f} tokens/s")
    state = "[green]new version[/]" if summary.new_version else "[yellow]identical to an existing version[/]"
    emit(f"{state} {summary.dataset}@{summary.version}  fingerprint {summary.fingerprint[:16]}  "
                  f"rows {summary.rows}")
    emit(f"catalog  {summary.catalog}")
    emit(f"hub dir  {summary.hub_dir}")
    emit(f"total    {summary.wall_seconds:.1f} s")
