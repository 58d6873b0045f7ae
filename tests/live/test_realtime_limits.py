"""`/realtime/v1/websocket`'s limits, against an in-process node (without a database, or on
the realtime tests' database) whose limits are shortened: the idle timeout, the overflow close
code (1013), the resync system frames, a channel whose token expires, one reselect shared by
subscribers who see the same rows, and a client that stops reading dropped without stalling the
others."""

import asyncio
import base64
import os
import socket
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.live.raw_phoenix import Raw, raw
from tests.live.realtime_fixtures import (
    admin,
    close,
    create_market,
    outcome_ids,
    run,
    sign_up,
    wager,
)
from tests.live.small_node import small_node
from tests.serving import Node
from wagerbase.live import hub as hub_module
from wagerbase.live.hub import Event
from wagerbase.live.who import change_feed
from wagerbase.surfaces.realtime import socket as realtime


def change_on(topic: str) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["event"] == "postgres_changes" and f["topic"] == topic


def test_a_silent_socket_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime, "IDLE_SECONDS", 0.5)

    async def scenario() -> None:
        async with small_node() as node, raw(node.url, node.anon_key) as client:
            await client.join("realtime:quiet", node.anon_key)
            with pytest.raises(ConnectionClosed) as closed:
                await client.recv()
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "heartbeat timeout")

    run(scenario())


def test_a_socket_that_falls_behind_is_closed_with_1013(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "MAILBOX_LIMIT", 5)

    async def scenario() -> None:
        async with small_node() as node:
            async with raw(node.url, node.anon_key) as client:
                await client.join("realtime:markets", node.anon_key)
                for market_id in range(20):  # all at once: the socket cannot keep up
                    node.hub.publish(Event("market", {"type": "closed", "market_id": market_id}))
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await client.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert node.hub.sockets == 0

    run(scenario())


def test_resync_reaches_channels_as_system_frames() -> None:
    async def scenario() -> None:
        async with small_node() as node, raw(node.url, node.anon_key) as client:
            await client.join("realtime:markets", node.anon_key)
            node.hub.publish(Event("system", {"type": "resync", "reason": "reconnected"}))
            system = await client.push(lambda f: f["event"] == "system")
            assert system["payload"]["channel"] == "markets"
            assert system["payload"]["status"] == "ok"
            resync = await client.push(lambda f: f["event"] == "broadcast")
            assert resync["payload"] == {
                "type": "broadcast",
                "event": "resync",
                "payload": {"type": "resync", "reason": "reconnected"},
            }
            node.hub.publish(Event("market", {"type": "odds", "market_id": 4, "version": 9}))
            odds = await client.push(lambda f: f["event"] == "broadcast")
            assert odds["payload"]["payload"]["version"] == 9

    run(scenario())


def test_a_channel_whose_token_expires_is_closed() -> None:
    async def scenario() -> None:
        async with small_node() as node, raw(node.url, node.anon_key) as client:
            short = node.tokens._sign({"role": "anon", "exp": int(time.time()) + 2})
            await client.join("realtime:markets", short)
            await asyncio.sleep(3)  # not a timing assertion: the token must have expired
            node.hub.publish(Event("market", {"type": "odds", "market_id": 1, "version": 2}))
            error = await client.push(lambda f: f["event"] == "system")
            assert error["payload"]["status"] == "error"
            assert "expired" in error["payload"]["message"]
            closed = await client.push(lambda f: f["event"] == "phx_close")
            assert closed["topic"] == "realtime:markets"
            assert all(f["event"] != "broadcast" for f in client.pushes)

    run(scenario())


def test_subscribers_who_see_the_same_rows_share_one_reselect(
    rt_node: Node, rt_database: str
) -> None:
    """Twenty anonymous sockets on the markets view cost one re-select per message; three channels
    of one user under one token cost one; another user with the same bindings costs one more."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Shared Select FC v Pool Town")
        ana, ben = await sign_up(rt_node), await sign_up(rt_node)
        await close(boss)
        rows = [{"event": "UPDATE", "schema": "public", "table": "markets"}]
        async with small_node(rt_database, rt_node.jwt_secret) as node, AsyncExitStack() as stack:
            feed = change_feed(node.db)
            watchers = [
                await stack.enter_async_context(raw(node.url, node.anon_key)) for _ in range(20)
            ]
            for watcher in watchers:
                await watcher.join("realtime:rows", node.anon_key, rows)
            before = feed.reselects
            odds = {"type": "odds", "market_id": market["id"], "version": 1}
            node.hub.publish(Event("market", odds))
            for watcher in watchers:
                change = await watcher.push(lambda f: f["event"] == "postgres_changes")
                assert change["payload"]["data"]["record"]["id"] == market["id"]
            assert feed.reselects == before + 1

            mine = [{"event": "*", "schema": "public", "table": "wagers"}]
            people = []
            for person in (ana, ben):
                client = await stack.enter_async_context(raw(node.url, node.anon_key))
                for topic in ("realtime:a", "realtime:b", "realtime:c"):
                    await client.join(topic, person.token, mine)
                people.append(client)
            home, _ = await outcome_ids(ana, market["id"])
            placed = [await wager(p, market["id"], home, 100) for p in (ana, ben)]
            before = feed.reselects
            for person, row in zip((ana, ben), placed, strict=True):
                message = {**row, "type": "wager_placed", "user_id": person.user_id}
                node.hub.publish(Event("user", message))
            for client, row in zip(people, placed, strict=True):
                for topic in ("realtime:a", "realtime:b", "realtime:c"):
                    change = await client.push(change_on(topic))
                    assert change["payload"]["data"]["record"]["id"] == row["id"]
            assert feed.reselects == before + 2
        await close(ana, ben)

    run(scenario())


def test_a_client_that_stops_reading_is_dropped_without_stalling_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stuck socket's writer blocks on a full TCP buffer, its mailbox overflows, the hub drops
    it and the server closes it; meanwhile another socket keeps receiving everything."""
    monkeypatch.setattr(hub_module, "MAILBOX_LIMIT", 20)

    async def scenario() -> None:
        async with small_node() as node:
            host, port = node.url.removeprefix("http://").split(":")
            tiny = socket.socket()
            tiny.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            tiny.connect((host, int(port)))
            ws_url = node.url.replace("http://", "ws://") + "/realtime/v1/websocket"
            async with (
                connect(
                    f"{ws_url}?apikey={node.anon_key}", sock=tiny, max_queue=1, ping_interval=None
                ) as stuck_ws,
                raw(node.url, node.anon_key) as healthy,
            ):
                stuck = Raw(stuck_ws)
                await stuck.join("realtime:markets", node.anon_key)
                await healthy.join("realtime:markets", node.anon_key)
                filler = base64.b64encode(os.urandom(75_000)).decode()  # not compressible
                market_id = 0
                while node.hub.sockets > 1:  # until the hub dropped the stuck one
                    market_id += 1
                    assert market_id < 10_000
                    message = {"type": "closed", "market_id": market_id, "pad": filler}
                    node.hub.publish(Event("market", message))
                    got = await healthy.push(lambda f: f["event"] == "broadcast")
                    assert got["payload"]["payload"]["market_id"] == market_id
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await stuck.recv()
                assert closed.value.rcvd is None or closed.value.rcvd.code == 1013
                node.hub.publish(Event("market", {"type": "closed", "market_id": 0}))
                got = await healthy.push(lambda f: f["event"] == "broadcast")
                assert got["payload"]["payload"]["market_id"] == 0
            assert node.hub.sockets == 0

    run(scenario())
