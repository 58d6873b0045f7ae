"""The Phoenix frames of `/realtime/v1/websocket` on the wire, with a raw `websockets` client:
heartbeat, join replies and binding ids, refusals (bad JSON, unknown events, bad bindings and
tokens), leave, and the raw postgres_changes shape. Then, against an in-process server whose
limits are shortened: the idle timeout, the overflow close code and the resync frames."""

import asyncio
import base64
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import jwt
import psycopg
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live.realtime_fixtures import (
    WAIT,
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
from wagerbase.tokens import Tokens


class Raw:
    """A raw Phoenix client: numbered refs, replies matched by ref, pushes kept in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ref = 0
        self.pushes: list[dict[str, Any]] = []

    async def recv(self, timeout: float = WAIT) -> dict[str, Any]:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert isinstance(frame, dict)
        return frame

    async def send(self, topic: str, event: str, payload: Any = None, **extra: Any) -> str:
        self.ref += 1
        ref = str(self.ref)
        frame = {"topic": topic, "event": event, "payload": payload or {}, "ref": ref, **extra}
        await self.ws.send(json.dumps(frame))
        return ref

    async def reply(self, ref: str | None, topic: str | None = None) -> dict[str, Any]:
        """The phx_reply to `ref` (on `topic`), keeping the pushes that came before it."""
        while True:
            frame = await self.recv()
            if (
                frame["event"] == "phx_reply"
                and frame["ref"] == ref
                and (topic is None or frame["topic"] == topic)
            ):
                return frame
            self.pushes.append(frame)

    async def push(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        for index, frame in enumerate(self.pushes):
            if matches(frame):
                return self.pushes.pop(index)
        while True:
            frame = await self.recv()
            if matches(frame):
                return frame
            self.pushes.append(frame)

    async def join(
        self, topic: str, token: str, bindings: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        config: dict[str, Any] = {
            "broadcast": {"ack": False, "self": False},
            "presence": {"key": "", "enabled": False},
            "private": False,
        }
        if bindings is not None:
            config["postgres_changes"] = bindings
        ref = await self.send(
            topic, "phx_join", {"config": config, "access_token": token}, join_ref=str(self.ref + 1)
        )
        return await self.reply(ref, topic)


@asynccontextmanager
async def raw(url: str, apikey: str) -> AsyncIterator[Raw]:
    ws_url = url.replace("http://", "ws://") + f"/realtime/v1/websocket?apikey={apikey}&vsn=1.0.0"
    async with connect(ws_url, open_timeout=WAIT) as ws:
        yield Raw(ws)


def test_without_a_valid_apikey_the_upgrade_is_refused(rt_node: Node) -> None:
    async def scenario() -> None:
        for key in ("", "not-a-jwt"):
            with pytest.raises(InvalidStatus) as refused:
                async with raw(rt_node.url, key):
                    pass
            assert refused.value.response.status_code == 403

    run(scenario())


def test_heartbeat_bad_frames_and_unknown_events_get_replies_not_crashes(rt_node: Node) -> None:
    async def scenario() -> None:
        async with raw(rt_node.url, rt_node.anon_key) as client:
            await client.ws.send(
                json.dumps({"event": "heartbeat", "topic": "phoenix", "payload": {}, "ref": None})
            )
            beat = await client.reply(None, "phoenix")
            assert beat["payload"] == {"status": "ok", "response": {}}

            await client.ws.send("{not json")
            bad = await client.reply(None, "phoenix")
            assert bad["payload"]["status"] == "error"
            assert bad["payload"]["response"] == {"reason": "the frame is not JSON"}
            await client.ws.send("[1, 2]")
            assert (await client.reply(None, "phoenix"))["payload"]["status"] == "error"
            await client.ws.send(b"\x00binary")
            assert (await client.reply(None, "phoenix"))["payload"]["status"] == "error"
            await client.ws.send(json.dumps({"event": 5, "topic": "realtime:x", "ref": "77"}))
            assert (await client.reply("77"))["payload"]["status"] == "error"

            ref = await client.send("realtime:anything", "shout", {"x": 1})
            unknown = await client.reply(ref)
            assert unknown["topic"] == "realtime:anything"
            assert unknown["payload"] == {
                "status": "error",
                "response": {"reason": "unknown event 'shout'"},
            }
            ref = await client.send("realtime:nowhere", "phx_join", [1, 2])
            assert (await client.reply(ref))["payload"]["status"] == "error"
            ref = await client.send("realtime:nowhere", "access_token", {"access_token": "x"})
            unmatched = await client.reply(ref)
            assert unmatched["payload"]["response"]["reason"].startswith("unmatched topic")
            ref = await client.send("not-realtime", "phx_join", {})
            assert (await client.reply(ref))["payload"]["status"] == "error"

            ref = await client.send("phoenix", "heartbeat")  # still alive, ref echoed
            assert (await client.reply(ref, "phoenix"))["payload"]["status"] == "ok"
            assert client.pushes == []

    run(scenario())


def test_join_replies_echo_bindings_in_order_with_non_zero_ids(rt_node: Node) -> None:
    async def scenario() -> None:
        bindings: list[dict[str, Any]] = [
            {"event": "INSERT", "schema": "public", "table": "wagers", "filter": "market_id=eq.3"},
            {"event": "*", "schema": "public", "table": "markets"},
            {"event": "UPDATE", "schema": "public", "table": "my_wallet"},
            {"event": "INSERT", "schema": "public", "table": "wagers", "filter": "market_id=eq.3"},
            {"event": "*", "schema": "public"},
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "outcomes",
                "filter": "market_id=in.(1,2,3),position=not.eq.2",
                "select": ["id", "odds"],
            },
        ]
        async with raw(rt_node.url, rt_node.anon_key) as client:
            reply = await client.join("realtime:market:3", rt_node.anon_key, bindings)
            assert reply["join_ref"] == reply["ref"]
            assert reply["payload"]["status"] == "ok"
            echoed = reply["payload"]["response"]["postgres_changes"]
            assert [{k: v for k, v in b.items() if k != "id"} for b in echoed] == bindings
            ids = [b["id"] for b in echoed]
            assert all(isinstance(i, int) and i != 0 for i in ids)
            assert len(set(ids)) == len(ids)
            system = await client.push(lambda f: f["event"] == "system")
            assert system == {
                "event": "system",
                "topic": "realtime:market:3",
                "ref": None,
                "payload": {
                    "channel": "market:3",
                    "extension": "postgres_changes",
                    "message": "Subscribed to PostgreSQL",
                    "status": "ok",
                },
            }

            none = await client.join("realtime:plain", rt_node.anon_key)
            assert none["payload"] == {"status": "ok", "response": {}}
            empty = await client.join("realtime:empty", rt_node.anon_key, [])
            assert empty["payload"] == {"status": "ok", "response": {"postgres_changes": []}}
            again = await client.join("realtime:market:3", rt_node.anon_key, bindings[:1])
            new_ids = [b["id"] for b in again["payload"]["response"]["postgres_changes"]]
            assert new_ids[0] not in ids  # a re-join replaces the channel with fresh ids

            ref = await client.send("realtime:plain", "phx_leave", join_ref="2")
            left = await client.reply(ref, "realtime:plain")
            assert left["payload"] == {"status": "ok", "response": {}}
            ref = await client.send(
                "realtime:plain", "broadcast", {"type": "broadcast", "event": "e", "payload": {}}
            )
            assert (await client.reply(ref))["payload"]["response"]["reason"].startswith(
                "unmatched topic"
            )

    run(scenario())


@pytest.mark.parametrize(
    ("binding", "reason"),
    [
        ({"event": "INSERT", "schema": "public", "table": "users"}, "not available for table"),
        ({"event": "INSERT", "schema": "app", "table": "wagers"}, "only schema 'public'"),
        ({"event": "TRUNCATE", "schema": "public", "table": "wagers"}, "binding event"),
        ({"event": "*", "table": "wagers", "filter": "market_id"}, "not col=op.value"),
        ({"event": "*", "table": "wagers", "filter": "market_id=near.3"}, "operator 'near'"),
        ({"event": "*", "table": "wagers", "filter": "nope=eq.3"}, "no column 'nope'"),
        ({"event": "*", "table": "wagers", "filter": "user_id=eq.bob"}, "bad filter value"),
        ({"event": "*", "table": "wagers", "filter": "stake=in.(1,x)"}, "bad filter value"),
        ({"event": "*", "table": "markets", "filter": "title=match.(("}, "operator 'match'"),
        # read as PostgREST reads a list (tests/test_filter_grammar.py): an empty element is kept,
        # an unbalanced parenthesis refused, a value text cannot hold refused as /rest/v1 does
        ({"event": "*", "table": "wagers", "filter": "stake=in.(1,,2)"}, "bad filter value"),
        ({"event": "*", "table": "markets", "filter": "title=eq.a)b"}, "unbalanced parentheses"),
        ({"event": "*", "table": "markets", "filter": "title=eq.\ud800"}, "bad filter value"),
        ({"event": "*", "filter": "id=eq.1"}, "a filter needs a table"),
        ({"event": "*", "table": "wagers", "select": ["id", "nope"]}, "no column 'nope'"),
    ],
)
def test_invalid_bindings_are_refused_and_the_channel_closed(
    rt_node: Node, binding: dict[str, Any], reason: str
) -> None:
    async def scenario() -> None:
        async with raw(rt_node.url, rt_node.anon_key) as client:
            reply = await client.join("realtime:bad", rt_node.anon_key, [binding])
            assert reply["payload"]["status"] == "error"
            assert reason in reply["payload"]["response"]["reason"]
            closed = await client.push(lambda f: f["event"] == "phx_close")
            assert closed["topic"] == "realtime:bad" and closed["ref"] is None
            ref = await client.send("phoenix", "heartbeat")  # the socket lives on
            assert (await client.reply(ref, "phoenix"))["payload"]["status"] == "ok"

    run(scenario())


def test_filters_read_values_as_postgrest_does(rt_node: Node, rt_database: str) -> None:
    """A filter's clauses are read as PostgREST reads the items of a logic tree: a double-quoted
    value is unquoted, a backslash escapes any character inside it, a column may be quoted; and a
    value is cast to the column's type without its modifier, as on /rest/v1 (wagers.odds is
    numeric(24,4): a bound past 10^20 is a number to compare, not an overflow to refuse)."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        title = 'Quoted, "North" \\ (FC)'
        market = await create_market(boss, title)
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        quoted = '"' + title.replace("\\", "\\\\").replace('"', '\\"') + '"'
        bindings: list[dict[str, Any]] = [
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "markets",
                "filter": f"title=eq.{quoted}",
            },
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "markets",
                "filter": f"title=in.(x,{quoted})",
            },
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "markets",
                "filter": "title=eq.Quoted",  # the words before the comma: not the title
            },
            {
                "event": "INSERT",
                "schema": "public",
                "table": "wagers",
                "filter": "odds=lt.1" + "0" * 20,
            },
            {
                "event": "INSERT",
                "schema": "public",
                "table": "wagers",
                "filter": f'"market_id"=eq.{market["id"]}',
            },
        ]
        async with raw(rt_node.url, rt_node.anon_key) as client:
            reply = await client.join(f"realtime:market:{market['id']}", ana.token, bindings)
            assert reply["payload"]["status"] == "ok", reply
            ids = [b["id"] for b in reply["payload"]["response"]["postgres_changes"]]
            placed = await wager(ana, market["id"], home, 200)

            def change_of(table: str, row_id: int) -> Callable[[dict[str, Any]], bool]:
                return lambda f: (
                    f["event"] == "postgres_changes"
                    and f["payload"]["data"]["table"] == table
                    and f["payload"]["data"]["record"]["id"] == row_id
                )

            updated = await client.push(change_of("markets", market["id"]))
            assert updated["payload"]["ids"] == ids[:2]
            assert updated["payload"]["data"]["record"]["title"] == title
            inserted = await client.push(change_of("wagers", placed["id"]))
            assert inserted["payload"]["ids"] == ids[3:]
        await close(ana, boss)

    run(scenario())


