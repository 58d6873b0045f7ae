"""Private Realtime channels authorized by the policies on realtime.messages, as on Supabase, with
the official async client across two nodes; and the bounds on what clients send each other, each
refused with a reason that says which (raw Phoenix frames, on nodes with small limits:
tests/live/conftest.py's ROOMS_ENV).

An absence is proven by order, as in test_realtime_rooms.py: a later message that arrives proves
an earlier one would have."""

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import psycopg
from psycopg import sql
from supabase import AsyncClient

from tests.live.phoenix import Frame, Wire, wire
from tests.live.realtime_fixtures import SUBSCRIBED, Inbox, close, run, sign_up, subscribe
from tests.serving import Node
from tests.support.supabase_users import SupabaseUser

Nodes = tuple[Node, Node]
CANNOT_READ = "Unauthorized: You do not have permissions to read from this Channel topic: "


def private(**config: Any) -> Any:
    """A private channel's params as realtime-py takes them."""
    base: dict[str, Any] = {
        "broadcast": {"ack": True, "self": True},
        "presence": {"key": "", "enabled": False},
        "private": True,
    }
    return {"config": base | config}


async def policy(database_url: str, statement: str, **values: Any) -> None:
    """A policy on realtime.messages, written by the database's owner as an app's migration
    would; `values` are put in as literals, but its `title`."""
    query = sql.SQL(statement).format(
        **{k: sql.Identifier(v) if k == "title" else sql.Literal(v) for k, v in values.items()}
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(query)


async def joined(
    who: SupabaseUser[AsyncClient], name: str, **config: Any
) -> tuple[Any, Inbox, list[Any]]:
    inbox = Inbox()
    channel = who.client.channel(name, private(**config))
    channel.on_broadcast("*", inbox.put)
    return channel, inbox, await subscribe(channel)


def test_a_private_channel_without_a_policy_refuses_joins_and_sends(rooms_nodes: Nodes) -> None:
    async def scenario() -> None:
        a, _ = rooms_nodes
        ana = await sign_up(a)
        name = f"room:{uuid.uuid4().hex[:8]}"
        _, _, states = await joined(ana, name)
        state, error = states[0]
        assert state == "CHANNEL_ERROR" and error is not None and CANNOT_READ + name in error
        async with wire(a.url, a.anon_key, "1.0.0") as socket:
            topic = f"realtime:{name}"
            config = {"private": True, "broadcast": {"ack": True, "self": False}}
            ref = await socket.send(
                topic, "phx_join", {"config": config, "access_token": ana.token}, "1"
            )
            refused = await socket.reply(ref, topic)
            assert refused["payload"] == {
                "status": "error",
                "response": {"reason": CANNOT_READ + name},
            }
            assert (await socket.push(lambda f: f["event"] == "phx_close"))["topic"] == topic
            body = {"type": "broadcast", "event": "chat", "payload": {}}
            ref = await socket.send(topic, "broadcast", body, join_ref="1")
            unmatched = await socket.reply(ref, topic)
            assert "unmatched topic" in unmatched["payload"]["response"]["reason"]
        await close(ana)

    run(scenario())


def test_a_policy_lets_the_allowed_user_send_and_receive_and_nobody_else(
    rooms_nodes: Nodes, rt_database: str
) -> None:
    async def scenario() -> None:
        a, b = rooms_nodes
        ana, ana_elsewhere, ben = await sign_up(a), await sign_up(b), await sign_up(b)
        anyone = await sign_up(b)
        name = f"club:{uuid.uuid4().hex[:8]}"
        for action, clause in (("select", "using"), ("insert", "with check")):
            await policy(
                rt_database,
                f"""create policy {{title}} on realtime.messages for {action} to authenticated
                    {clause} (realtime.topic() = {{topic}}
                              and (select auth.uid()) in ({{ana}}::uuid, {{again}}::uuid))""",
                title=f"{name} {action}",
                topic=name,
                ana=ana.user_id,
                again=ana_elsewhere.user_id,
            )
        channel, inbox, states = await joined(ana, name)
        assert states[0] == SUBSCRIBED
        _, far_inbox, far_states = await joined(ana_elsewhere, name)  # node b
        assert far_states[0] == SUBSCRIBED
        _, _, ben_states = await joined(ben, name)
        assert ben_states[0][0] == "CHANNEL_ERROR" and CANNOT_READ + name in str(ben_states[0][1])

        # the public channel of the same name: another channel, which hears none of it
        public, public_inbox, public_states = await joined(anyone, name, private=False)
        assert public_states[0] == SUBSCRIBED
        await channel.send_broadcast("secret", {"n": 1})
        await inbox.until(lambda m: m["event"] == "secret")  # written: ana's self copy is back
        await far_inbox.until(lambda m: m["event"] == "secret")  # and on the other node
        await public.send_broadcast("open", {"n": 2})
        got = await public_inbox.until(lambda m: m["event"] == "open")
        assert [m["event"] for m in got] == ["open"]
        await close(ana, ana_elsewhere, ben, anyone)

    run(scenario())


def test_a_policy_may_let_everyone_read_and_one_user_write(
    rooms_nodes: Nodes, rt_database: str
) -> None:
    async def scenario() -> None:
        a, b = rooms_nodes
        ana, ben = await sign_up(a), await sign_up(b)
        name = f"stage:{uuid.uuid4().hex[:8]}"
        await policy(
            rt_database,
            """create policy {title} on realtime.messages for select to authenticated
               using (realtime.topic() = {topic})""",
            title=f"{name} read",
            topic=name,
        )
        await policy(
            rt_database,
            """create policy {title} on realtime.messages for insert to authenticated
               with check (realtime.topic() = {topic} and extension = 'broadcast'
                           and (select auth.uid()) = {ana}::uuid)""",
            title=f"{name} write",
            topic=name,
            ana=ana.user_id,
        )
        speaker, _, _ = await joined(ana, name)
        async with wire(b.url, b.anon_key, "1.0.0") as listener:
            topic = f"realtime:{name}"
            config = {"private": True, "broadcast": {"ack": True, "self": False}}
            ref = await listener.send(
                topic, "phx_join", {"config": config, "access_token": ben.token}, "1"
            )
            assert (await listener.reply(ref, topic))["payload"]["status"] == "ok"
            body = {"type": "broadcast", "event": "heckle", "payload": {}}
            ref = await listener.send(topic, "broadcast", body, join_ref="1")
            refused = await listener.reply(ref, topic)
            assert refused["payload"]["response"]["reason"] == (
                f"Unauthorized: You do not have permissions to broadcast on this Channel topic: "
                f"{name}"
            )
            track = {"type": "presence", "event": "track", "payload": {"name": "ben"}}
            ref = await listener.send(topic, "presence", track, join_ref="1")
            assert (
                "track presence"
                in (await listener.reply(ref, topic))["payload"]["response"]["reason"]
            )
            await speaker.send_broadcast("speech", {"words": "hello"})
            heard = await listener.push(lambda f: f["event"] == "broadcast")
            assert heard["payload"] == {
                "type": "broadcast",
                "event": "speech",
                "payload": {"words": "hello"},
            }
            # the policies are asked again for a new token: the anon key may not read here
            ref = await listener.send(topic, "access_token", {"access_token": b.anon_key}, "1")
            closed = await listener.reply(ref, topic)
            assert closed["payload"]["response"]["reason"] == (
                f"You no longer have permission to read from this Channel topic: {name}"
            )
            assert (await listener.push(lambda f: f["event"] == "phx_close"))["topic"] == topic
        await close(ana, ben)

    run(scenario())


def test_the_service_role_may_use_any_private_channel(rooms_nodes: Nodes) -> None:
    async def scenario() -> None:
        a, _ = rooms_nodes
        async with wire(a.url, a.service_key, "2.0.0") as socket:
            topic = f"realtime:ops:{uuid.uuid4().hex[:8]}"
            config = {"private": True, "broadcast": {"ack": True, "self": True}}
            ref = await socket.send(
                topic, "phx_join", {"config": config, "access_token": a.service_key}, "1"
            )
            assert (await socket.reply(ref, topic))["payload"]["status"] == "ok"
            ref = await socket.send(
                topic, "broadcast", {"type": "broadcast", "event": "e", "payload": {}}, "1"
            )
            assert (await socket.reply(ref, topic))["payload"]["status"] == "ok"
            echo = await socket.push(lambda f: f["event"] == "broadcast")
            assert echo["payload"]["event"] == "e"

    run(scenario())


async def join_room(socket: Wire, node: Node, topic: str, **config: Any) -> str:
    join_ref = str(socket.ref + 1)
    payload = {"config": {"private": False, **config}, "access_token": node.anon_key}
    ref = await socket.send(topic, "phx_join", payload, join_ref)
    assert (await socket.reply(ref, topic))["payload"]["status"] == "ok"
    return join_ref


async def reason(socket: Wire, topic: str, join_ref: str, event: str, payload: Any) -> str:
    ref = await socket.send(topic, event, payload, join_ref)
    answer = await socket.reply(ref, topic)
    assert answer["payload"]["status"] == "error", answer
    found: str = answer["payload"]["response"]["reason"]
    return found


def reply_to(ref: str) -> Callable[[Frame], bool]:
    return lambda f: f["event"] == "phx_reply" and f["ref"] == ref


def test_what_clients_send_is_bounded_and_each_refusal_says_why(rooms_nodes: Nodes) -> None:
    async def scenario() -> None:
        a, _ = rooms_nodes
        topic = f"realtime:room:{uuid.uuid4().hex[:8]}"
        async with wire(a.url, a.anon_key, "1.0.0") as socket:
            join_ref = await join_room(socket, a, topic, broadcast={"ack": True})
            big = {"type": "broadcast", "event": "big", "payload": {"x": "y" * 5000}}
            said = await reason(socket, topic, join_ref, "broadcast", big)
            assert said.startswith("broadcast too large:") and "at most 4096" in said
            assert "WAGERBASE_BROADCAST_BYTES" in said

            heavy = {"type": "presence", "event": "track", "payload": {"x": "y" * 600}}
            said = await reason(socket, topic, join_ref, "presence", heavy)
            assert said.startswith("presence too large:") and "at most 512" in said
            odd = {"type": "presence", "event": "track", "payload": ["not", "a", "map"]}
            said = await reason(socket, topic, join_ref, "presence", odd)
            assert said == "Presence track payload must be a map"

            # 40 at once from one socket, allowed 20 a second: the rest are refused, at once
            refs = [
                await socket.send(
                    topic, "broadcast", {"type": "broadcast", "event": "n", "payload": {}}, join_ref
                )
                for _ in range(40)
            ]
            # the refusals come at once, the acks once written: in any order
            answers = [await socket.push(reply_to(ref)) for ref in refs]
            refused = [
                a["payload"]["response"]["reason"]
                for a in answers
                if a["payload"]["status"] == "error"
            ]
            assert 10 <= len(refused) < 40
            assert set(refused) == {
                "too many messages from this socket (at most 20 a second, "
                "WAGERBASE_SOCKET_MESSAGES); slow down"
            }
            await asyncio.sleep(1.1)  # not a timing assertion: the allowance is back by then
            ref = await socket.send(
                topic, "broadcast", {"type": "broadcast", "event": "n", "payload": {}}, join_ref
            )
            assert (await socket.push(reply_to(ref)))["payload"]["status"] == "ok"

    run(scenario())


def test_presences_a_channel_and_channels_a_socket_are_bounded(rooms_nodes: Nodes) -> None:
    async def scenario() -> None:
        a, b = rooms_nodes
        crowd = f"realtime:room:{uuid.uuid4().hex[:8]}"
        async with AsyncExitStack() as stack:
            said = []
            for n in range(5):  # at most 4 on a channel, every node's together
                node = (a, b)[n % 2]
                socket = await stack.enter_async_context(wire(node.url, node.anon_key, "1.0.0"))
                join_ref = await join_room(socket, node, crowd)
                track = {"type": "presence", "event": "track", "payload": {"n": n}}
                ref = await socket.send(crowd, "presence", track, join_ref)
                said.append((await socket.reply(ref, crowd))["payload"])
        assert said[:4] == [{"status": "ok", "response": {}}] * 4
        assert said[4] == {
            "status": "error",
            "response": {"reason": "too many presences on this channel"},
        }

        async with wire(a.url, a.anon_key, "1.0.0") as socket:
            for n in range(100):
                await join_room(socket, a, f"realtime:many:{n}")
            ref = await socket.send("realtime:many:100", "phx_join", {}, "999")
            refused = await socket.reply(ref, "realtime:many:100")
            assert refused["payload"]["response"]["reason"] == (
                "too many channels on this socket (at most 100)"
            )

    run(scenario())
