"""What the filters see of a record: its id, its prompt, its responses, and their normalized words.

Every filter reads this view, never the record, so one filter chain serves preference pairs,
labelled solutions, critiques and any kind's records alike: a record type says how it is seen with
its own `text_view()` method (schemas/), and a stored row of a table is seen through the method of
the table's record type, so nothing here names a kind. The text is normalized once (lower case, punctuation as
space) and shared by exact dedup, MinHash and decontamination, which hash its words in bulk.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from schemas import TABLES

_PUNCT = bytes.maketrans(string.punctuation.encode(), b" " * len(string.punctuation))
# Weight of a byte by its position in its word (odd multipliers; positions past 64 wrap around).
_WEIGHTS = np.array([(0x9E3779B1 * (2 * k + 1) + 0x7F4A7C15 * k) & 0xFFFFFFFF | 1 for k in range(64)],
                    dtype=np.uint32)


def normalize(text: str) -> bytes:
    """Lower case, ASCII punctuation as space, words separated by single spaces, as UTF-8 bytes
    (byte-level translation is several times faster than str.translate, and hashing needs bytes)."""
    return b" ".join(text.lower().encode("utf-8", "replace").translate(_PUNCT).split())


def word_hash(word: bytes) -> int:
    """The 32-bit hash of one word: sum of byte[k] * W[k mod 64] modulo 2^32 (what `word_hashes`
    computes for all words at once)."""
    return sum(b * int(_WEIGHTS[k % 64]) for k, b in enumerate(word)) & 0xFFFFFFFF


def word_hashes(norms: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The hash of every word of every normalized text, concatenated, and each text's word count.
    A few numpy passes over all the bytes (each byte weighted by its position in its word, summed
    per word), instead of a Python loop over words."""
    lengths = np.fromiter((n.count(b" ") + 1 if n else 0 for n in norms), dtype=np.int64, count=len(norms))
    blob = np.frombuffer(b" ".join(n for n in norms if n), dtype=np.uint8)
    if not len(blob):
        return np.zeros(0, dtype=np.uint32), lengths
    size = len(blob)
    idx = np.arange(size, dtype=np.int64)
    space = blob == 32
    word_start = np.maximum.accumulate(np.where(space, idx + 1, 0))  # of the word each byte is in
    values = blob.astype(np.uint32) * _WEIGHTS[(idx - word_start) & 63]
    values[space] = 0
    prefix = np.zeros(size + 1, dtype=np.uint32)
    np.cumsum(values, dtype=np.uint32, out=prefix[1:])
    spaces = np.flatnonzero(space)
    starts = np.concatenate(([0], spaces + 1))
    ends = np.concatenate((spaces, [size]))
    return prefix[ends] - prefix[starts], lengths


@dataclass
class TextView:
    record_id: str
    prompt: str
    responses: list[str]
    record: Any = None
    _norm: bytes | None = field(default=None, repr=False)
    _hashes: np.ndarray | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return "\n".join([self.prompt, *self.responses])

    @property
    def norm(self) -> bytes:
        """The normalized text, computed once and shared by every filter."""
        if self._norm is None:
            self._norm = normalize(self.text)
        return self._norm

    @property
    def hashes(self) -> np.ndarray:
        """Its words' hashes; `with_hashes` computes them for a whole batch at once."""
        if self._hashes is None:
            with_hashes([self])
        return self._hashes  # type: ignore[return-value]


def with_hashes(items: list[TextView], chunk: int = 256) -> list[np.ndarray]:
    """Every item's word hashes, computed in batches for the items that lack them and kept on the
    items (slices of one array per batch), so near dedup and decontamination hash each text once."""
    todo = [it for it in items if it._hashes is None]
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        flat, lengths = word_hashes([it.norm for it in part])
        edges = np.concatenate(([0], np.cumsum(lengths)))
        for it, a, b in zip(part, edges[:-1].tolist(), edges[1:].tolist()):
            it._hashes = flat[a:b]
    return [it._hashes for it in items]  # type: ignore[misc]


def view(record: Any) -> TextView:
    """What the filters see of a record: what its type's `text_view()` says."""
    see = getattr(type(record), "text_view", None)
    if see is None:
        raise TypeError(f"no text view for {type(record).__name__}: give the record type a text_view() method "
                        "(record id, prompt, responses), as schemas/records.py's filtered records have")
    record_id, prompt, responses = see(record)
    return TextView(record_id, prompt, responses, record)


class _Row:
    """A stored row read with the record's attribute names (nested structs too), so a table's rows
    are seen through its record type's own `text_view()`."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]):
        self._values = values

    def __getattr__(self, name: str) -> Any:
        try:
            return _wrap(self._values[name])
        except KeyError:
            raise AttributeError(name) from None


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return _Row(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def view_of_row(table: str, row: dict[str, Any]) -> TextView:
    """The same view of a row stored by an earlier version (its table's columns, not the record)."""
    spec = TABLES.get(table)
    see = getattr(spec.record_type, "text_view", None) if spec is not None else None
    if see is None:
        raise ValueError(f"no text view for table {table}: its record type needs a text_view() method (schemas/)")
    renamed = {f.name: f.metadata["column"] for f in fields(spec.record_type) if "column" in f.metadata}
    if renamed:  # a column named otherwise than its field (UltraFeedback's "fine-grained_score")
        row = {**row, **{name: row[column] for name, column in renamed.items() if column in row}}
    record_id, prompt, responses = see(_Row(row))
    return TextView(record_id, prompt, responses)
