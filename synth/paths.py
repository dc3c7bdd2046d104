"""Default locations, overridable by environment so tests and users can keep runs apart."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def cache_dir() -> Path:
    """Converted models and other reusable artefacts (SYNTH_CACHE, else ~/.cache/synth)."""
    return Path(os.environ.get("SYNTH_CACHE", Path.home() / ".cache" / "synth")).expanduser()


def data_dir() -> Path:
    """Builds, the catalog and staged Hub folders (SYNTH_HOME, else ./synth-data)."""
    return Path(os.environ.get("SYNTH_HOME", "synth-data")).expanduser().resolve()


@contextmanager
def written_whole(path: Path) -> Iterator[BinaryIO]:
    """A file to write whose bytes appear under `path` only once all of them are written: a resumed
    build trusts what it finds under a chunk's file names, so a killed or failed writer must leave
    nothing there (its `.tmp` goes too, when it fails by an exception)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            yield f
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def sha256_file(path: Path) -> str:
    """Content hash of a file, read in chunks (model weights and Parquet files can be large)."""
    import hashlib

    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
