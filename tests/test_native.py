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

PROBE = Path(__file__).with_name("native_probe.py")


def _probe(*args: str, pure: bool = False, cwd: Path) -> dict:
    """tests/native_probe.py in a fresh interpreter: which modules load is decided once per process."""
    env = {k: v for k, v in os.environ.items() if k != native.PURE_ENV}
    if pure:
        env[native.PURE_ENV] = "1"
    out = subprocess.run([sys.executable, str(PROBE), *args], env=env, cwd=cwd, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _records(pure: bool, tmp_path: Path) -> dict:
    """Every error type injected into 1,000 GSM8K and 1,500 procedural seeds, labelled, the suite's
    columns derived and every gold answer read: one hash of all of it."""
    return _probe("records", str(GSM8K_TRAIN), "1000", "1500", pure=pure, cwd=tmp_path)


def test_compiled_and_python_modules_make_the_same_records(tmp_path):
    if native.usable_build() is None:
        pytest.fail("no compiled build for these sources: run `.venv/bin/synth compile` "
                    "(scripts/install.sh does); synth would run as pure Python")
    compiled, pure = _records(False, tmp_path), _records(True, tmp_path)
    assert compiled["status"].startswith("compiled"), compiled["status"]
    assert all(not f.endswith(".py") for f in compiled["files"].values()), compiled["files"]
    assert set(compiled["files"]) >= {"synth.inject.arith", "synth.inject.operators", "synth.stages.inject"}
    assert pure["status"].startswith("pure Python"), pure["status"]
    assert all(f.endswith(".py") for f in pure["files"].values()), pure["files"]
    # enough records that a difference would show: every type tried on 2,500 sources
    assert compiled["counts"]["gsm8k"][1] > 500 and compiled["counts"]["procedural"][1] > 2000, compiled["counts"]
    assert compiled["counts"] == pure["counts"]
    assert compiled["hash"] == pure["hash"]


def test_injection_makes_no_reference_cycles(tmp_path):
    """A chunk's per-seed stages run with the garbage collector paused (synth/stream.py): whatever
    they left in reference cycles would stay until the chunk ends. Compiled, a closure called by
    another closure made one per source (its parsed steps kept: 100,000 objects per 5,000 seeds).
    In a process of its own, as a worker is (this one has other tests' threads making garbage)."""
    out = _probe("cycles", str(GSM8K_TRAIN), cwd=tmp_path)
    assert out["status"].startswith("compiled"), out["status"]
    assert out["kept"] > 1000
    assert out["unreachable"] == 0


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


def test_a_build_that_fails_while_copied_leaves_nothing_half_made(tmp_path, monkeypatch):
    """A full disk while the extensions are copied into place: the next import must not find a
    partial folder, and none is left to fill the disk further."""
    monkeypatch.setenv("SYNTH_NATIVE_DIR", str(tmp_path))

    def disk_full(src, dst, *args, **kwargs):
        raise OSError(28, "No space left on device", str(dst))

    monkeypatch.setattr(native.shutil, "copy2", disk_full)
    with pytest.raises(OSError, match="No space left"):
        native.build()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".mypy-cache"], left  # mypy's cache only: no staged or finished build
    assert native.usable_build() is None
