"""The CPU-bound, pure-Python stages compiled to C with mypyc, used only where built from this code.

Model-free builds spend their CPU in a few modules of plain Python: the arithmetic reader, the error
operators, the label checks and the answer reader (injection and its verification). mypyc (the
compiler mypy and black ship with) turns these same typed sources into C extensions: bench/scale.py's
per-seed stages took 30% less CPU, with byte-identical records (tests/test_native.py builds both
ways and compares). There is one implementation, the Python in
the repository; the compiled one is a cache of it.

`synth compile` (scripts/install.sh runs it) compiles `MODULES` into
`<venv>/synth-native/<key>/`, where `key` hashes the modules' sources and the interpreter's ABI.
`install()` (run when `synth` is imported) puts a finder first on `sys.meta_path` that loads those
extensions only if a build for the current key exists: a source edited since, another interpreter,
or no C compiler at install time, and the modules are imported from their `.py` files as usual.
`SYNTH_PURE_PYTHON=1` forces the `.py` files (to compare, or to debug with pdb).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
# Compiled together (one group: calls between them are C calls). Each is CPU-bound per record and
# takes plain Python values: compiled code checks its annotations at run time, so a module fed numpy
# or pandas values (synth/suites.py: `numpy.bool` where `bool` is declared) stays Python.
MODULES = (
    "synth.inject.arith", "synth.inject.steps", "synth.inject.recheck", "synth.inject.propagate",
    "synth.inject.operators", "synth.inject.checks", "synth.answers", "synth.process", "synth.labels",
    "synth.stages.inject",
)
PURE_ENV = "SYNTH_PURE_PYTHON"
# Modules outside the group are typed `Any` (what they are to compiled code: Python objects): following
# them (pydantic, Prefect, ...) made mypy analyse for 6+ minutes, against about a second.
_MYPY_FLAGS = ("--follow-imports=skip", "--ignore-missing-imports")


def _source(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def source_key() -> str:
    """What a build is valid for: every compiled module's source, and the interpreter's ABI."""
    h = hashlib.sha256(f"{sysconfig.get_config_var('SOABI')}\0{sys.version}\0".encode())
    for m in MODULES:
        h.update(m.encode() + b"\0" + _source(m).read_bytes() + b"\0")
    return h.hexdigest()[:20]


def native_root() -> Path:
    return Path(os.environ.get("SYNTH_NATIVE_DIR") or Path(sys.prefix) / "synth-native")


def _files(folder: Path) -> dict[str, Path]:
    """Module name -> extension file, for a build folder's files."""
    out = {}
    for p in folder.rglob("*" + importlib.machinery.EXTENSION_SUFFIXES[0]):
        rel = p.relative_to(folder).as_posix()
        out[rel[: -len(importlib.machinery.EXTENSION_SUFFIXES[0])].replace("/", ".")] = p
    return out


def usable_build(root: Optional[Path] = None) -> Optional[Path]:
    """The build folder for the current sources and interpreter, when there is a complete one."""
    folder = (root or native_root()) / source_key()
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    files = _files(folder)
    # the modules' own extensions, and the group's shared library they call into (`<hash>__mypyc`)
    if manifest.get("key") != folder.name or not set(MODULES) < set(files) or not any(
            f.endswith("__mypyc") for f in files):
        return None
    return folder


class NativeFinder(importlib.abc.MetaPathFinder):
    """Loads the compiled modules of one build; every other import goes on as usual."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.files = _files(folder)

    def find_spec(self, fullname, path=None, target=None):
        file = self.files.get(fullname)
        if file is None:
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(file))
        return importlib.util.spec_from_file_location(fullname, file, loader=loader)


def install() -> None:
    """Uses the compiled modules where a build matches the sources (see the module's docstring)."""
    if os.environ.get(PURE_ENV) or any(isinstance(f, NativeFinder) for f in sys.meta_path):
        return
    if any(m in sys.modules for m in MODULES):  # imported as Python already: mixing would be two copies
        return
    folder = usable_build()
    if folder is not None:
        sys.meta_path.insert(0, NativeFinder(folder))


def status() -> str:
    """What this process runs: the compiled modules or the Python ones, and why."""
    compiled = [m for m in MODULES if m in sys.modules and not sys.modules[m].__file__.endswith(".py")]
    if compiled:
        return f"compiled with mypyc ({len(compiled)} of {len(MODULES)} modules loaded)"
    if os.environ.get(PURE_ENV):
        return f"pure Python ({PURE_ENV} is set)"
    if usable_build() is None:
        return "pure Python (no compiled build for these sources: synth compile)"
    return "pure Python (no compiled module loaded yet)"


def build(jobs: Optional[int] = None) -> Path:
    """Compiles `MODULES` for the current sources and interpreter, unless already built. Raises
    RuntimeError with the compiler's output when it cannot (no mypy, no C compiler, a type error)."""
    root = native_root()
    done = usable_build(root)
    if done is not None:
        return done
    key = source_key()
    work = Path(tempfile.mkdtemp(prefix="synth-native-"))
    sources = [str(_source(m).relative_to(ROOT)) for m in MODULES]
    cache = f"--cache-dir={root / '.mypy-cache'}"  # mypy's, kept: a rebuild after an edit reads it
    try:
        spec = {"mypy_args": [*_MYPY_FLAGS, cache, *sources], "work": str(work), "jobs": jobs or os.cpu_count() or 1}
        run = subprocess.run([sys.executable, "-m", "synth.native_setup", json.dumps(spec)], cwd=ROOT,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"mypyc could not compile synth's native modules (rc {run.returncode}):\n"
                               f"{(run.stdout + run.stderr)[-4000:]}")
        if source_key() != key:  # an edit while it compiled: what was read may be either version
            raise RuntimeError("the sources changed while they were compiled: run `synth compile` again")
        root.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))  # renamed into place once complete
        try:
            for file in _files(work / "lib").values():
                dest = staged / file.relative_to(work / "lib")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, dest)
            (staged / "manifest.json").write_text(json.dumps(
                {"key": key, "modules": list(MODULES), "python": sys.version,
                 "soabi": sysconfig.get_config_var("SOABI")}, indent=1))
            for old in root.iterdir():  # builds of older sources are never loaded again
                if old.is_dir() and old != staged and not old.name.startswith("."):
                    shutil.rmtree(old, ignore_errors=True)
            staged.rename(root / key)
        except BaseException:  # a full disk, an interrupt: no half-copied folder left behind
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return root / key
    finally:
        shutil.rmtree(work, ignore_errors=True)
