"""Run by tests/test_native.py in processes of its own (compiled, or as Python with SYNTH_PURE_PYTHON=1):
a process decides once, at import, which modules it loads, so each way needs a fresh interpreter.

    python tests/native_probe.py records GSM8K_TRAIN N_GSM8K N_PROCEDURAL
    python tests/native_probe.py cycles GSM8K_TRAIN

Prints one JSON line."""

from __future__ import annotations

import gc
import hashlib
import json
import sys

from synth import labels, native
from synth.config import FileSeeds, InjectStage, ProceduralSeeds
from synth.seeds import iter_procedural_seeds, iter_seeds
from synth.stages.inject import InjectErrors


def load_seeds(gsm8k_path: str, n_gsm8k: int, n_procedural: int, random_seed: int) -> dict[str, list]:
    """GSM8K train problems (human-written steps) and procedural ones (every template's shapes)."""
    gsm8k = [s for s, _ in iter_seeds(FileSeeds(type="file", path=gsm8k_path, format="gsm8k", limit=n_gsm8k))
             if s is not None]
    procedural = list(iter_procedural_seeds(ProceduralSeeds(
        type="procedural", count=n_procedural, random_seed=random_seed, min_steps=1, max_steps=4)))
    return {"gsm8k": gsm8k, "procedural": procedural}


def records(gsm8k_path: str, n_gsm8k: int, n_procedural: int) -> dict:
    """One hash of every record, reject, label, suite column and answer read made from the seeds:
    equal hashes, compiled and as Python, mean the same records."""
    import pandas as pd

    from synth import suites
    from synth.answers import extract_answer, read_answer

    cfg = InjectStage(sources=["gold"], error_types=[
        "calculation", "operator", "question_value", "earlier_step_value", "unit_conversion", "counting",
        "missing_step"], max_per_source=7, include_originals=True)
    h = hashlib.sha256()
    counts = {}
    for name, seeds in load_seeds(gsm8k_path, n_gsm8k, n_procedural, 5).items():
        res = InjectErrors(cfg, 11).run(seeds, [])
        made = labels.from_injections(res.records, True)
        for r in res.records + res.rejects + made:
            h.update(repr(r).encode())
        h.update(repr(sorted(res.report.breakdown.items())).encode())
        df = pd.DataFrame([{"corrupted_steps": r.corrupted_steps, "original_steps": r.original_steps,
                            "first_error_step": r.first_error_step, "corrupted_answer": r.corrupted_answer,
                            "original_answer": r.original_answer, "gold_answer": r.gold_answer,
                            "error_type": r.error_type} for r in res.records])
        h.update(suites.injections(df).to_csv().encode())
        for s in seeds:
            text = "\n".join(s.gold_steps)
            h.update(repr((extract_answer(text), read_answer(text, finished=True))).encode())
        counts[name] = [len(seeds), len(res.records), len(res.rejects), len(made)]
    return {"hash": h.hexdigest(), "counts": counts, "status": native.status(),
            "files": {m: sys.modules[m].__file__ for m in native.MODULES if m in sys.modules}}


def cycles(gsm8k_path: str) -> dict:
    """Objects left in reference cycles by injection and labelling, with the collector paused as a
    chunk's stages run it (synth/stream.py)."""
    seeds = load_seeds(gsm8k_path, 300, 600, 3)
    cfg = InjectStage(sources=["gold"], max_per_source=7, include_originals=True)
    gc.collect()
    gc.disable()
    result = InjectErrors(cfg, 3).run(seeds["gsm8k"] + seeds["procedural"], [])
    made = labels.from_injections(result.records, True)
    kept = len(result.records)
    del result, made
    return {"kept": kept, "unreachable": gc.collect(), "status": native.status()}


if __name__ == "__main__":
    what, path, *sizes = sys.argv[1:]
    out = records(path, *map(int, sizes)) if what == "records" else cycles(path)
    print(json.dumps(out))
