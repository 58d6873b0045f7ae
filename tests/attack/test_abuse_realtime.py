"""Realtime holds under abuse. The report: ten anonymous postgres_changes joins with the regex
filter wedged the re-select of every change, and another bettor's my_wallet update stopped
arriving.

- A filter takes Supabase Realtime's operators only (eq, neq, lt, lte, gt, gte, in): a pattern or
  a regex is refused at join, with a reason naming the allowed ones.
- A re-select runs under its role's limits, on the pool's live lane, where anonymous subscribers
  hold at most half: ten anonymous re-selects held by a lock (as long as the test wants: anon has
  no timeouts in this database) do not hold back another bettor's my_wallet change, and those that
  cannot run are told so (a `system` frame with status error) instead of waiting forever.
- Subscriptions are limited per socket (bindings), per node (channels, sockets) and per client
  address (sockets), each refusal a clear frame. The node trusts 127.0.0.1 as a proxy, so a test
  speaks from any address it names in X-Forwarded-For.
"""

import json
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.attack.abuse import (
    WAIT,
    Phoenix,
    bearer,
    eventually,
    holding,
    role_settings,
    signed_up,
    superuser,
    waiting_on_a_lock,
)
from tests.serving import Node

SOCKETS, CHANNELS, BINDINGS = 14, 20, 5
CLIENT_SOCKETS = 12  # above the 11 sockets the crowd test opens from 127.0.0.1
NODE_ENV = {
    "WAGERBASE_TRUSTED_PROXIES": "127.0.0.1",
    "WAGERBASE_CLIENT_SOCKETS": str(CLIENT_SOCKETS),
    "WAGERBASE_MAX_SOCKETS": str(SOCKETS),
    "WAGERBASE_MAX_CHANNELS": str(CHANNELS),
    "WAGERBASE_SOCKET_BINDINGS": str(BINDINGS),
}
ALLOWED = "eq, neq, lt, lte, gt, gte, in"


@pytest.fixture(scope="module")
def node(own: Node) -> Node:
    return own


def binding(table: str, filter_text: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"event": "*", "schema": "public", "table": table}
    if filter_text is not None:
        found["filter"] = filter_text
    return found


def refused(reply: dict[str, Any], reason: str) -> None:
    assert reply["payload"]["status"] == "error", reply
    assert reason in reply["payload"]["response"]["reason"], reply


def odds_message(node: Node, market: int) -> None:
    """What the engine sends when a market's odds move (docs/notifications.md), sent by hand: the
    re-selects it causes read the outcomes the test holds locked."""
    payload = {"type": "odds", "market_id": market, "version": 1000}
    with superuser(node) as conn:
        conn.execute(
            "insert into app.events (channel, payload) values ('wagerbase_market', %s)",
            [json.dumps(payload)],
        )


def first_told(sockets: list[Phoenix]) -> dict[str, Any]:
    """A `system` error frame one of the sockets has (waiting a moment on each), else {}."""
    for socket in sockets:
        try:
            return socket.until(system_error, deadline=0.2)
        except AssertionError:
            continue
    return {}


def system_error(frame: dict[str, Any]) -> bool:
    payload = frame.get("payload") or {}
    return frame["event"] == "system" and payload.get("status") == "error"


@pytest.mark.parametrize(
    "filter_text",
    [
        r"title=match.^(.*)(.*)\2\1$",
        "title=imatch.a",
        "title=like.*a*",
        "title=ilike.a",
        "id=is.null",
    ],
)
def test_a_pattern_or_regex_filter_is_refused_at_join(node: Node, filter_text: str) -> None:
    socket = Phoenix(node)
    try:
        reply = socket.join("realtime:board", node.anon_key, [binding("markets", filter_text)])
        refused(reply, f"use one of {ALLOWED}")
        socket.until(lambda f: f["event"] == "phx_close" and f["topic"] == "realtime:board")
    finally:
        socket.close()


def test_slow_anonymous_re_selects_do_not_hold_back_a_bettor_s_changes(
    node: Node, own_market: int
) -> None:
    _, token = signed_up(node)
    bettor = Phoenix(node)
    crowd = [Phoenix(node) for _ in range(10)]
    try:
        reply = bettor.join("realtime:mine", token, [binding("my_wallet")])
        assert reply["payload"]["status"] == "ok", reply
        for number, socket in enumerate(crowd):
            # ten different statements: none shares another's re-select
            wanted = binding("outcomes", f"market_id=neq.{-1 - number}")
            assert (
                socket.join(f"realtime:crowd{number}", node.anon_key, [wanted])["payload"]["status"]
                == "ok"
            )
        with (
            role_settings(node, "anon", statement_timeout="0", lock_timeout="0"),
            holding(node, "lock table app.outcomes in access exclusive mode"),
        ):
            odds_message(node, own_market)
            eventually(lambda: waiting_on_a_lock(node, "outcomes") >= 1, "re-selects held")
            deposit = httpx.post(
                f"{node.url}/rest/v1/rpc/deposit",
                headers=bearer(node, token),
                json={"amount": 250},
                timeout=WAIT,
            )
            assert deposit.status_code == 200, deposit.text
            balance = deposit.json()["balance"]
            change = bettor.until(
                lambda f: (
                    f["event"] == "postgres_changes"
                    and f["payload"]["data"]["table"] == "my_wallet"
                    and f["payload"]["data"]["record"]["balance"] == balance
                )
            )
            assert change["topic"] == "realtime:mine"
            # the crowd's re-selects that found no place are told so, not left waiting
            told = eventually(lambda: first_told(crowd), "a crowd channel told")
            assert "could not be delivered" in told["payload"]["message"]
    finally:
        for socket in (bettor, *crowd):
            socket.close()


