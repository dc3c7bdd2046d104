"""Prompt templates live beside the code as Jinja2 files; their hashes go into the dataset card.

A stage's prompt is one file, `NAME.j2`, holding its parts as Jinja blocks (`{% block system %}`,
`{% block user %}`, and any other part it renders, such as `{% block instruction %}`), each rendered
alone. A part is named `NAME.PART` (`refine.instruction`); `NAME` alone is its `user` part. Older
prompts keep their parts in files of their own (`NAME.system.j2`, `NAME.j2`): the loader looks for
the block first, then for the file, so both read the same way and render the same text.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Optional

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


def _blocks(file: str) -> Optional[dict]:
    """The blocks of a template file (None: no such file; empty: a file of one part)."""
    if not (_DIR / file).is_file():
        return None
    return _ENV.get_template(file).blocks


def _locate(name: str) -> tuple[str, Optional[str]]:
    """The file and block that hold a prompt part: `refine.instruction` is the `instruction` block of
    refine.j2 when it has one, else the file refine.instruction.j2; `refine` is refine.j2's `user`
    block when the file is made of blocks, else the whole file."""
    base, dot, part = name.partition(".")
    blocks = _blocks(f"{base}.j2")
    if blocks:
        return f"{base}.j2", (part if dot else "user")
    return f"{name}.j2", None


def exists(name: str) -> bool:
    """Whether a prompt part can be rendered (what the stage registry checks of each declared one)."""
    file, block = _locate(name)
    blocks = _blocks(file)
    return blocks is not None and (block is None or block in blocks)


def render(name: str, **values: object) -> str:
    file, block = _locate(name)
    template = _ENV.get_template(file)
    if block is None:
        return template.render(**values).strip()
    if block not in template.blocks:
        raise KeyError(f"prompt {name!r}: {_DIR / file} has no {{% block {block} %}} "
                       f"(it has {', '.join(sorted(template.blocks))})")
    return "".join(template.blocks[block](template.new_context(dict(values)))).strip()


def chat(name: str, **values: object) -> list["ChatMessage"]:
    """The system message (the `system` part, when there is one) and the user message of a prompt.
    A short system message of our own: otherwise chat templates may add a long default one, which
    every sample prefills again (on CPU, prefill is about half the cost)."""
    from schemas import ChatMessage

    out = []
    if exists(f"{name}.system"):
        out.append(ChatMessage(role="system", content=render(f"{name}.system")))
    out.append(ChatMessage(role="user", content=render(name, **values)))
    return out
