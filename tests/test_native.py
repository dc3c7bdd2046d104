"""The compiled modules (synth/native.py): loaded where built from this code, never otherwise, and
giving the very records the Python does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GSM8K_TRAIN
from synth import native

# Injects every error type into GSM8K train problems and procedural seeds, labels the results, reads
# every gold solution's answer and derives the injections suite's columns; prints one hash of all of
# it, and what the process ran. Run once compiled and once as Python, the hashes must be equal.
_RECORDS = r"""
import hashlib, json, sys
import pandas as pd
import synth
from synth import labels, native, suites
from synth.answers import extract_answer, read_answer
from synth.config import InjectStage, ProceduralSeeds
from synth.config import FileSeeds
from synth.seeds import iter_procedural_seeds, iter_seeds
from synth.stages.inject import InjectErrors

gsm8k = [s for s, _ in iter_seeds(FileSeeds(type="file", path=sys.argv[1], format="gsm8k", limit=int(sys.argv[2])))
         if s is not None]
procedural = list(iter_procedural_seeds(ProceduralSeeds(type="procedural", count=int(sys.argv[3]), random_seed=5,
                                                        min_steps=1, max_steps=4)))
cfg = InjectStage(sources=["gold"], error_types=["calculation", "operator", "question_value", "earlier_step_value",
                  "unit_conversion", "counting", "missing_step"], max_per_source=7, include_originals=True)
h = hashlib.sha256()
counts = {}
for name, seeds in (("gsm8k", gsm8k), ("procedural", procedural)):
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
print(json.dumps({"hash": h.hexdigest(), "counts": counts, "status": native.status(),
                  "files": {m: sys.modules[m].__file__ for m in native.MODULES if m in sys.modules}}))
"""


def _run(pure: bool, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    out = subprocess.run([sys.executable, "-c", _RECORDS, str(GSM8K_TRAIN), "1000", "1500"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compiled_and_python_modules_make_the_same_records(tmp_path):
    if native.usable_build() is None:
        pytest.fail("no compiled build for these sources: run `python -m synth.native build` "
                    "(scripts/install.sh does); synth would run as pure Python")
    compiled, pure = _run(False, tmp_path), _run(True, tmp_path)
    assert compiled["status"].startswith("compiled"), compiled["status"]
    assert all(not f.endswith(".py") for f in compiled["files"].values()), compiled["files"]
    assert set(compiled["files"]) >= {"synth.inject.arith", "synth.inject.operators", "synth.stages.inject"}
    assert pure["status"].startswith("pure Python"), pure["status"]
    assert all(f.endswith(".py") for f in pure["files"].values()), pure["files"]
    # enough records that a difference would show: every type tried on 2,500 sources
    assert compiled["counts"]["gsm8k"][1] > 500 and compiled["counts"]["procedural"][1] > 2000, compiled["counts"]
    assert compiled["counts"] == pure["counts"]
    assert compiled["hash"] == pure["hash"]


_CYCLES = r"""
import gc, sys
from synth import labels, native
from synth.config import FileSeeds, InjectStage, ProceduralSeeds
from synth.seeds import iter_procedural_seeds, iter_seeds
from synth.stages.inject import InjectErrors

seeds = [s for s, _ in iter_seeds(FileSeeds(type="file", path=sys.argv[1], format="gsm8k", limit=300)) if s is not None]
seeds += list(iter_procedural_seeds(ProceduralSeeds(type="procedural", count=600, random_seed=3, max_steps=4)))
cfg = InjectStage(sources=["gold"], max_per_source=7, include_originals=True)
gc.collect()
gc.disable()
result = InjectErrors(cfg, 3).run(seeds, [])
made = labels.from_injections(result.records, True)
kept = len(result.records)
del result, made
print(kept, gc.collect(), native.status())
"""


def test_injection_makes_no_reference_cycles(tmp_path):
    """A chunk's per-seed stages run with the garbage collector paused (synth/stream.py): whatever
    they left in reference cycles would stay until the chunk ends. Compiled, a closure called by
    another closure made one per source (its parsed steps kept: 100,000 objects per 5,000 seeds).
    In a process of its own, as a worker is (this one has other tests' threads making garbage)."""
    out = subprocess.run([sys.executable, "-c", _CYCLES, str(GSM8K_TRAIN)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    kept, unreachable, status = out.stdout.strip().splitlines()[-1].split(" ", 2)
    assert status.startswith("compiled"), status
    assert int(kept) > 1000
    assert int(unreachable) == 0


def test_a_build_is_loaded_only_for_the_sources_it_was_made_from(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTH_NATIVE_DIR", str(tmp_path))
    assert native.usable_build() is None  # nothing built there
    folder = tmp_path / native.source_key()
    suffix = native.importlib.machinery.EXTENSION_SUFFIXES[0]
    for m in native.MODULES + ("0123abcd__mypyc",):
        p = folder / (m.replace(".", "/") + suffix)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    (folder / "manifest.json").write_text(json.dumps({"key": native.source_key()}))
    assert native.usable_build() == folder
    # a module's extension missing: the build is incomplete
    (folder / ("synth/answers" + suffix)).unlink()
    assert native.usable_build() is None
    (folder / ("synth/answers" + suffix)).write_bytes(b"")
    # made from other sources (or a half-written manifest): never loaded
    (folder / "manifest.json").write_text(json.dumps({"key": "0" * 20}))
    assert native.usable_build() is None
    (folder / "manifest.json").write_text("{")
    assert native.usable_build() is None
    # an edited source changes the key: the old build's folder is no longer the one looked up
    (folder / "manifest.json").write_text(json.dumps({"key": native.source_key()}))
    monkeypatch.setattr(native, "MODULES", native.MODULES[:-1])
    assert native.source_key() != folder.name and native.usable_build() is None
