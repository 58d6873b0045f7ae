"""Run real `wagerbase serve` processes for tests: on 127.0.0.1, a free port, a given database.

`database_url` is the owner's (a superuser's): the node migrates with it and its API logs in as
`authenticator`, as in production. Test nodes have secrets of their own but share one cluster, and
roles belong to the cluster, so every node of this process gives authenticator the same password
(AUTHENTICATOR_PASSWORD, made once per process and never written down); the first node to start
sets it. A node that must derive it from its JWT secret says so in `env`
(`WAGERBASE_AUTHENTICATOR_PASSWORD=""`), and then runs on a cluster of its own.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from wagerbase.authenticator import as_authenticator, derived_password
from wagerbase.server import keys

REPO = Path(__file__).resolve().parents[1]
AUTHENTICATOR_PASSWORD = secrets.token_urlsafe(24)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Node:
    """One running API node."""

    database_url: str
    jwt_secret: str
    log_path: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)  # extra settings, e.g. the idle timeout
    # worker processes (`serve --workers`): one, unless a test is about workers, so that the
    # suite's nodes stay within the embedded server's max_connections
    workers: int = 1
    prefix: tuple[str, ...] = ()  # a command the node runs under (a profiler: bench/live.py)
    python: str = sys.executable  # the Python that runs it (another checkout's: bench/live.py)
    cwd: Path = REPO  # where it runs (an installed wheel's node: anywhere but the checkout)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    @property
    def authenticator_password(self) -> str:
        return self.env.get("WAGERBASE_AUTHENTICATOR_PASSWORD", AUTHENTICATOR_PASSWORD) or (
            derived_password(self.jwt_secret)
        )

    @property
    def api_database_url(self) -> str:
        """What the node's API logs in with: its database as authenticator."""
        return as_authenticator(self.database_url, self.authenticator_password)

    @property
    def anon_key(self) -> str:
        return keys(self.jwt_secret)["anon"]

    @property
    def service_key(self) -> str:
        return keys(self.jwt_secret)["service_role"]

    def start(self, timeout: float = 60) -> "Node":
        env = {
            **{k: v for k, v in os.environ.items() if k != "WAGERBASE_API_DATABASE_URL"},
            "DATABASE_URL": self.database_url,
            "WAGERBASE_JWT_SECRET": self.jwt_secret,
            "WAGERBASE_AUTHENTICATOR_PASSWORD": AUTHENTICATOR_PASSWORD,
            # as a setting rather than `--workers`, which a node of an older checkout refuses
            "WAGERBASE_WORKERS": str(self.workers),
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *self.prefix,
                self.python,
                "-m",
                # the name a checkout from before wagerbase.operations.cli answers to, as well
                "wagerbase.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=self.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log_tail()}")
            if len(self.workers_seen()) >= self.workers:
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"serve did not start: {self.log_tail()}")

    def workers_seen(self, attempts: int = 10) -> set[int]:
        """The process ids of the node's workers that answered /health with 200, each asked on
        a new connection (the kernel gives each to whichever worker accepts it first)."""
        seen: set[int] = set()
        for _ in range(attempts):
            try:
                answer = httpx.get(f"{self.url}/health", timeout=2)
            except httpx.HTTPError:
                break
            if answer.status_code != 200:
                break
            # a node from before `serve --workers` says no worker: it is one process
            seen.add(int(answer.json().get("worker", {}).get("pid", 0)))
            if len(seen) >= self.workers:
                break
        return seen

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def new_secret() -> str:
    return secrets.token_urlsafe(48)


@contextmanager
def serving(node: Node) -> Iterator[Node]:
    """The node started for the block, stopped after it."""
    node.start()
    try:
        yield node
    finally:
        node.stop()
