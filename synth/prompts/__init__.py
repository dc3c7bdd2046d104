"""Prompt templates live beside the code as Jinja2 files; their hashes go into the dataset card."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

if TYPE_CHECKING:
    from schemas import ChatMessage

_DIR = Path(__file__).parent
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(_DIR), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=False, autoescape=False)


@lru_cache(maxsize=None)
def template_sha256(name: str) -> str:
    """Hash of a prompt's templates (user and, where present, system) for provenance."""
    h = hashlib.sha256()
    for path in sorted(_DIR.glob(f"{name}*.j2")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def render(name: str, **values: object) -> str:
    return _ENV.get_template(f"{name}.j2").render(**values).strip()


def chat(name: str, **values: object) -> list["ChatMessage"]:
    """The system message (`<name>.system.j2`, when there is one) and the user message of a prompt.
    A short system message of our own: otherwise chat templates may add a long default one, which
    every sample prefills again (on CPU, prefill is about half the cost)."""
    from schemas import ChatMessage

    out = []
    if (_DIR / f"{name}.system.j2").is_file():
        out.append(ChatMessage(role="system", content=render(f"{name}.system")))
    out.append(ChatMessage(role="user", content=render(name, **values)))
    return out
