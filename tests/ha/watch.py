"""A BetMarket /ws client per API node that watches through a failover: what a browser would see.

One thread per socket reads every message with the monotonic time it arrived and sends a keepalive
every few seconds (a node closes a socket that says nothing for a minute). After a failover each
node's hub must tell its sockets to `resync` (its cursor on the event stream was made on the old
primary, and a client reloads what it shows), then go on delivering: together, no committed event
is lost that a client cannot recover by reloading.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from websockets.sync.client import ClientConnection, connect

KEEPALIVE_S = 10.0


class Watcher:
    def __init__(self, node_url: str) -> None:
        self.url = "ws" + node_url.removeprefix("http") + "/ws"
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.error: BaseException | None = None
        self._stopping = threading.Event()
        self._conn: ClientConnection | None = None
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)

    def start(self) -> Watcher:
        self._conn = connect(self.url, open_timeout=30, close_timeout=5)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        if self._conn is not None:
            self._conn.close()

    def _run(self) -> None:
        assert self._conn is not None
        quiet_since = time.monotonic()
        try:
            while not self._stopping.is_set():
                if time.monotonic() - quiet_since > KEEPALIVE_S:
                    self._conn.send(json.dumps({"opcode": "keepalive"}))
                    quiet_since = time.monotonic()
                try:
                    raw = self._conn.recv(timeout=0.2)
                except TimeoutError:
                    continue
                self.messages.append((time.monotonic(), json.loads(raw)))
        except BaseException as exc:  # a closed socket: the test reports it
            self.error = exc

    def resyncs_after(self, moment: float) -> list[float]:
        """When a `resync` arrived after `moment` (monotonic)."""
        return [at for at, m in self.messages if at > moment and m.get("opcode") == "resync"]

    def updates_after(self, moment: float) -> int:
        """How many odds_update arrived after `moment`."""
        return sum(1 for at, m in self.messages if at > moment and m.get("opcode") == "odds_update")
