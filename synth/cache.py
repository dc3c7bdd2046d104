"""The persistent response cache: the resume mechanism of every build.

A response is stored under a key made of everything that decides it (backend, model identity, the
messages, sampling parameters, n, seed and JSON schema), as soon as the backend reports it. Running a
killed build again sends only the requests whose responses are not here yet, and because each
response is replayed byte for byte, the rebuilt dataset equals an uninterrupted build's.

SQLite in WAL mode: each commit survives the process being killed the instant after, several
processes (two builds, a Prefect worker pool) can share one file, and it needs nothing installed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

from synth.backends.base import ChatRequest, Completion, Sample
from synth.errors import SynthError

_DDL = """
CREATE TABLE IF NOT EXISTS responses (
    key        TEXT PRIMARY KEY,
    model      TEXT NOT NULL,
    response   TEXT NOT NULL,   -- JSON: prompt_tokens and the samples as the backend returned them
    created_at REAL NOT NULL
)
"""


def request_key(backend: str, identity: str, request: ChatRequest) -> str:
    """sha256 of the canonical JSON of what decides a response."""
    payload = {
        "backend": backend,
        "model": identity,
        "messages": [[m.role, m.content] for m in request.messages],
        "sampling": request.sampling.model_dump(mode="json"),
        "n": request.n,
        "seed": request.seed,
        "json_schema": request.json_schema,
    }
    if request.continue_final:  # only when set, so keys of earlier responses stay valid
        payload["continue_final"] = True
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _encode(c: Completion) -> str:
    samples = [{"text": s.text, "finish_reason": s.finish_reason, "completion_tokens": s.completion_tokens}
               for s in c.samples]
    return json.dumps({"prompt_tokens": c.prompt_tokens, "samples": samples}, ensure_ascii=False)


def _decode(text: str) -> Completion:
    d = json.loads(text)
    return Completion(samples=[Sample(**s) for s in d["samples"]], prompt_tokens=d["prompt_tokens"], cached=True)


class ResponseCache:
    """Raw backend responses by request key. Parsing and schema checks happen after the cache, so a
    cached response is judged by the current code."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the OpenAI backend reports from its event-loop thread
        try:
            self._con = sqlite3.connect(str(self.path), timeout=60.0, check_same_thread=False,
                                        isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
            self._con.execute(_DDL)
        except sqlite3.DatabaseError as e:
            raise SynthError(f"response cache {self.path}: cannot open ({e}); move it away to start a new "
                             f"cache, or run without one (synth build --no-cache)") from None

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        out: dict[str, Completion] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                rows = self._con.execute(
                    f"SELECT key, response FROM responses WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                out.update((k, _decode(v)) for k, v in rows)
        return out

    def put_many(self, items: Iterable[tuple[str, str, Completion]]) -> None:
        """Stores (key, model identity, completion) rows in one transaction: all or none."""
        now = time.time()
        rows = [(k, model, _encode(c), now) for k, model, c in items]
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                self._con.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()
