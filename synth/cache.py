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
        "seed": request.sampling_seed,  # named "seed" before the rename: old keys stay valid
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
    """A stored response, checked field by field: a damaged row raises ValueError saying what is wrong
    (it is never replayed as a response the model did not give)."""
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"not JSON ({e})") from None
    if not isinstance(d, dict) or not isinstance(d.get("samples"), list) or type(d.get("prompt_tokens")) is not int:
        raise ValueError("not an object with a `samples` list and an integer `prompt_tokens`")
    samples = []
    for i, s in enumerate(d["samples"]):
        if (not isinstance(s, dict) or set(s) != {"text", "finish_reason", "completion_tokens"}
                or not isinstance(s["text"], str) or not isinstance(s["finish_reason"], (str, type(None)))
                or type(s["completion_tokens"]) is not int):
            raise ValueError(f"sample {i} is not {{text: str, finish_reason: str, completion_tokens: int}}")
        samples.append(Sample(**s))
    return Completion(samples=samples, prompt_tokens=d["prompt_tokens"], cached=True)



def default_cache_path(data_dir: Path) -> Path:
    """Where a data directory keeps its response cache."""
    return data_dir / "cache" / "responses.sqlite"


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
            raise self._error(e) from None

    def damaged(self, problem: object) -> SynthError:
        """The one message for a cache that cannot be used: which file, and what to do."""
        return SynthError(
            f"response cache {self.path} is damaged ({problem}). Move it away to start a new cache "
            f"(mv {self.path} {self.path}.damaged; the build then sends its requests again), or build "
            f"without it (synth build --no-cache)")

    def _error(self, e: sqlite3.DatabaseError) -> SynthError:
        if "locked" in str(e) or "busy" in str(e):  # another process held it past the timeout: not damage
            return SynthError(f"response cache {self.path} is held by another process ({e}); try again when "
                              f"it finishes, or build with --no-cache")
        return self.damaged(e)

    def check(self) -> None:
        """Reads the cache's schema and every page's structure (SQLite's quick_check) before a build
        runs, so a damaged file stops the build before its first stage."""
        with self._lock:
            try:
                cols = [r[1] for r in self._con.execute("PRAGMA table_info(responses)")]
                problems = [r[0] for r in self._con.execute("PRAGMA quick_check")]
            except sqlite3.DatabaseError as e:
                raise self._error(e) from None
        if cols != ["key", "model", "response", "created_at"]:
            raise self.damaged(f"table `responses` has columns {cols}")
        if problems != ["ok"]:
            raise self.damaged("; ".join(problems[:3]))

    def get_many(self, keys: list[str]) -> dict[str, Completion]:
        out: dict[str, Completion] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                try:
                    rows = self._con.execute(
                        f"SELECT key, response FROM responses WHERE key IN ({','.join('?' * len(chunk))})",
                        chunk).fetchall()
                except sqlite3.DatabaseError as e:
                    raise self._error(e) from None
                for k, v in rows:
                    try:
                        out[k] = _decode(v)
                    except ValueError as e:
                        raise self.damaged(f"the stored response under key {k[:16]}… is {e}") from None
        return out

    def put_many(self, items: Iterable[tuple[str, str, Completion]]) -> None:
        """Stores (key, model identity, completion) rows in one transaction: all or none."""
        now = time.time()
        rows = [(k, model, _encode(c), now) for k, model, c in items]
        with self._lock:
            try:
                self._con.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as e:
                raise self._error(e) from None
            try:
                self._con.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)", rows)
                self._con.execute("COMMIT")
            except sqlite3.DatabaseError as e:
                try:
                    self._con.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the error below is the one to report
                raise self._error(e) from None
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def count(self) -> int:
        with self._lock:
            return self._con.execute("SELECT count(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._con.close()
