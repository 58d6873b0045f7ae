"""A read whose client went away is cancelled on the server: a GET or HEAD (any surface) and a
read-only call over POST. The report: "the client hanging up changes nothing", and a regex read
ran on for hours. Here the read is held by a lock of the test's (with no lock_timeout and no
statement_timeout for anon in this database, only its client can end it); once the client hangs
up, its server process is gone, and the pool is whole again."""

from typing import Any

import httpx
import pytest

from tests.attack.abuse import (
    WAIT,
    anon,
    eventually,
    hang_up_after,
    holding,
    http,
    raw_request,
    requests_in_flight,
    role_settings,
    waiting_on_a_lock,
)
from tests.serving import Node


@pytest.fixture(scope="module")
def node(own: Node) -> Node:
    return own


def reads_free(node: Node) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{node.url}/health", timeout=WAIT).json()
    return body if body["pool"]["reads"]["in_use"] == 0 else {}


@pytest.mark.parametrize(
    ("method", "path", "body", "text"),
    [
        ("GET", "/rest/v1/markets?select=id", None, "markets"),
        ("HEAD", "/rest/v1/markets", None, "markets"),
        ("GET", "/api/games", None, "markets"),
        ("POST", "/rest/v1/rpc/get_market_depth", "market", "get_market_depth"),
    ],
)
def test_a_read_whose_client_hangs_up_is_cancelled(
    node: Node, own_market: int, method: str, path: str, body: str | None, text: str
) -> None:
    arguments = {"market_id": own_market, "window": "1h"} if body == "market" else None
    with (
        role_settings(node, "anon", statement_timeout="0", lock_timeout="0"),
        holding(node, "lock table app.markets in access exclusive mode"),
    ):
        hang_up_after(
            node,
            raw_request(node, method, path, arguments),
            lambda: waiting_on_a_lock(node, text) == 1,
            f"{method} {path} waiting on the lock",
        )
        # the lock is still held: only the cancellation can end the statement
        eventually(lambda: not requests_in_flight(node, text), f"{method} {path} cancelled")
    assert eventually(lambda: reads_free(node), "every read place free")["status"] == "ok"
    with http(node) as client:
        assert client.get("/rest/v1/markets?select=id", headers=anon(node)).status_code == 200
