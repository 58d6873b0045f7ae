"""What only `/realtime/v1/websocket`'s serializer 2.0.0 has: array-framed error replies to bad
frames, binary user broadcast pushes (decoded, refused on engine topics, relayed on a room to its
other sockets), and the system frames of a resync and of a token's expiry."""

import asyncio
import json
import time
import uuid
from typing import Any

from tests.live.phoenix import assert_framing, wire
from tests.live.realtime_fixtures import run
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
