"""Label checks and coverage of the deterministic error operators, on GSM8K train gold solutions and
on model-written solutions, per error type.

For each correct solution and each error type the operator makes at most one corruption (the first
candidate, in a seeded order, whose values a solver would write); the corruption is then checked
(synth.inject.checks). Prints, per type: solutions tried, not applicable (no place for the error, or
no plausible value), attempted, the pass rate of each check, the share kept and the calculation
slips made; then coverage, the share of solutions with at least one kept injection (what a recipe
that routes the rest to `inject_llm` hands the teacher), and records/s.

Model-written solutions are bench/model_solutions.yaml: GSM8K-style and MATH-style solutions written
by hand in the styles other models write (markdown, numbered steps, LaTeX, \\boxed{}, worded answers).
Goals: coverage >= 85% of the GSM8K-style ones and >= 60% of the MATH-style ones.

    .venv/bin/python bench/injection_labels.py              # all 7,473 train problems + the model-style set
    .venv/bin/python bench/injection_labels.py --limit 500
    .venv/bin/python bench/injection_labels.py --small      # 100 train problems (the test suite runs this)
    .venv/bin/python bench/injection_labels.py --small --solutions synth-data/builds/<build>/data/solutions
                                                            # + the correct solutions a model wrote in a build
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
MODEL_SOLUTIONS = REPO / "bench" / "model_solutions.yaml"


@dataclass(frozen=True)
class Figures:
    """One set of sources through the inject stage: its report, coverage and speed."""

    name: str
    n: int
    covered: int
    seconds: float
    report: object  # synth.stages.base.StageReport
    missed: Counter  # sources without a kept injection, by their first reason

    @property
    def coverage(self) -> float:
        return self.covered / self.n if self.n else 0.0


def model_solutions(path: Path = MODEL_SOLUTIONS):
    """Seeds and verified-correct Solution records for the hand-written model-style set, per style."""
    from schemas import SeedProblem, Solution
    from synth.stages.verify import split_steps

    data = yaml.safe_load(path.read_text())
    out = {}
    for style, items in data.items():
        seeds, sols = [], []
        for k, it in enumerate(items):
            sid = f"{style}-{k}"
            steps = split_steps(it["solution"])
            seeds.append(SeedProblem(sid, f"{path.name}:{style}[{k}]", it["problem"], steps, str(it["answer"])))
            sols.append(Solution(f"{sid}-s0", sid, it["problem"], "hand-written", 0, it["solution"], steps,
                                 str(it["answer"]), str(it["answer"]), "correct", True, "stop", 0, 0))
        out[style] = (seeds, sols)
    return out


def built_solutions(path: Path):
    """Seeds and the verified-correct Solution records of a build's `solutions` table (a Parquet file or
    a build's data folder): solutions a model really wrote, e.g. the embedded model's in the quickstart."""
    import pyarrow.parquet as pq

    from schemas import SeedProblem, Solution

    if path.is_dir():
        path = next(path.glob("**/solutions/*.parquet"))
    rows = [r for r in pq.read_table(path).to_pylist() if r["is_correct"]]
    fields = set(Solution.__dataclass_fields__)
    sols = [Solution(**{k: v for k, v in r.items() if k in fields}) for r in rows]
    seeds = {r["seed_id"]: SeedProblem(r["seed_id"], str(path), r["problem"], [], r["gold_answer"]) for r in rows}
    return list(seeds.values()), sols


def measure(name: str, seeds, solutions, sources: list[str], seed: int = 0) -> Figures:
    from synth.recipe import InjectStage
    from synth.stages.inject import InjectErrors

    stage = InjectErrors(InjectStage(sources=sources), seed)
    t0 = time.perf_counter()
    result = stage.run(seeds, solutions)
    seconds = time.perf_counter() - t0
    n = result.report.n_in
    covered = len({(r.seed_id, r.source_id) for r in result.records})
    missed = Counter(r.reason for r in result.rejects if r.reason in (
        "no_calculations", "source_arithmetic_error", "source_answer_mismatch", "no_error_injected"))
    return Figures(name, n, covered, seconds, result.report, missed)


def print_figures(f: Figures) -> None:
    from synth.inject.checks import CHECKS

    r = f.report
    print(f"\n== {f.name}: {f.n} correct solutions")
    head = f"{'error type':<20}{'tried':>7}{'n/a':>7}{'attempted':>10}" + "".join(
        f"{c[:14]:>16}" for c in CHECKS) + f"{'kept':>8}{'kept %':>8}"
    print(head)
    totals = {"attempted": 0, "kept": 0}
    for t, o in sorted(r.breakdown.items()):
        if "tried" not in o:
            continue
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
    slips = {k[5:]: v for k, v in r.breakdown.get("calculation", {}).items() if k.startswith("slip:")}
    if slips:
        print("calculation slips kept: " + ", ".join(f"{k}: {v}" for k, v in sorted(slips.items())))
    print(f"all types: {totals['kept']} of {totals['attempted']} attempted corruptions kept "
          f"({100 * totals['kept'] / max(totals['attempted'], 1):.1f}%)")
    print(f"coverage: {f.covered} of {f.n} solutions ({100 * f.coverage:.1f}%) have at least one kept injection; "
          f"the others: {dict(f.missed) or '-'}")
    print(f"inject stage: {f.n} solutions in {f.seconds:.2f} s = {f.n / max(f.seconds, 1e-9):.0f} solutions/s")


def main(argv=None) -> list[Figures]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "data" / "gsm8k" / "train.jsonl")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--small", action="store_true", help="100 GSM8K train problems (what the test suite runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solutions", type=Path, action="append", default=[],
                    help="a build's solutions table (Parquet file or build folder): coverage of the correct "
                         "solutions a model wrote there; may be given more than once")
    args = ap.parse_args(argv)

    from synth.recipe import FileSeeds
    from synth.seeds import load_file_seeds

    limit = 100 if args.small else args.limit
    seeds = load_file_seeds(FileSeeds(type="file", path=args.seeds, format="gsm8k", limit=limit))
    measure("warm-up", seeds[:5], [], ["gold"], args.seed)  # imports and caches warm
    out = [measure(f"GSM8K gold ({args.seeds.name})", seeds, [], ["gold"], args.seed)]
    for style, (s, sols) in model_solutions().items():
        out.append(measure(f"model-written, {style}-style ({MODEL_SOLUTIONS.name})", s, sols, ["samples"], args.seed))
    for path in args.solutions:
        s, sols = built_solutions(path)
        models = sorted({x.model for x in sols})
        out.append(measure(f"model-written in a build ({path}; {', '.join(models)})", s, sols, ["samples"], args.seed))
    for f in out:
        print_figures(f)
    return out


if __name__ == "__main__":
    main()
