"""What Realtime's clients send each other, across two API nodes of one deployment, with the
official async client (supabase-py's realtime): broadcasts on a room reach the subscribers of the
other node, `self` and `ack` as Supabase's; presences are seen on both nodes, as presence_state
then presence_diff (track, untrack, leave); a node that dies loses its presences within its ttl;
and nothing a client sends ever goes out on the engine's topics.

An absence is proven by order: a room's messages reach every subscriber in the order they were
written (one event stream), so a later message that arrives proves an earlier one would have."""

import asyncio
import json
import signal
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from realtime import AsyncRealtimeChannel, RealtimeAcknowledgementStatus
from supabase import AsyncClient, acreate_client

from tests.live.phoenix import Frame, wire
from tests.live.realtime_fixtures import (
    SUBSCRIBED,
    WAIT,
    Inbox,
    admin,
    create_market,
    marker,
    run,
    subscribe,
)
from tests.serving import Node

Nodes = tuple[Node, Node]


def room() -> str:
    return f"room:{uuid.uuid4().hex[:8]}"


def options(**config: Any) -> Any:
    """A channel's params as realtime-py takes them: its defaults, with `config` over them."""
    base: dict[str, Any] = {
        "broadcast": {"ack": False, "self": False},
        "presence": {"key": "", "enabled": False},
        "private": False,
    }
    return {"config": base | config}


async def client(node: Node) -> AsyncClient:
    return await acreate_client(node.url, node.anon_key)


async def listening(who: AsyncClient, name: str, **config: Any) -> tuple[Any, Inbox]:
    inbox = Inbox()
    channel = who.channel(name, options(**config))
    channel.on_broadcast("*", inbox.put)
    assert (await subscribe(channel))[0] == SUBSCRIBED
    return channel, inbox


async def acked(channel: AsyncRealtimeChannel, event: str, payload: Any) -> Any:
    """Send a broadcast and wait for its reply: "ok", or the reason of an error."""
    answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    push = await channel.push(
        "broadcast", {"type": "broadcast", "event": event, "payload": payload}
    )
    push.receive(RealtimeAcknowledgementStatus.Ok, lambda _: answered.set_result("ok"))
    push.receive(RealtimeAcknowledgementStatus.Error, lambda r: answered.set_result(r["reason"]))
    return await asyncio.wait_for(answered, WAIT)


def test_two_sockets_on_two_nodes_exchange_broadcasts(rooms_nodes: Nodes) -> None:
    async def scenario() -> None:
        a, b = rooms_nodes
        ana, ben = await client(a), await client(b)
        name = room()
        ana_channel, ana_inbox = await listening(ana, name)
        ben_channel, ben_inbox = await listening(ben, name, broadcast={"ack": True, "self": True})

        await ana_channel.send_broadcast("chat", {"text": "from node a"})
        got = await ben_inbox.until(lambda m: m["payload"].get("text") == "from node a")
        assert got[-1] == {"event": "chat", "payload": {"text": "from node a"}}

        # ben joined with ack and self: the write is acknowledged, and ben hears itself
        assert await acked(ben_channel, "chat", {"text": "from node b"}) == "ok"
        await ana_inbox.until(lambda m: m["payload"].get("text") == "from node b")
        await ben_inbox.until(lambda m: m["payload"].get("text") == "from node b")
        # ana joined without self: her own broadcast, written before ben's, never came back
        assert [m["payload"]["text"] for m in ana_inbox.items] == ["from node b"]
        await ana.remove_all_channels()
        await ben.remove_all_channels()

    run(scenario())


def broadcast_on(topic: str) -> Callable[[Frame], bool]:
    return lambda f: f["topic"] == topic and f["event"] == "broadcast"


def test_without_ack_a_broadcast_is_not_answered_and_with_it_is(rooms_nodes: Nodes) -> None:
    """Raw frames: Supabase answers a client broadcast only when the channel joined with
    `config.broadcast.ack`; its own copy (with `self`) comes back through the stream, after the
    write, so a reply would have come before it."""

    async def scenario() -> None:
        a, _ = rooms_nodes
        name = room()
        async with wire(a.url, a.anon_key, "1.0.0") as socket:
            for ack in (False, True):
                topic = f"realtime:{name}-{ack}"
                config = {"broadcast": {"ack": ack, "self": True}, "private": False}
                join_ref = str(socket.ref + 1)
                ref = await socket.send(
                    topic, "phx_join", {"config": config, "access_token": a.anon_key}, join_ref
                )
                assert (await socket.reply(ref, topic))["payload"]["status"] == "ok"
                body = {"type": "broadcast", "event": "ping", "payload": {"ack": ack}}
                sent = await socket.send(topic, "broadcast", body, join_ref=join_ref)
                echo = await socket.push(broadcast_on(topic))
                assert echo["event"] == "broadcast" and echo["ref"] is None
                assert echo["payload"] == body
                beat = await socket.heartbeat()
                assert beat["payload"]["status"] == "ok"
                replies = [f for f in socket.pushes if f["event"] == "phx_reply"]
                if ack:
                    assert [(f["ref"], f["payload"]["status"]) for f in replies] == [(sent, "ok")]
                else:
                    assert replies == []
                socket.pushes.clear()

    run(scenario())


