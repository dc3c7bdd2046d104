"""A small stand-in for the Hugging Face Hub's HTTP API, on loopback, for the publish tests.

It implements the endpoints `huggingface_hub.HfApi` calls to create a dataset repo, list its refs and
files, commit (every file inline: `preupload` answers "regular" for all), create and delete branches
and tags, and download files; it keeps every commit's files, so a test can check what landed where.
It can be told to fail one endpoint, to test that a failed publish leaves the repo as it was.
It checks the bearer token when one is configured, and records every Authorization header it saw.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # oid -> {path: content}
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    parents: dict[str, str | None] = field(default_factory=dict)

    def commit(self, files: dict[str, bytes], parent: str | None, message: str) -> str:
        oid = hashlib.sha1(json.dumps([parent, message, sorted((p, hashlib.sha1(c).hexdigest())
                                                              for p, c in files.items())]).encode()).hexdigest()
        self.commits[oid] = files
        self.parents[oid] = parent
        return oid


class FakeHub:
    def __init__(self, token: str | None = None):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.fail: set[str] = set()  # endpoint names to answer with HTTP 500
        self.auth_headers: list[str] = []
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        oid = repo.branches.get(revision) or repo.tags.get(revision) or revision
        return repo.commits[oid]

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body=None, headers: dict | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json" if not isinstance(body, bytes) else
                                 "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _authorized(self, name: str) -> bool:
                auth = self.headers.get("Authorization", "")
                hub.auth_headers.append(auth)
                hub.requests.append(f"{self.command} {name}")
                if name in hub.fail:
                    self._send(500, {"error": f"injected failure of {name}"})
                    return False
                if hub.token and auth != f"Bearer {hub.token}":
                    self._send(401, {"error": "Invalid credentials"})
                    return False
                return True

            def _route(self):
                path = urllib.parse.urlparse(self.path).path
                parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
                return path, parts

            def do_GET(self):
                path, parts = self._route()
                if parts[:2] == ["api", "datasets"] and parts[-1] == "refs":
                    repo_id = "/".join(parts[2:4])
                    if not self._authorized("refs"):
                        return
                    repo = hub.repos.get(repo_id)
                    if repo is None:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    return self._send(200, {
                        "branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": o}
                                     for b, o in repo.branches.items()],
                        "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": o} for t, o in repo.tags.items()],
                        "converts": []})
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "tree":
                    repo_id = "/".join(parts[2:4])
                    if not self._authorized("tree"):
                        return
                    try:
                        files = hub.files(repo_id, parts[5])
                    except KeyError:
                        return self._send(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                    return self._send(200, [{"type": "file", "path": p, "size": len(c),
                                             "oid": hashlib.sha1(c).hexdigest()} for p, c in sorted(files.items())])
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] == "revision":
                    repo_id = "/".join(parts[2:4])
                    if not self._authorized("revision"):
                        return
                    repo = hub.repos.get(repo_id)
                    if repo is None:
                        return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    rev = parts[5]
                    oid = repo.branches.get(rev) or repo.tags.get(rev) or rev
                    return self._send(200, {"id": repo_id, "sha": oid, "siblings": [
                        {"rfilename": p} for p in sorted(repo.commits.get(oid, {}))], "private": False})
                if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
                    repo_id = "/".join(parts[1:3])
                    if not self._authorized("resolve"):
                        return
                    try:
                        content = hub.files(repo_id, parts[4])["/".join(parts[5:])]
                    except KeyError:
                        return self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})
                    return self._send(200, content, {"X-Repo-Commit": hub.repos[repo_id].branches.get(parts[4], parts[4]),
                                                     "ETag": hashlib.sha1(content).hexdigest()})
                self._send(404, {"error": f"not implemented: GET {path}"})

            def do_HEAD(self):
                self.do_GET()

            def do_DELETE(self):
                path, parts = self._route()
                if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] in ("branch", "tag"):
                    repo_id, kind, name = "/".join(parts[2:4]), parts[4], "/".join(parts[5:])
                    if not self._authorized(f"delete_{kind}"):
                        return
                    refs = hub.repos[repo_id].branches if kind == "branch" else hub.repos[repo_id].tags
                    refs.pop(name, None)
                    return self._send(200, {})
                self._send(404, {"error": f"not implemented: DELETE {path}"})

            def do_POST(self):
                path, parts = self._route()
                body = self._body()
                if path == "/api/repos/create":
                    if not self._authorized("create_repo"):
                        return
                    req = json.loads(body)
                    repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else req["name"]
                    if repo_id in hub.repos:
                        return self._send(409, {"error": "You already created this dataset repo",
                                                "url": f"{hub.url}/datasets/{repo_id}"})
                    repo = hub.repos[repo_id] = Repo()
                    repo.branches["main"] = repo.commit({".gitattributes": b"*.parquet filter=lfs\n"}, None, "initial")
                    return self._send(200, {"url": f"{hub.url}/datasets/{repo_id}", "name": repo_id})
                if path == "/api/validate-yaml":
                    return self._send(200, {}) if self._authorized("validate_yaml") else None
                if parts[:2] != ["api", "datasets"] or len(parts) < 6:
                    return self._send(404, {"error": f"not implemented: POST {path}"})
                repo_id, action, rev = "/".join(parts[2:4]), parts[4], "/".join(parts[5:])
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                if not self._authorized(action) or not self._authorized(f"{action}:{rev}"):
                    return
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                      for f in files]})
                if action == "commit":
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    header = next(x["value"] for x in lines if x["key"] == "header")
                    head = repo.branches.get(rev)
                    if head is None:
                        return self._send(404, {"error": f"Revision {rev} not found"}, {"X-Error-Code": "RevisionNotFound"})
                    if header.get("parentCommit") and header["parentCommit"] != head:
                        return self._send(412, {"error": "A commit has happened since. Please refresh and try again."})
                    files = dict(repo.commits[head])
                    for x in lines:
                        if x["key"] == "file":
                            files[x["value"]["path"]] = base64.b64decode(x["value"]["content"])
                        elif x["key"] == "deletedFile":
                            files.pop(x["value"]["path"], None)
                        elif x["key"] == "deletedFolder":
                            prefix = x["value"]["path"].rstrip("/") + "/"
                            files = {p: c for p, c in files.items() if not p.startswith(prefix)}
                        elif x["key"] != "header":
                            return self._send(400, {"error": f"unsupported commit line {x['key']}"})
                    oid = repo.commit(files, head, header.get("summary", ""))
                    repo.branches[rev] = oid
                    return self._send(200, {"commitUrl": f"{hub.url}/datasets/{repo_id}/commit/{oid}",
                                            "commitOid": oid, "pullRequestUrl": None})
                if action == "branch":
                    req = json.loads(body or b"{}")
                    start = req.get("startingPoint") or repo.branches["main"]
                    if rev in repo.branches:
                        return self._send(409, {"error": "Reference already exists"})
                    repo.branches[rev] = repo.branches.get(start) or repo.tags.get(start) or start
                    return self._send(200, {})
                if action == "tag":
                    req = json.loads(body)
                    if req["tag"] in repo.tags:
                        return self._send(409, {"error": "Reference already exists"})
                    repo.tags[req["tag"]] = repo.branches.get(rev) or repo.tags.get(rev) or rev
                    return self._send(200, {})
                self._send(404, {"error": f"not implemented: POST {path}"})

        return Handler
