"""Label checks on GSM8K train: how many of the deterministic operators' corruptions pass every
check, per error type, and how fast the inject stage runs.

For each gold solution and each error type the operator makes at most one corruption (the first
candidate, in a seeded order, whose values a solver would write); the corruption is then checked
(synth.inject.checks). Prints, per type: solutions tried, not applicable (no place for the error, or
no plausible value), attempted, the pass rate of each check, and the share kept; then records/s.

    .venv/bin/python bench/injection_labels.py              # all 7,473 train problems
    .venv/bin/python bench/injection_labels.py --limit 500
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from synth.inject.checks import CHECKS
    from synth.recipe import FileSeeds, InjectStage
    from synth.seeds import load_file_seeds
    from synth.stages.inject import InjectErrors

    seeds = load_file_seeds(FileSeeds(type="file", path=args.seeds, format="gsm8k", limit=args.limit))
    InjectErrors(InjectStage(), args.seed).run(seeds[:5], [])  # imports and caches warm
    t0 = time.perf_counter()
    result = InjectErrors(InjectStage(), args.seed).run(seeds, [])
    seconds = time.perf_counter() - t0
    r = result.report

    print(f"{len(seeds)} GSM8K gold solutions from {args.seeds.name}; "
          f"sources dropped: {dict((k, v) for k, v in r.dropped.items() if k not in CHECKS)}")
    head = f"{'error type':<20}{'tried':>7}{'n/a':>7}{'attempted':>10}" + "".join(
        f"{c[:14]:>16}" for c in CHECKS) + f"{'kept':>8}{'kept %':>8}"
    print(head)
    totals = {"attempted": 0, "kept": 0}
    for t, o in sorted(r.breakdown.items()):
        na = o.get("not_applicable", 0) + o.get("no_plausible_candidate", 0)
        attempted = o["tried"] - na
        totals["attempted"] += attempted
        totals["kept"] += o.get("kept", 0)
        # A check's pass rate: of the records that reached it, the share that passed it.
        reached, cells = attempted, []
        for c in CHECKS:
            failed = o.get(c, 0)
            cells.append(f"{100 * (reached - failed) / reached:15.1f}%" if reached else f"{'-':>16}")
            reached -= failed
        print(f"{t:<20}{o['tried']:>7}{na:>7}{attempted:>10}" + "".join(cells)
              + f"{o.get('kept', 0):>8}{100 * o.get('kept', 0) / max(attempted, 1):>7.1f}%")
    print(f"all types: {totals['kept']} of {totals['attempted']} attempted corruptions kept "
          f"({100 * totals['kept'] / max(totals['attempted'], 1):.1f}%)")
    print(f"inject stage: {len(seeds)} solutions in {seconds:.1f} s = {len(seeds) / seconds:.0f} solutions/s, "
          f"{sum(o['tried'] for o in r.breakdown.values()) / seconds:.0f} corruptions tried/s")


if __name__ == "__main__":
    main()
