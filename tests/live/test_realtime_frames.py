"""The Phoenix frames of `/realtime/v1/websocket` on the wire, with a raw `websockets` client:
the apikey at the upgrade, heartbeat, refusals of bad JSON and unknown events (replies, not
crashes), client broadcasts refused on engine topics, the raw postgres_changes shape, and the
resync frames when the hub resyncs. Joining: test_realtime_joins.py; the limits:
test_realtime_limits.py."""

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from websockets.exceptions import InvalidStatus

from tests.live.raw_phoenix import raw
from tests.live.realtime_fixtures import (
    admin,
    close,
    create_market,
    outcome_ids,
    run,
    sign_up,
    wager,
)
from tests.serving import Node


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
