"""A small stand-in for the Hugging Face Hub's HTTP API, on loopback, for the publish tests.

It implements the endpoints `huggingface_hub.HfApi` calls to create a dataset repo, list its refs and
files, commit (every file inline: `preupload` answers "regular" for all), create and delete branches
and tags, and download files; it keeps every commit's files, so a test can check what landed where.
It can be told to fail one endpoint, to test that a failed publish leaves the repo as it was.
It checks the bearer token when one is configured, and records every Authorization header it saw.

Run as a process (`python -m tests.hub_server --state FILE`), it keeps its repos in FILE (written
after every change, atomically) and can kill itself with SIGKILL just before or just after handling
a named endpoint (`--kill-before commit:main`, `--kill-after commit:main`: the change is applied and
saved, the answer never sent), so a test can stop the Hub at an exact point of a publish, start it
again on the same port from the same state, and retry. `--hang-before NAME` leaves the first such
request unanswered (and writes `FILE.hang:NAME`), so a test can kill the publishing client there.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import pickle
import signal
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


def git_blob_id(content: bytes) -> str:
    """The object id git (and the Hub's tree API) gives a file's content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class FakeHub:
    def __init__(self, token: str | None = None, port: int = 0, state: str | None = None,
                 kill_before: tuple[str, ...] = (), kill_after: tuple[str, ...] = (),
                 hang_before: tuple[str, ...] = ()):
        self.token = token
        self.state = state
        self.repos: dict[str, Repo] = load_state(state) if state and os.path.exists(state) else {}
        self.fail: set[str] = set()  # endpoint names to answer with HTTP 500
        self.kill_before, self.kill_after = set(kill_before), set(kill_after)
        self.hang_before = set(hang_before)  # the first such request is never answered (its client can be killed)
        self.auth_headers: list[str] = []
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def changed(self, name: str) -> None:
        """After a change: saved to the state file, then the process killed if told to die here."""
        if self.state:
            tmp = f"{self.state}.tmp"
            with open(tmp, "wb") as f:
                pickle.dump(self.repos, f)
            os.replace(tmp, self.state)
        if name.startswith("hang:") and self.state:
            open(f"{self.state}.{name}", "w").close()
            return
        if name in self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

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
                if name in hub.kill_before:
                    os.kill(os.getpid(), signal.SIGKILL)
                if name in hub.hang_before:
                    hub.hang_before.discard(name)
                    hub.changed(f"hang:{name}")  # saved, so a test can see the request arrived
                    threading.Event().wait()
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
                                             "oid": git_blob_id(c)} for p, c in sorted(files.items())])
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
                    hub.changed(f"delete_{kind}")
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
                    hub.changed("create_repo")
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
                    hub.changed(f"commit:{rev}")
                    return self._send(200, {"commitUrl": f"{hub.url}/datasets/{repo_id}/commit/{oid}",
                                            "commitOid": oid, "pullRequestUrl": None})
                if action == "branch":
                    req = json.loads(body or b"{}")
                    start = req.get("startingPoint") or repo.branches["main"]
                    if rev in repo.branches:
                        return self._send(409, {"error": "Reference already exists"})
                    repo.branches[rev] = repo.branches.get(start) or repo.tags.get(start) or start
                    hub.changed("branch")
                    return self._send(200, {})
                if action == "tag":
                    req = json.loads(body)
                    if req["tag"] in repo.tags:
                        return self._send(409, {"error": "Reference already exists"})
                    repo.tags[req["tag"]] = repo.branches.get(rev) or repo.tags.get(rev) or rev
                    hub.changed("tag")
                    return self._send(200, {})
                self._send(404, {"error": f"not implemented: POST {path}"})

        return Handler


def load_state(path: str) -> dict[str, Repo]:
    with open(path, "rb") as f:
        return pickle.load(f)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="the loopback Hub stand-in as a process")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--state", required=True)
    parser.add_argument("--token")
    parser.add_argument("--kill-before", action="append", default=[])
    parser.add_argument("--kill-after", action="append", default=[])
    parser.add_argument("--hang-before", action="append", default=[])
    args = parser.parse_args()
    from tests.hub_server import FakeHub  # noqa: F811  (the module's own classes, so the state file unpickles anywhere)

    hub = FakeHub(args.token, args.port, args.state, tuple(args.kill_before), tuple(args.kill_after),
                  tuple(args.hang_before))
    print(hub.url, flush=True)
    hub.server.serve_forever()
