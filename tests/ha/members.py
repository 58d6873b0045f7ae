"""The members of tests/ha's cluster (cluster.py): an etcd member, a Patroni node and the
PostgreSQL it manages, and what a fault killed."""

from __future__ import annotations

import contextlib
import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ha.processes import Proc

HOST = "127.0.0.1"


@dataclass
class Etcd:
    """One etcd member."""

    name: str
    client_port: int
    peer_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://{HOST}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://{HOST}:{self.peer_port}"


@dataclass
class PgNode:
    """One Patroni node and the PostgreSQL it manages."""

    name: str
    rest_port: int
    pg_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    # postgres processes of this node left behind by a kill, stopped at teardown if still alive
    orphans: list[Proc] = field(default_factory=list)

    @property
    def running(self) -> bool:
        """Whether this node's Patroni runs."""
        return self.process is not None and self.process.poll() is None

    @property
    def config(self) -> Path:
        return self.folder / "patroni.yml"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.rest_port}"

    def postmaster(self) -> Proc | None:
        """The running postmaster of this node's data folder (from postmaster.pid, and only if
        that pid runs postgres on this data folder), or None."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        process = Proc.of(pid)
        if process is not None and str(self.data_dir) in process.cmdline():
            return process
        return None

    def rest(self, path: str = "/patroni") -> dict[str, Any] | None:
        """GET a Patroni REST endpoint; None when the node does not answer (any status is an
        answer: /primary says 503 on a replica, with the same body)."""
        try:
            with urllib.request.urlopen(self.rest_url + path, timeout=1) as answer:
                body: dict[str, Any] = json.loads(answer.read())
                return body
        except urllib.error.HTTPError as refused:
            with contextlib.suppress(ValueError):
                body = json.loads(refused.read())
                return body
            return None
        except (OSError, ValueError):
            return None


@dataclass(frozen=True)
class Kill:
    """What a fault killed, and when (time.monotonic() once the last signal was sent: a write
    that started later cannot have been served by what was killed)."""

    at: float
    node: str
    patroni: int | None  # pid, when Patroni was killed too
    postgres: list[int]  # the postmaster's pid first

    def describe(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "patroni_pid": self.patroni,
            "postmaster_pid": self.postgres[0] if self.postgres else None,
            "postgres_processes": len(self.postgres),
        }
