"""`/realtime/v1/websocket` in both of Phoenix's JSON serializers, chosen by `vsn` at the upgrade:
1.0.0 (objects, supabase-py's) and 2.0.0 (arrays `[join_ref, ref, topic, event, payload]` and a
binary user broadcast push, realtime-js's default). The same subscription scenario runs in both
framings with a raw `websockets` client that frames exactly as realtime-js does; any other `vsn`
is refused; and the official realtime-js client (web/node_modules), with its default options,
runs under Node against a served node.
"""

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.live.node_js import start
from tests.live.phoenix import VSNS, assert_framing, wire
from tests.live.realtime_fixtures import (
    PASSWORD,
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
from wagerbase.live.hub import Event


def broadcast_push(
    join_ref: str | None,
    ref: str | None,
    topic: str,
    event: str,
    payload: Any,
    *,
    binary_payload: bytes | None = None,
    metadata: str = "",
) -> bytes:
    """A user broadcast push as realtime-js's serializer encodes `channel.send({type:
    "broadcast", event, payload})` under 2.0.0 (`_encodeUserBroadcastPush`): kind 3, five field
    lengths, the payload encoding (1 JSON, 0 raw bytes), the fields, the payload."""
    fields = [join_ref or "", ref or "", topic, event, metadata]
    if binary_payload is None:
        encoding, body = 1, json.dumps(payload).encode()
    else:
        encoding, body = 0, binary_payload
    header = bytes([3, *(len(f) for f in fields), encoding])
    return header + "".join(fields).encode("latin-1") + body


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


def test_2_0_0_bad_frames_get_array_framed_error_replies() -> None:
    async def scenario() -> None:
        async with small_node() as node, wire(node.url, node.anon_key, "2.0.0") as client:
            for text, reason in (
                ("{not json", "the frame is not JSON"),
                (json.dumps({"topic": "phoenix", "event": "heartbeat", "ref": "1"}), "JSON array"),
                (json.dumps([None, "1", "phoenix", "heartbeat"]), "JSON array"),
            ):
                await client.ws.send(text)
                error = await client.reply(None, "phoenix")
                assert error["payload"]["status"] == "error"
                assert reason in error["payload"]["response"]["reason"]
            await client.ws.send(json.dumps([None, "9", "realtime:x", 5, {}]))
            assert (await client.reply("9", "realtime:x"))["payload"]["status"] == "error"
            await client.ws.send(json.dumps([None, "10", "realtime:x", "phx_join", [1]]))
            assert (await client.reply("10", "realtime:x"))["payload"]["status"] == "error"
            beat = await client.heartbeat()  # the socket lives on
            assert beat["payload"]["status"] == "ok"
            assert client.pushes == []
            assert_framing(client)

    run(scenario())


def test_2_0_0_binary_broadcast_pushes_are_decoded_and_refused() -> None:
    """realtime-js sends `channel.send({type: "broadcast"})` as a binary frame under 2.0.0; the
    server reads it (topic, refs, event, payload) and refuses it as any broadcast: the market
    topics are the engine's. Other binary frames are answered with an error on `phoenix`."""

    async def scenario() -> None:
        async with (
            small_node() as node,
            wire(node.url, node.anon_key, "2.0.0") as client,
            wire(node.url, node.anon_key, "2.0.0") as other,
        ):
            topic = "realtime:market:1"
            join_ref, reply = await client.join(topic, node.anon_key)
            assert reply["payload"]["status"] == "ok"
            assert (await other.join(topic, node.anon_key))[1]["payload"]["status"] == "ok"

            forged = {"type": "odds", "market_id": 1, "version": 99}
            ref = client.make_ref()
            await client.ws.send(broadcast_push(join_ref, ref, topic, "odds", forged))
            refused = await client.reply(ref, topic)
            assert refused["join_ref"] == join_ref
            assert refused["payload"]["status"] == "error"
            assert "read-only" in refused["payload"]["response"]["reason"]

            ref = client.make_ref()
            raw = broadcast_push(
                join_ref, ref, topic, "blob", None, binary_payload=b"\x00\xff", metadata='{"a":1}'
            )
            await client.ws.send(raw)
            assert "read-only" in (await client.reply(ref, topic))["payload"]["response"]["reason"]

            ref = client.make_ref()
            await client.ws.send(broadcast_push(None, ref, "realtime:elsewhere", "e", {}))
            unmatched = await client.reply(ref, "realtime:elsewhere")
            assert unmatched["payload"]["response"]["reason"].startswith("unmatched topic")

            ref = client.make_ref()
            await client.ws.send(broadcast_push(join_ref, ref, topic, "e", {})[:-1] + b"{")
            bad = await client.reply(ref, topic)
            assert "not JSON" in bad["payload"]["response"]["reason"]

            for junk, reason in (
                (b"\x04\x00", "user broadcast push"),
                (b"", "user broadcast push"),
                (bytes([3, 0, 1, 200, 1, 0, 1]) + b"1realtime:x", "truncated"),
            ):
                await client.ws.send(junk)
                error = await client.reply(None, "phoenix")
                assert reason in error["payload"]["response"]["reason"]

            beat = await other.heartbeat()
            assert beat["payload"]["status"] == "ok"
            assert other.pushes == []  # nothing was relayed
            assert_framing(client)

    run(scenario())


def test_2_0_0_binary_broadcast_pushes_on_a_room_reach_its_other_sockets(rt_node: Node) -> None:
    """On a room (a topic of the clients'), realtime-js's binary broadcast push is a client
    broadcast like any other: decoded, written, and delivered to the room's other sockets, in
    their own framing; a payload of raw bytes is refused (JSON only here)."""

    async def scenario() -> None:
        topic = f"realtime:room:{uuid.uuid4().hex[:8]}"
        async with (
            wire(rt_node.url, rt_node.anon_key, "2.0.0") as sender,
            wire(rt_node.url, rt_node.anon_key, "1.0.0") as receiver,
        ):
            join_ref, reply = await sender.join(topic, rt_node.anon_key)
            assert reply["payload"]["status"] == "ok"
            assert (await receiver.join(topic, rt_node.anon_key))[1]["payload"]["status"] == "ok"
            ref = sender.make_ref()
            raw = broadcast_push(
                join_ref, ref, topic, "blob", None, binary_payload=b"\x00\xff", metadata="{}"
            )
            await sender.ws.send(raw)
            refused = await sender.reply(ref, topic)
            assert (
                "binary broadcast payloads are not supported"
                in (refused["payload"]["response"]["reason"])
            )
            await sender.ws.send(
                broadcast_push(join_ref, sender.make_ref(), topic, "chat", {"text": "hi"})
            )
            heard = await receiver.push(lambda f: f["event"] == "broadcast")
            assert heard == {
                "event": "broadcast",
                "topic": topic,
                "ref": None,
                "join_ref": None,
                "payload": {"type": "broadcast", "event": "chat", "payload": {"text": "hi"}},
            }
            assert_framing(sender)
            assert_framing(receiver)

    run(scenario())


def test_2_0_0_system_frames_resync_and_expiry() -> None:
    async def scenario() -> None:
        async with small_node() as node, wire(node.url, node.anon_key, "2.0.0") as client:
            await client.join("realtime:markets", node.anon_key)
            node.hub.publish(Event("system", {"type": "resync", "reason": "reconnected"}))
            system = await client.push(lambda f: f["event"] == "system")
            assert system["payload"]["message"].startswith("resync")
            resync = await client.push(lambda f: f["event"] == "broadcast")
            assert resync["payload"]["event"] == "resync"

            short = node.tokens._sign({"role": "anon", "exp": int(time.time()) + 2})
            join_ref, _ = await client.join("realtime:market:7", short)
            await asyncio.sleep(3)  # not a timing assertion: the token must have expired
            node.hub.publish(Event("market", {"type": "odds", "market_id": 7, "version": 2}))
            expired = await client.push(
                lambda f: f["event"] == "system" and f["topic"] == "realtime:market:7"
            )
            assert expired["payload"]["status"] == "error"
            closed = await client.push(lambda f: f["event"] == "phx_close")
            assert (closed["topic"], closed["join_ref"]) == ("realtime:market:7", join_ref)
            assert_framing(client)

    run(scenario())


# the official realtime-js client under Node ------------------------------------------------------

# Runs in web/ (tests/live/node_js.py). Default realtime options but for a faster
# heartbeat, its callback and a transport that only observes the real WebSocket. Prints one JSON
# line per thing it sees; "finish" on stdin makes it send a broadcast (acked), leave and exit.
NODE_CLIENT = r"""
const { createClient } = require('@supabase/supabase-js');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const kind = (d) => (typeof d === 'string' ? null : new Uint8Array(d)[0]);
class Observed extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols);
    out({ kind: 'connect', vsn: new URL(url).searchParams.get('vsn') });
    this.addEventListener('message', (e) =>
      out({ kind: 'received', text: typeof e.data === 'string' ? e.data : null,
            binary: kind(e.data) }));
  }
  send(data) {
    out({ kind: 'sent', text: typeof data === 'string' ? data : null, binary: kind(data) });
    super.send(data);
  }
}
setTimeout(() => { out({ kind: 'timeout' }); process.exit(2); }, 90000).unref();
(async () => {
  const env = process.env;
  const supabase = createClient(env.WB_URL, env.WB_ANON, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: {
      transport: Observed,
      heartbeatIntervalMs: 1000,
      heartbeatCallback: (status) => out({ kind: 'heartbeat', status }),
    },
  });
  out({ kind: 'vsn', vsn: supabase.realtime.vsn });
  const { error } = await supabase.auth.signInWithPassword({
    email: env.WB_EMAIL, password: env.WB_PASSWORD });
  if (error) { out({ kind: 'error', message: error.message }); process.exit(1); }
  const channel = supabase
    .channel(`market:${env.WB_MARKET}`, { config: { broadcast: { ack: true } } })
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'my_wagers' },
        (change) => out({ kind: 'change', change }))
    .on('broadcast', { event: 'odds' }, (message) => out({ kind: 'broadcast', message }))
    .on('system', {}, (message) => out({ kind: 'system', message }));
  channel.subscribe((status, err) =>
    out({ kind: 'status', status, error: err ? String(err.message || err) : null }));
  process.stdin.setEncoding('utf8');
  process.stdin.once('data', async () => {
    const sent = await channel.send({ type: 'broadcast', event: 'shout', payload: { hi: 1 } });
    out({ kind: 'send', result: sent });
    const left = await supabase.removeChannel(channel);
    out({ kind: 'left', result: left });
    await supabase.realtime.disconnect();
    out({ kind: 'done' });
    process.exit(0);
  });
})().catch((e) => { out({ kind: 'error', message: String(e && e.stack || e) }); process.exit(1); });
"""


def test_the_official_realtime_js_client_with_its_default_vsn(
    rt_node: Node, rt_database: str, node_binary: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Node FC v Realtime-JS Athletic")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        env = {
            "WB_URL": rt_node.url,
            "WB_ANON": rt_node.anon_key,
            "WB_EMAIL": ana.email,
            "WB_PASSWORD": PASSWORD,
            "WB_MARKET": str(market["id"]),
        }
        client = await start(node_binary, NODE_CLIENT, env, tmp_path / "node.stderr")
        process = client.process
        try:
            assert (await client.until(lambda m: m["kind"] == "vsn"))["vsn"] == "2.0.0"
            assert (await client.until(lambda m: m["kind"] == "connect"))["vsn"] == "2.0.0"
            status = await client.until(lambda m: m["kind"] == "status")
            assert (status["status"], status["error"]) == ("SUBSCRIBED", None)

            placed = await wager(ana, market["id"], home, 700)
            change = await client.until(
                lambda m: m["kind"] == "change" and m["change"]["new"]["id"] == placed["id"]
            )
            assert change["change"]["eventType"] == "INSERT"
            assert change["change"]["table"] == "my_wagers"
            assert change["change"]["new"]["stake"] == 700
            odds = await client.until(
                lambda m: (
                    m["kind"] == "broadcast"
                    and m["message"]["payload"]["version"] == placed["accepted_version"]
                )
            )
            assert odds["message"]["event"] == "odds"
            await client.until(lambda m: m["kind"] == "heartbeat" and m["status"] == "ok")

            assert process.stdin is not None
            process.stdin.write(b"finish\n")
            await process.stdin.drain()
            # a client broadcast goes out as a binary frame (kind 3) and the server refuses it
            assert (await client.until(lambda m: m["kind"] == "send"))["result"] == "error"
            assert (await client.until(lambda m: m["kind"] == "left"))["result"] == "ok"
            await client.until(lambda m: m["kind"] == "done")
            assert await asyncio.wait_for(process.wait(), WAIT) == 0
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

        sent = [m for m in client.lines if m["kind"] == "sent"]
        received = [m for m in client.lines if m["kind"] == "received"]
        assert any(m["binary"] == 3 for m in sent)  # the user broadcast push
        for frame in [m for m in sent if m["text"] is not None] + received:
            value = json.loads(frame["text"])
            assert isinstance(value, list) and len(value) == 5, frame  # V2 arrays both ways
        assert all(m["binary"] is None for m in received)
        events = {json.loads(m["text"])[3] for m in sent if m["text"] is not None}
        assert {"phx_join", "heartbeat", "phx_leave"} <= events
        await close(ana, boss)

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
