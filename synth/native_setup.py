"""The setuptools run that `synth compile` (synth/native.py) starts in a process of its own: mypyc
turns the modules into C and setuptools builds them, both with the compiler's output on this
process's stdout and stderr, which `build()` shows when it fails.

    python -m synth.native_setup '{"mypy_args": [...], "work": "/tmp/...", "jobs": 2}'

`mypy_args` are mypy's flags then the module files, relative to the repository root (the working
directory); the C sources, objects and built extensions go under `work` (`c/`, `tmp/`, `lib/`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(spec: dict) -> None:
    from mypyc.build import mypycify
    from setuptools import setup

    work = Path(spec["work"])
    modules = mypycify(spec["mypy_args"], opt_level="3", multi_file=True, target_dir=str(work / "c"))
    setup(name="synth-native", ext_modules=modules, script_args=[
        "build_ext", "--build-lib", str(work / "lib"), "--build-temp", str(work / "tmp"), "-j", str(spec["jobs"])])


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