async def state(channel: AsyncRealtimeChannel, changed: asyncio.Event, wanted: Any) -> None:
    """Wait until `channel.presence_state()` is as `wanted` says (a predicate)."""

    async def wait() -> None:
        while not wanted(channel.presence_state()):
            changed.clear()
            await changed.wait()

    try:
        await asyncio.wait_for(wait(), WAIT)
    except TimeoutError:
        raise AssertionError(f"presence state stayed {channel.presence_state()}") from None


def names(presences: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {key: sorted(p.get("name") for p in metas) for key, metas in presences.items()}


async def watching(who: AsyncClient, name: str, key: str) -> tuple[Any, asyncio.Event, list[Any]]:
    """A channel with presence (the client's callbacks turn it on), its changes, and the joins
    and leaves its callbacks saw."""
    seen: list[Any] = []
    changed = asyncio.Event()
    channel = who.channel(name, options(presence={"key": key, "enabled": False}))
    channel.on_presence_sync(changed.set)
    channel.on_presence_join(lambda k, _c, new: seen.append(("join", k, new)))
    channel.on_presence_leave(lambda k, _c, left: seen.append(("leave", k, left)))
    assert (await subscribe(channel))[0] == SUBSCRIBED
    return channel, changed, seen


def test_presence_is_seen_across_nodes_and_follows_track_untrack_and_leave(
    rooms_nodes: Nodes,
) -> None:
    async def scenario() -> None:
        a, b = rooms_nodes
        ana, ben = await client(a), await client(b)
        name = room()
        ana_channel, ana_changed, _ = await watching(ana, name, "ana")
        await ana_channel.track({"name": "ana", "status": "here"})
        await state(ana_channel, ana_changed, lambda s: names(s) == {"ana": ["ana"]})

        # ben joins on the other node: ana's presence is in his presence_state
        ben_channel, ben_changed, ben_seen = await watching(ben, name, "ben")
        await state(ben_channel, ben_changed, lambda s: names(s) == {"ana": ["ana"]})
        shown = ben_channel.presence_state()["ana"][0]
        assert shown["status"] == "here" and isinstance(shown["presence_ref"], str)

        await ben_channel.track({"name": "ben"})
        everyone = {"ana": ["ana"], "ben": ["ben"]}
        await state(ana_channel, ana_changed, lambda s: names(s) == everyone)
        await state(ben_channel, ben_changed, lambda s: names(s) == everyone)

        # a track again replaces the presence: one meta for the key, the new one
        await ana_channel.track({"name": "ana", "status": "away"})
        await state(
            ben_channel,
            ben_changed,
            lambda s: [p.get("status") for p in s.get("ana", [])] == ["away"],
        )
        await ana_channel.untrack()
        await state(ben_channel, ben_changed, lambda s: names(s) == {"ben": ["ben"]})
        assert ("leave", "ana") in [(kind, key) for kind, key, _ in ben_seen]

        await ben.remove_all_channels()  # a leave ends ben's presence too
        await state(ana_channel, ana_changed, lambda s: s == {})
        await ana.remove_all_channels()

    run(scenario())


def test_a_dead_node_s_presences_are_removed_within_its_ttl(
    rooms_nodes: Nodes, tmp_path_factory: Any
) -> None:
    a, _ = rooms_nodes
    third = Node(a.database_url, a.jwt_secret, tmp_path_factory.mktemp("c") / "c.log", env=a.env)
    third.start()

    async def scenario() -> None:
        name = room()
        watcher, carl = await client(a), await client(third)
        channel, changed, _ = await watching(watcher, name, "watcher")
        carl_channel, _, _ = await watching(carl, name, "carl")
        await carl_channel.track({"name": "carl"})
        await state(channel, changed, lambda s: names(s) == {"carl": ["carl"]})
        third.stop(signal.SIGKILL)  # no goodbye: only its silence tells
        # its ttl is 3 s, and node a beats every second
        await state(channel, changed, lambda s: s == {})
        await watcher.remove_all_channels()

    try:
        run(scenario())
    finally:
        third.stop(signal.SIGKILL)


def test_a_node_whose_presences_were_removed_writes_them_again(
    rooms_nodes: Nodes, rt_database: str
) -> None:
    """As if node a had been silent past its ttl (partitioned from the database): another beat
    removes its presences, and the watchers see the leave; node a's next beat finds its rows are
    not what it holds and writes them again, and the watchers see the join."""

    async def scenario() -> None:
        a, b = rooms_nodes
        name = room()
        ana, ben = await client(a), await client(b)
        ana_channel, _, _ = await watching(ana, name, "ana")
        await ana_channel.track({"name": "ana"})
        channel, changed, seen = await watching(ben, name, "ben")
        await state(channel, changed, lambda s: names(s) == {"ana": ["ana"]})
        async with await psycopg.AsyncConnection.connect(rt_database) as db:
            await db.execute("update app.realtime_nodes set seen_at = now() - interval '1 hour'")
            await db.execute("select server.realtime_beat(gen_random_uuid(), 3)")
            await db.commit()
        before = len(seen)

        def left_and_back(_: Any) -> bool:
            events = [(kind, key) for kind, key, _ in seen[before:]]
            return events == [("leave", "ana"), ("join", "ana")]

        await state(channel, changed, left_and_back)
        assert names(channel.presence_state()) == {"ana": ["ana"]}
        await ana.remove_all_channels()
        await ben.remove_all_channels()

    run(scenario())


def forged_frames(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if f["event"] == "broadcast" and f["payload"]["event"] == "odds"]


def test_a_client_cannot_broadcast_or_track_on_the_engine_s_topics(
    rooms_nodes: Nodes, rt_database: str
) -> None:
    """Refused with Supabase's error reply (status error, a reason), on every engine topic, in
    both framings; a private join or presence there is refused too; and a forged message that
    would have reached the stream anyway (written by hand into app.events) reaches no socket."""

    async def scenario() -> None:
        a, b = rooms_nodes
        boss = await admin(a, rt_database)
        market = await create_market(boss, f"Forgery {uuid.uuid4().hex[:6]} v Nobody")
        topic = f"realtime:market:{market['id']}"
        async with (
            wire(a.url, a.anon_key, "2.0.0") as forger,
            wire(b.url, b.anon_key, "1.0.0") as victim,
        ):
            for socket in (forger, victim):
                assert (await socket.join(topic, a.anon_key))[1]["payload"]["status"] == "ok"
            forged = {"type": "broadcast", "event": "odds", "payload": {"market_id": market["id"]}}
            ref = await forger.send(topic, "broadcast", forged, join_ref="1")
            refused = await forger.reply(ref, topic)
            assert refused["payload"]["status"] == "error"
            reason = refused["payload"]["response"]["reason"]
            assert "engine's topic" in reason and "read-only" in reason
            track = {"type": "presence", "event": "track", "payload": {"name": "x"}}
            ref = await forger.send(topic, "presence", track, join_ref="1")
            assert (
                "engine's topic"
                in (await forger.reply(ref, topic))["payload"]["response"]["reason"]
            )
            for name in ("realtime:admin", "realtime:markets", "realtime:user:1"):
                _, joined = await forger.join(name, a.anon_key)
                ref = await forger.send(name, "broadcast", forged, join_ref=joined["join_ref"])
                assert (await forger.reply(ref, name))["payload"]["status"] == "error"
            config = {"private": True, "broadcast": {"self": False, "ack": False}}
            ref = await forger.send(
                topic, "phx_join", {"config": config, "access_token": a.anon_key}, "9"
            )
            private = await forger.reply(ref, topic)
            assert "join it without private" in private["payload"]["response"]["reason"]

            # past the API: a realtime event on an engine topic, written by the superuser
            async with await psycopg.AsyncConnection.connect(rt_database, autocommit=True) as db:
                event = {
                    "type": "broadcast",
                    "topic": topic.removeprefix("realtime:"),
                    "private": False,
                    "event": "odds",
                    "payload": {"market_id": market["id"], "version": 999},
                }
                await db.execute(
                    "insert into app.events (channel, payload) values ('wagerbase_realtime', %s)",
                    [json.dumps(event)],
                )
            await marker(b, boss, victim)  # everything committed before has reached it
            assert forged_frames(victim.pushes) == []

    run(scenario())