def test_tokens_are_verified_at_join_and_on_access_token(rt_node: Node) -> None:
    async def scenario() -> None:
        expired = Tokens(rt_node.jwt_secret)._sign(
            {"role": "anon", "exp": int(time.time()) - 10, "iat": int(time.time()) - 100}
        )
        none_alg = jwt.encode({"role": "service_role", "exp": 2**40}, "", algorithm="none")
        async with raw(rt_node.url, rt_node.anon_key) as client:
            for bad, why in (
                ("garbage", "malformed token"),
                (expired, "token expired"),
                (none_alg, "unsupported algorithm"),
            ):
                reply = await client.join("realtime:t", bad)
                assert reply["payload"]["status"] == "error"
                assert reply["payload"]["response"]["reason"].startswith(
                    f"invalid access token: {why}"
                )
                closed = await client.push(lambda f: f["event"] == "phx_close")
                assert closed["topic"] == "realtime:t"

            assert (await client.join("realtime:t", rt_node.anon_key))["payload"]["status"] == "ok"
            ref = await client.send(
                "realtime:t", "access_token", {"access_token": rt_node.service_key}, join_ref="4"
            )
            assert (await client.reply(ref))["payload"] == {"status": "ok", "response": {}}
            ref = await client.send(
                "realtime:t", "access_token", {"access_token": "garbage"}, join_ref="4"
            )
            refused = await client.reply(ref)
            assert refused["payload"]["status"] == "error"
            assert (await client.push(lambda f: f["event"] == "phx_close"))["topic"] == "realtime:t"
            ref = await client.send("realtime:t", "access_token", {"access_token": "x"})
            assert "unmatched topic" in (await client.reply(ref))["payload"]["response"]["reason"]

    run(scenario())


