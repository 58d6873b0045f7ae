"""Raw clients of the two sockets for the attack tests: a Phoenix client of the Supabase realtime
socket (serializer 1.0.0) and a client of BetMarket's /ws, each keeping what it received."""

import json
from collections.abc import Callable
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.serving import Node

WAIT = 15.0  # seconds to wait for a frame that must come; never an assertion on speed


class Realtime:
    """A raw Phoenix client of /realtime/v1/websocket (serializer 1.0.0)."""

    def __init__(self, node: Node, apikey: str) -> None:
        url = node.url.replace("http://", "ws://")
        self.ws: ClientConnection = connect(
            f"{url}/realtime/v1/websocket?apikey={apikey}&vsn=1.0.0", open_timeout=WAIT
        )
        self.ref = 0

    def send(self, topic: str, event: str, payload: dict[str, Any]) -> str:
        self.ref += 1
        frame = {"topic": topic, "event": event, "payload": payload, "ref": str(self.ref)}
        self.ws.send(json.dumps({**frame, "join_ref": "1" if event == "phx_join" else None}))
        return str(self.ref)

    def frames_until(self, matches: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        frames = []
        while True:
            frame = json.loads(self.ws.recv(timeout=WAIT))
            frames.append(frame)
            if matches(frame):
                return frames

    def join(
        self, topic: str, token: str | None, extra_tables: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Join a topic watching the user views (and `extra_tables`); the frames up to the
        reply."""
        payload: dict[str, Any] = {
            "config": {
                "postgres_changes": [
                    {"event": "*", "schema": "public", "table": table}
                    for table in ("my_wallet", "my_wagers", "wallets", *extra_tables)
                ]
            }
        }
        if token is not None:
            payload["access_token"] = token
        ref = self.send(topic, "phx_join", payload)
        return self.frames_until(lambda f: f["event"] == "phx_reply" and f["ref"] == ref)

    def close(self) -> None:
        self.ws.close()


def refused_join(frames: list[dict[str, Any]], realtime: Realtime, topic: str) -> str:
    """The reason of a refused join (its frames up to the reply), once its phx_close came."""
    reply = frames[-1]["payload"]
    assert reply["status"] == "error", frames
    closed = realtime.frames_until(lambda f: f["event"] == "phx_close")
    assert closed[-1]["topic"] == topic
    reason: str = reply["response"]["reason"]
    return reason


class BetmarketSocket:
    def __init__(self, node: Node) -> None:
        self.ws = connect(node.ws_url, open_timeout=WAIT)
        self.seen: list[dict[str, Any]] = []

    def authenticate(self, token: str) -> dict[str, Any]:
        self.ws.send(json.dumps({"opcode": "authenticate", "token": token}))
        return self.until(lambda m: m["opcode"] in ("authenticated", "error"))

    def until(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = json.loads(self.ws.recv(timeout=WAIT))
            self.seen.append(message)
            if matches(message):
                return message
