"""What killed builds and stagings leave behind, found and removed by `synth gc`.

A build holds an exclusive lock (flock) on `<build folder>/.lock` for as long as its process lives,
and staging a Hub folder holds one on `hub/<dataset>/.v<version>.lock`. The kernel releases a lock
when its process dies, however it dies (SIGKILL included), so a folder whose lock can be taken
belongs to no running process: gc never removes what a live build or staging is writing.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from synth.errors import SynthError

LOCK = ".lock"
_HELD: dict[str, int] = {}  # build folder -> the open lock file held by this process
_GRACE_SECONDS = 10.0  # a build folder made this recently may not have its lock file yet
_TEMP_HUB = re.compile(r"^(v\d+\.\d+\.\d+)\.(tmp|old)-[0-9a-f]+$")


def hold_build_lock(build_dir: Path) -> None:
    """Marks a build folder as in use by this process until it exits."""
    fd = os.open(build_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD[str(build_dir)] = fd


def release_build_lock(build_dir: Path) -> None:
    fd = _HELD.pop(str(build_dir), None)
    if fd is not None:
        os.close(fd)


def _try_lock(path: Path) -> int | None:
    """The lock's descriptor when no other process holds it, else None."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:  # its folder was removed meanwhile
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        os.close(fd)
        return None


@contextmanager
def exclusive(lock_path: Path, waiting: str) -> Iterator[None]:
    """Holds a lock file for a block; says what it waits for when another process holds it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            from synth.console import step

            step(waiting)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def staging_lock(hub_dataset_dir: Path, version: str) -> Path:
    return hub_dataset_dir / f".v{version}.lock"


@dataclass(frozen=True)
class Leftover:
    path: str
    kind: str  # build folder | staging folder
    bytes: int
    reason: str


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _dead_build(folder: Path) -> int | None:
    """The lock of a build folder no running build holds (None: in use, or just made)."""
    if not (folder / LOCK).exists() and time.time() - folder.stat().st_mtime < _GRACE_SECONDS:
        return None
    return _try_lock(folder / LOCK)


def unheld_lock(folder: Path) -> int | None:
    """The lock of a build folder no running build holds, taken (close it to release), or None: a
    rerun takes over a killed build's finished chunks this way (synth/stream.py)."""
    return _dead_build(folder)


def _remove_unheld(lock_fd: int | None, leftover: "Leftover", dry_run: bool, found: list["Leftover"]) -> None:
    """Lists and removes a leftover while holding its lock; one a live process holds (None) stays."""
    if lock_fd is None:
        return
    try:
        found.append(leftover)
        if not dry_run:
            shutil.rmtree(leftover.path)
    finally:
        os.close(lock_fd)


def collect(data_dir: Path, dry_run: bool = False) -> list[Leftover]:
    """Unregistered build folders and temporary Hub folders that no running process holds: listed,
    and removed unless `dry_run`. Registered build folders are never touched."""
    from catalog import Catalog

    found: list[Leftover] = []
    builds = data_dir / "builds"
    catalog_path = data_dir / "catalog.duckdb"
    folders = sorted(p for p in builds.iterdir() if p.is_dir()) if builds.is_dir() else []
    if folders and not catalog_path.exists():
        raise SynthError(f"no catalog at {catalog_path}: every build folder under {builds} would look "
                         f"unregistered, so gc removes nothing; put the catalog back first")
    referenced_dirs, files = set(), []
    if catalog_path.exists():
        catalog = Catalog(catalog_path)
        catalog.check()  # a damaged catalog could hide registered folders: nothing is removed then
        referenced_dirs, files = catalog.referenced_paths()
    referenced = {str(Path(d).resolve()) for d in referenced_dirs}
    file_dirs = {str(Path(f).resolve().parent) for f in files}
    for folder in folders:
        here = str(folder.resolve())
        if here in referenced or any(d == here or d.startswith(here + os.sep) for d in file_dirs):
            continue
        _remove_unheld(_dead_build(folder), Leftover(
            str(folder), "build folder", _size(folder),
            "not in the catalog and no running build holds it (a killed or failed build)"), dry_run, found)
    hub = data_dir / "hub"
    for dataset_dir in sorted(p for p in hub.iterdir() if p.is_dir()) if hub.is_dir() else []:
        for folder in sorted(dataset_dir.iterdir()):
            m = _TEMP_HUB.match(folder.name)
            if not folder.is_dir() or not m:
                continue
            _remove_unheld(_try_lock(staging_lock(dataset_dir, m.group(1)[1:])), Leftover(
                str(folder), "staging folder", _size(folder), "a Hub folder half-staged by a process that was killed"),
                dry_run, found)
    return found
