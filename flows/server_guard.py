"""Stops Prefect's temporary server when the process that started it is gone, however it ended.

Without PREFECT_API_URL, Prefect starts a temporary ("ephemeral") API server as a child process and
stops it from an atexit handler. A build killed with SIGKILL (the OOM killer, `kill -9`, a CI
timeout) never runs that handler, and the server keeps running, holding its port and its SQLite
database. A small watchdog process, started once the server is up, waits on the builder's pidfd
and stops the server when the builder exits. pidfds make this immune to pid reuse.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SERVER_APP = b"prefect.server.api.server:create_app"
_WATCHDOG = r"""
import os, select, signal, sys
servers = []
for pid in sys.argv[2:]:
    try:
        servers.append(os.pidfd_open(int(pid)))
    except ProcessLookupError:
        pass
try:
    builder = os.pidfd_open(int(sys.argv[1]))
    select.select([builder], [], [])  # readable once the builder has exited
except ProcessLookupError:
    pass  # already gone
for fd in servers:
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
    except ProcessLookupError:
        continue
    if not select.select([fd], [], [], 10)[0]:
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except ProcessLookupError:
            pass
"""
_guarded: set[int] = set()


def temporary_servers(parent: int | None = None) -> list[int]:
    """Pids of Prefect temporary servers that are children of `parent` (this process by default)."""
    parent = parent or os.getpid()
    pids = []
    for task in Path(f"/proc/{parent}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for pid in children:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if _SERVER_APP in cmdline:
                pids.append(int(pid))
    return sorted(set(pids))


def guard_temporary_server() -> list[int]:
    """Starts Prefect's temporary server now, when this process will use one, and a watchdog that
    stops it if this process dies without stopping it. Returns the guarded servers' pids."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value() or not sys.platform.startswith("linux"):
        return []  # a real server (or a platform without pidfds): nothing of ours to guard
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.api_healthcheck()  # starts the temporary server in ephemeral mode
    servers = [pid for pid in temporary_servers() if pid not in _guarded]
    if servers:
        subprocess.Popen([sys.executable, "-I", "-c", _WATCHDOG, str(os.getpid()), *map(str, servers)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
        _guarded.update(servers)
    return servers
