"""`/realtime/v1/websocket` in both of Phoenix's JSON serializers, chosen by `vsn` at the upgrade:
1.0.0 (objects, supabase-py's) and 2.0.0 (arrays `[join_ref, ref, topic, event, payload]` and a
binary user broadcast push, realtime-js's default). The same subscription scenario runs in both
framings with a raw `websockets` client that frames exactly as realtime-js does; without `vsn`
the socket speaks 1.0.0, any other `vsn` is refused, and two framings on one node receive the same
change. 2.0.0's own frames: test_realtime_v2_frames.py; the official realtime-js client:
test_realtime_v2_js.py.
"""

import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live.phoenix import VSNS, assert_framing, wire
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


@pytest.mark.parametrize("vsn", VSNS)
def test_the_subscription_scenario_in_both_framings(
    rt_node: Node, rt_database: str, vsn: str
) -> None:
    """Join with postgres_changes on my_wagers, a real wager's INSERT and the market's odds
    broadcast, a heartbeat, error replies, a refused join closed with phx_close, and a leave."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, f"Framing {vsn} FC v Serializer Town")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        topic = f"realtime:market:{market['id']}"
        bindings = [{"event": "INSERT", "schema": "public", "table": "my_wagers"}]
        async with wire(rt_node.url, rt_node.anon_key, vsn) as client:
            join_ref, reply = await client.join(topic, ana.token, bindings)
            assert reply["ref"] == reply["join_ref"] == join_ref
            assert reply["payload"]["status"] == "ok"
            echoed = reply["payload"]["response"]["postgres_changes"]
            assert [{k: v for k, v in b.items() if k != "id"} for b in echoed] == bindings
            ids = [b["id"] for b in echoed]
            system = await client.push(lambda f: f["event"] == "system")
            assert system["topic"] == topic and system["ref"] is None
            assert system["payload"]["message"] == "Subscribed to PostgreSQL"

            placed = await wager(ana, market["id"], home, 500)
            change = await client.push(
                lambda f: (
                    f["event"] == "postgres_changes"
                    and f["payload"]["data"]["record"]["id"] == placed["id"]
                )
            )
            assert change["topic"] == topic and change["ref"] is None
            assert change["payload"]["ids"] == ids
            data = change["payload"]["data"]
            assert (data["schema"], data["table"], data["type"]) == (
                "public",
                "my_wagers",
                "INSERT",
            )
            assert data["record"]["stake"] == 500 and data["record"]["user_id"] == ana.user_id
            odds = await client.push(
                lambda f: (
                    f["event"] == "broadcast"
                    and f["payload"]["payload"]["version"] == placed["accepted_version"]
                )
            )
            assert odds["topic"] == topic and odds["ref"] is None
            assert odds["payload"]["type"] == "broadcast" and odds["payload"]["event"] == "odds"

            beat = await client.heartbeat()
            assert beat["payload"] == {"status": "ok", "response": {}}
            assert beat["join_ref"] is None

            ref = await client.send(topic, "shout", {"x": 1}, join_ref=join_ref)
            unknown = await client.reply(ref, topic)
            assert unknown["join_ref"] == join_ref
            assert unknown["payload"] == {
                "status": "error",
                "response": {"reason": "unknown event 'shout'"},
            }
            ref = await client.send(topic, "presence", {"type": "presence"}, join_ref=join_ref)
            presence = await client.reply(ref, topic)
            assert presence["payload"]["response"] == {
                "reason": f"{topic} is the engine's topic, read-only here: presence is not "
                "available on it; use a topic of your own"
            }

            bad_ref, refused = await client.join(
                "realtime:bad", ana.token, [{"event": "*", "schema": "public", "table": "users"}]
            )
            assert refused["payload"]["status"] == "error"
            assert "not available for table" in refused["payload"]["response"]["reason"]
            closed = await client.push(lambda f: f["event"] == "phx_close")
            assert (closed["topic"], closed["ref"], closed["join_ref"]) == (
                "realtime:bad",
                None,
                bad_ref,
            )
            assert closed["payload"] == {}

            ref = await client.send(topic, "phx_leave", join_ref=join_ref)
            left = await client.reply(ref, topic)
            assert left["payload"] == {"status": "ok", "response": {}}
            assert left["join_ref"] == join_ref
            ref = await client.send(topic, "access_token", {"access_token": ana.token})
            gone = await client.reply(ref, topic)
            assert gone["payload"]["response"]["reason"].startswith("unmatched topic")
            assert_framing(client)
        await close(ana, boss)

    run(scenario())


def test_without_vsn_the_socket_speaks_1_0_0() -> None:
    async def scenario() -> None:
        async with small_node() as node, wire(node.url, node.anon_key, None) as client:
            beat = await client.heartbeat()
            assert beat["payload"]["status"] == "ok"
            assert isinstance(json.loads(client.raw[-1]), dict)

    run(scenario())


@pytest.mark.parametrize(
    "vsn", ["3.0.0", "2.0", "1", "", "2.0.0-rc", "x" * 300, "%E2%9C%93%00" * 40, "%00" * 30]
)
def test_an_unknown_vsn_is_refused_with_a_close_reason(vsn: str) -> None:
    async def scenario() -> None:
        async with small_node() as node:
            async with wire(node.url, node.anon_key, vsn) as client:
                with pytest.raises(ConnectionClosed) as closed:
                    await client.ws.send(json.dumps([None, "1", "phoenix", "heartbeat", {}]))
                    await client.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason.startswith("unsupported vsn")
            assert "use 1.0.0 or 2.0.0" in closed.value.rcvd.reason
            with pytest.raises(InvalidStatus) as refused:  # the apikey is checked first
                async with wire(node.url, "not-a-jwt", vsn):
                    pass
            assert refused.value.response.status_code == 403

    run(scenario())


def test_two_framings_on_one_node_receive_the_same_change(rt_node: Node, rt_database: str) -> None:
    """One wager, one 1.0.0 socket and one 2.0.0 socket: the decoded frames are equal."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, f"Twin {uuid.uuid4().hex[:6]} v Twin")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        bindings = [{"event": "INSERT", "schema": "public", "table": "wagers"}]
        async with (
            wire(rt_node.url, rt_node.anon_key, "1.0.0") as one,
            wire(rt_node.url, rt_node.anon_key, "2.0.0") as two,
        ):
            for client in (one, two):
                _, reply = await client.join("realtime:twin", ana.token, bindings)
                assert reply["payload"]["status"] == "ok"
            placed = await wager(ana, market["id"], home, 300)
            got = [
                await client.push(
                    lambda f: (
                        f["event"] == "postgres_changes"
                        and f["payload"]["data"]["record"]["id"] == placed["id"]
                    )
                )
                for client in (one, two)
            ]
            first, second = got
            # binding ids differ per socket; everything else is the same
            first["payload"]["ids"] = second["payload"]["ids"] = None
            assert first == second
            assert_framing(one)
            assert_framing(two)
        await close(ana, boss)

    run(scenario())
