"""A client of BetMarket's /ws (docs/live.md) that keeps every message it received, for the tests
that watch a node's sockets."""

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.serving import Node

WAIT = 15.0  # seconds to wait for a message before failing; never an assertion on speed
Message = dict[str, Any]
Predicate = Callable[[Message], bool]

REPLIES = frozenset({"authenticated", "error", "keepalive"})


class Socket:
    """A client of /ws that keeps every message it received, in order, in `seen`."""

    def __init__(self, node: Node, name: str) -> None:
        self.name = name
        self.conn: ClientConnection = connect(
            "ws" + node.url.removeprefix("http") + "/ws", open_timeout=WAIT, close_timeout=5
        )
        self.seen: list[Message] = []
        self._replies = 0  # replies (authenticated, error, keepalive) already taken

    def close(self) -> None:
        self.conn.close()

    def send(self, message: Any) -> None:
        self.conn.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def _receive(self, deadline: float, waiting_for: str) -> Message:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError
            raw = self.conn.recv(timeout=remaining)
        except TimeoutError:
            pytest.fail(f"{self.name}: no {waiting_for} came; received {self.seen}")
        assert isinstance(raw, str), f"{self.name}: a binary frame {raw!r}"
        message = json.loads(raw)
        assert isinstance(message, dict)
        self.seen.append(message)
        return message

    def expect(self, opcode: str, timeout: float = WAIT, **fields: Any) -> Message:
        """The first message (received before, or waited for) with this opcode and fields."""

        def matches(message: Message) -> bool:
            return message.get("opcode") == opcode and all(
                message.get(key) == value for key, value in fields.items()
            )

        for message in self.seen:
            if matches(message):
                return message
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline, f"{opcode} {fields}")
            if matches(message):
                return message

    def reply(self) -> Message:
        """The answer to the next request (replies come in the order of the requests)."""
        deadline = time.monotonic() + WAIT
        while True:
            replies = [m for m in self.seen if m.get("opcode") in REPLIES]
            if len(replies) > self._replies:
                self._replies += 1
                return replies[self._replies - 1]
            self._receive(deadline, "a reply")

    def request(self, message: Any) -> Message:
        self.send(message)
        return self.reply()

    def authenticate(self, token: str) -> Message:
        return self.request({"opcode": "authenticate", "token": token})

    def never_got(self, what: Predicate) -> None:
        assert not [m for m in self.seen if what(m)], f"{self.name} got {self.seen}"

    def closed(self, timeout: float = WAIT) -> tuple[int | None, str | None]:
        """Wait until the server closes the socket; its close code and reason."""
        deadline = time.monotonic() + timeout
        with pytest.raises(ConnectionClosed):
            while True:
                self._receive(deadline, "the close")
        return self.conn.close_code, self.conn.close_reason