def test_client_broadcasts_are_refused_on_engine_topics(rt_node: Node) -> None:
    async def scenario() -> None:
        async with (
            raw(rt_node.url, rt_node.anon_key) as one,
            raw(rt_node.url, rt_node.anon_key) as two,
        ):
            assert (await one.join("realtime:market:1", rt_node.anon_key))["payload"][
                "status"
            ] == "ok"
            assert (await two.join("realtime:market:1", rt_node.anon_key))["payload"][
                "status"
            ] == "ok"
            forged = {"type": "broadcast", "event": "odds", "payload": {"market_id": 1}}
            ref = await one.send("realtime:market:1", "broadcast", forged, join_ref="1")
            refused = await one.reply(ref)
            assert refused["payload"]["status"] == "error"
            assert "read-only" in refused["payload"]["response"]["reason"]
            ref = await two.send("phoenix", "heartbeat")
            await two.reply(ref, "phoenix")
            assert two.pushes == []  # nothing was relayed

    run(scenario())


def test_pushes_have_a_null_ref_and_the_raw_postgres_changes_shape(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Raw Frames FC v Wire United")
        ana, ben = await sign_up(rt_node), await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        topic = f"realtime:market:{market['id']}"
        bindings: list[dict[str, Any]] = [
            {"event": "INSERT", "schema": "public", "table": "wagers"},
            {"event": "*", "schema": "public", "table": "my_wagers", "select": ["id", "stake"]},
            {"event": "INSERT", "schema": "public", "table": "wagers", "filter": "stake=gt.250"},
        ]
        async with raw(rt_node.url, rt_node.anon_key) as client:
            reply = await client.join(topic, ana.token, bindings)
            ids = [b["id"] for b in reply["payload"]["response"]["postgres_changes"]]
            await wager(ben, market["id"], home, 999)
            small = await wager(ana, market["id"], home, 200)
            big = await wager(ana, market["id"], home, 300)

            def change_of(wager_id: int, table: str) -> Callable[[dict[str, Any]], bool]:
                return lambda f: (
                    f["event"] == "postgres_changes"
                    and f["payload"]["data"]["table"] == table
                    and f["payload"]["data"]["record"]["id"] == wager_id
                )

            first = await client.push(change_of(small["id"], "wagers"))
            assert first["ref"] is None and first["topic"] == topic
            assert first["payload"]["ids"] == [ids[0]]  # 200 is not > 250
            data = first["payload"]["data"]
            assert set(data) == {
                "schema",
                "table",
                "commit_timestamp",
                "type",
                "errors",
                "columns",
                "record",
            }
            assert data["commit_timestamp"].endswith("Z")
            assert [c["name"] for c in data["columns"]] == list(data["record"])
            second = await client.push(change_of(big["id"], "wagers"))
            assert second["payload"]["ids"] == [ids[0], ids[2]]
            narrow = await client.push(change_of(big["id"], "my_wagers"))
            assert narrow["payload"]["ids"] == [ids[1]]
            assert narrow["payload"]["data"]["record"] == {"id": big["id"], "stake": 300}
            assert narrow["payload"]["data"]["columns"] == [
                {"name": "id", "type": "int8"},
                {"name": "stake", "type": "int8"},
            ]
            odds = await client.push(
                lambda f: (
                    f["event"] == "broadcast"
                    and f["payload"]["payload"]["version"] == big["accepted_version"]
                )
            )
            assert odds["ref"] is None and odds["payload"]["event"] == "odds"
            everything = [f for f in client.pushes if f["event"] == "postgres_changes"]
            owners = {f["payload"]["data"]["record"].get("user_id") for f in everything}
            assert owners <= {ana.user_id, None}  # never ben's
            assert all(f["ref"] is None for f in client.pushes)
        await close(ana, ben, boss)

    run(scenario())


def test_the_hub_resyncing_sends_resync_to_every_channel(rt_node: Node, rt_database: str) -> None:
    """The hub resyncs when its cursor on the event stream cannot be trusted: here events it had
    not read were pruned (a lost connection alone is caught up: tests/live/test_relay.py)."""

    async def scenario() -> None:
        async with raw(rt_node.url, rt_node.anon_key) as client:
            await client.join("realtime:market:1", rt_node.anon_key)
            await client.join("realtime:mine", rt_node.anon_key)
            async with await psycopg.AsyncConnection.connect(rt_database, autocommit=True) as db:
                await db.execute("update app.event_stream set pruned_xid = pg_current_xact_id()")
            system = await client.push(
                lambda f: f["event"] == "system" and f["topic"] == "realtime:mine"
            )
            assert system["payload"]["status"] == "ok"
            assert system["payload"]["message"].startswith("resync")
            resync = await client.push(
                lambda f: f["event"] == "broadcast" and f["topic"] == "realtime:market:1"
            )
            assert resync["payload"]["event"] == "resync"

    run(scenario())


# in-process: a node without a database, with shortened limits -----------------------------------


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