def test_a_re_select_past_its_lock_timeout_tells_its_channel(node: Node, own_market: int) -> None:
    socket = Phoenix(node)
    try:
        reply = socket.join("realtime:odds", node.anon_key, [binding("outcomes")])
        assert reply["payload"]["status"] == "ok", reply
        with holding(node, "lock table app.outcomes in access exclusive mode"):
            odds_message(node, own_market)
            told = socket.until(lambda f: system_error(f) and f["topic"] == "realtime:odds")
        assert "lock_timeout" in told["payload"]["message"]
        assert "reload" in told["payload"]["message"]
    finally:
        socket.close()


def test_bindings_per_socket_are_limited(node: Node) -> None:
    socket = Phoenix(node)
    try:
        many = [binding("markets", f"id=eq.{n}") for n in range(BINDINGS + 1)]
        refused(socket.join("realtime:many", node.anon_key, many), "on this socket")
        socket.until(lambda f: f["event"] == "phx_close" and f["topic"] == "realtime:many")
        first = socket.join("realtime:first", node.anon_key, many[:3])
        assert first["payload"]["status"] == "ok"
        refused(socket.join("realtime:second", node.anon_key, many[:3]), f"at most {BINDINGS}")
        assert socket.join("realtime:second", node.anon_key, many[:2])["payload"]["status"] == "ok"
    finally:
        socket.close()


def test_channels_per_node_are_limited(node: Node) -> None:
    socket = Phoenix(node)
    try:
        replies = [socket.join(f"realtime:c{n}", node.anon_key) for n in range(CHANNELS + 1)]
        full = [r for r in replies if r["payload"]["status"] == "error"]
        assert full, "every join was accepted"
        refused(full[0], "too many channels on this node")
        topic = full[0]["topic"]
        # for now, not for good: no phx_close, and a join goes through once a channel leaves
        assert not any(f["event"] == "phx_close" and f["topic"] == topic for f in socket.frames)
        socket.send("realtime:c0", "phx_leave", {})
        eventually(
            lambda: socket.join(topic, node.anon_key)["payload"]["status"] == "ok",
            "a join once a channel left",
        )
    finally:
        socket.close()


def accepted(socket: Phoenix, reason: str = "too many sockets on this node") -> bool:
    """True when the socket answers a heartbeat; False when the node closed it at once."""
    try:
        ref = socket.send("phoenix", "heartbeat", {})
        socket.until(lambda f: f.get("ref") == ref)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 1013
        assert reason in closed.rcvd.reason
        return False
    return True


def betmarket_refused(node: Node, reason: str, address: str | None = None) -> None:
    """BetMarket's /ws from `address` is told why, then closed with 1013."""
    headers = {"X-Forwarded-For": address} if address else None
    url = f"ws://127.0.0.1:{node.port}/ws"
    with connect(url, open_timeout=WAIT, additional_headers=headers) as ws:
        message = json.loads(ws.recv(timeout=WAIT))
        assert message["opcode"] == "error"
        assert reason in message["message"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013


def test_sockets_per_node_are_limited_for_both_protocols(node: Node) -> None:
    sockets = []
    try:
        for n in range(SOCKETS + 1):
            sockets.append(Phoenix(node, f"10.14.0.{n + 1}"))  # each its own client
            if not accepted(sockets[-1]):
                break
        else:
            raise AssertionError(f"{SOCKETS + 1} sockets accepted")
        betmarket_refused(node, "too many sockets on this node", "10.14.1.1")
    finally:
        for socket in sockets:
            socket.close()


def test_sockets_per_client_address_are_limited_for_both_protocols(node: Node) -> None:
    """One client cannot take the node's sockets from everyone else."""
    sockets = []
    try:
        for _ in range(CLIENT_SOCKETS + 1):
            sockets.append(Phoenix(node, "10.15.0.1"))
            if not accepted(sockets[-1], "too many sockets from this address"):
                break
        else:
            raise AssertionError(f"{CLIENT_SOCKETS + 1} sockets from one address accepted")
        assert len(sockets) == CLIENT_SOCKETS + 1
        betmarket_refused(node, "too many sockets from this address", "10.15.0.1")
        other = Phoenix(node, "10.15.0.2")  # another client is served meanwhile
        sockets.append(other)
        assert accepted(other)
    finally:
        for socket in sockets:
            socket.close()
