"""Run real `wagerbase serve` processes for tests: on 127.0.0.1, a free port, a given database."""

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

from wagerbase.server import keys

REPO = Path(__file__).resolve().parents[1]


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
    def anon_key(self) -> str:
        return keys(self.jwt_secret)["anon"]

    @property
    def service_key(self) -> str:
        return keys(self.jwt_secret)["service_role"]

    def start(self, timeout: float = 60) -> "Node":
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "WAGERBASE_JWT_SECRET": self.jwt_secret,
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wagerbase.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"serve did not start: {self.log_tail()}")

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
