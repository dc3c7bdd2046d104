"""The loopback Hub stand-in (tests/hub_server.py) extended to serve dataset repos to the real
`datasets.load_dataset`: listing a revision's tree by folder (recursive or not), as HfFileSystem
asks, and answering `paths-info`. Kept apart from the publish stand-in so each can change alone."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.parse

import pyarrow as pa
import pyarrow.parquet as pq

from tests.hub_server import FakeHub, Repo


def _entries(files: dict[str, bytes], prefix: str, recursive: bool) -> list[dict]:
    """The tree under `prefix`: files with size and oid, and the folders on the way."""
    prefix = prefix.strip("/")
    base = prefix + "/" if prefix else ""
    out: dict[str, dict] = {}
    for path, content in sorted(files.items()):
        if not path.startswith(base):
            continue
        rest = path[len(base):].split("/")
        for depth in range(1, len(rest)):
            folder = base + "/".join(rest[:depth])
            if recursive or depth == 1:
                out.setdefault(folder, {"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                        "size": 0})
        if recursive or len(rest) == 1:
            out[path] = {"type": "file", "path": path, "size": len(content), "oid": hashlib.sha1(content).hexdigest()}
    return list(out.values())


class DatasetHub(FakeHub):
    """A FakeHub whose dataset repos `datasets.load_dataset` can read."""

    def add_dataset(self, repo_id: str, files: dict[str, bytes], message: str = "add data") -> str:
        """Commits `files` on `main` (creating the repo); returns the commit."""
        repo = self.repos.setdefault(repo_id, Repo())
        parent = repo.branches.get("main")
        merged = dict(repo.commits[parent]) if parent else {}
        merged.update(files)
        oid = repo.commit(merged, parent, message)
        repo.branches["main"] = oid
        return oid

    def _handler(self):
        base = super()._handler()
        hub = self

        class Handler(base):
            def _dataset_route(self) -> bool:
                """Answers the tree listing by folder; False when the request is not one of ours."""
                url = urllib.parse.urlparse(self.path)
                parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
                if not (parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "tree"):
                    return False
                repo_id, rev, prefix = "/".join(parts[2:4]), parts[5], "/".join(parts[6:])
                query = urllib.parse.parse_qs(url.query)
                hub.requests.append(f"GET tree {prefix}")
                try:
                    files = hub.files(repo_id, rev)
                except KeyError:
                    self._send(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                    return True
                entries = _entries(files, prefix, query.get("recursive", ["false"])[0].lower() == "true")
                if prefix and not entries:
                    self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                    return True
                self._send(200, entries)
                return True

            def do_GET(self):
                if not self._dataset_route():
                    super().do_GET()

            def do_POST(self):
                url = urllib.parse.urlparse(self.path)
                parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "paths-info":
                    repo_id, rev = "/".join(parts[2:4]), parts[5]
                    raw = self._body()
                    try:
                        req = json.loads(raw)
                    except ValueError:
                        req = {k: v for k, v in urllib.parse.parse_qs(raw.decode()).items()}
                    paths = req.get("paths", [])
                    files = hub.files(repo_id, rev)
                    out = []
                    for p in paths:
                        if p in files:
                            out.append({"type": "file", "path": p, "size": len(files[p]),
                                        "oid": hashlib.sha1(files[p]).hexdigest()})
                        elif any(f.startswith(p.rstrip("/") + "/") for f in files):
                            out.append({"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest()})
                    return self._send(200, out)
                super().do_POST()

        return Handler


def parquet_bytes(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def gsm8k_style_repo(train: list[dict], test: list[dict]) -> dict[str, bytes]:
    """The files of a dataset repo laid out as `openai/gsm8k` is: config `main`, train and test splits."""
    readme = ("---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n    path: main/train-*.parquet\n"
              "  - split: test\n    path: main/test-*.parquet\n---\n# GSM8K (test copy)\n")
    return {"README.md": readme.encode(), "main/train-00000-of-00001.parquet": parquet_bytes(train),
            "main/test-00000-of-00001.parquet": parquet_bytes(test)}
