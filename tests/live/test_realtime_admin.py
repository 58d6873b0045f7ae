"""The engine's admin messages on the Supabase Realtime socket: broadcasts on `realtime:admin`
whose `event` is the engine's type and whose payload is the engine's message, in both of Phoenix's
framings. Only a current admin (or the service role) joins the topic: a bettor's join is refused
and closed, and a bettor's socket never holds an admin message; an admin demoted (or whose channel
switches to a bettor's token) stops receiving at once, though their token still claims the role.

Nothing waits for an absence: where a message must not arrive, a later message on the same socket
(the engine sends them in commit order, and a socket delivers them in that order) proves it would
already have come."""

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.live.phoenix import VSNS, Frame, Wire, assert_framing, wire
from tests.live.realtime_fixtures import ADMIN_TOPIC as ADMIN
from tests.live.realtime_fixtures import (
    ADMIN_TYPES,
    admin,
    close,
    create_market,
    marker,
    outcome_ids,
    run,
    sign_up,
    wager,
)
from tests.serving import Node
from wagerbase.surfaces.realtime.joins import NOT_ADMIN, UNKNOWN_USER


def admin_broadcast(event: str, **payload: Any) -> Any:
    """A matcher for the admin broadcast `event` whose payload has these values."""

    def matches(frame: Frame) -> bool:
        if frame["topic"] != ADMIN or frame["event"] != "broadcast":
            return False
        body = frame["payload"]
        return body.get("event") == event and all(
            body["payload"].get(k) == v for k, v in payload.items()
        )

    return matches


def on_topic(topic: str, event: str) -> Callable[[Frame], bool]:
    """A matcher for any frame `event` on `topic` (a system message, a phx_close...)."""

    def matches(frame: Frame) -> bool:
        return (frame["topic"], frame["event"]) == (topic, event)

    return matches


def market_broadcast(market_id: int, event: str) -> Any:
    def matches(frame: Frame) -> bool:
        return bool(
            frame["topic"] == f"realtime:market:{market_id}"
            and frame["event"] == "broadcast"
            and frame["payload"]["event"] == event
        )

    return matches


def admin_frames(client: Wire) -> list[Frame]:
    """Everything a socket kept that is an admin message, on any topic."""
    return [
        f
        for f in client.pushes
        if f["topic"] == ADMIN
        or (f["event"] == "broadcast" and f["payload"].get("event") in ADMIN_TYPES)
    ]


async def house(who: Any) -> dict[str, Any]:
    response = await who.client.rpc("house_summary", {}).execute()
    assert isinstance(response.data, dict)
    return response.data


async def set_admin(database_url: str, email: str, admin_role: bool) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("select app._set_admin(%s, %s)", [email, admin_role])


async def delete_user(database_url: str, user_id: str) -> None:
    """Deleted as auth.users keeps a deleted user: `deleted_at` set; their tokens stay signed."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("update auth.users set deleted_at = now() where id = %s", [user_id])


@pytest.mark.parametrize("vsn", VSNS)
def test_an_admin_receives_the_engine_admin_messages_as_broadcasts(
    rt_node: Node, rt_database: str, vsn: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(
            boss, f"Admin feed {vsn} v Held Wagers", requires_approval=True
        )
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        async with wire(rt_node.url, rt_node.anon_key, vsn) as client:
            join_ref, reply = await client.join(ADMIN, boss.token)
            assert reply["payload"] == {"status": "ok", "response": {}}
            assert reply["join_ref"] == join_ref

            placed = await wager(ana, market["id"], home, 800)
            pending = await client.push(admin_broadcast("wager_pending", id=placed["id"]))
            assert pending["ref"] is None
            body = pending["payload"]
            assert body["type"] == "broadcast"
            assert body["payload"]["type"] == "wager_pending"
            assert body["payload"]["market_id"] == market["id"]
            assert body["payload"]["stake"] == 800 and body["payload"]["approval"] == "pending"

            await boss.client.rpc("approve_wager", {"wager_id": placed["id"]}).execute()
            decided = await client.push(admin_broadcast("wager_decided", id=placed["id"]))
            assert decided["payload"]["payload"]["approval"] == "accepted"

            await boss.client.rpc(
                "settle_market", {"market_id": market["id"], "outcome_id": home}
            ).execute()
            profit = await client.push(admin_broadcast("profit"))
            figures = await house(boss)
            # nothing else moved the house in between: the message is the house's figures
            assert profit["payload"]["payload"] == {
                "type": "profit",
                "balance": figures["balance"],
                "profit": figures["profit"],
                "version": figures["version"],
            }
            assert all(f["topic"] == ADMIN for f in client.pushes)
            assert_framing(client)
        await close(ana, boss)

    run(scenario())


@pytest.mark.parametrize("vsn", VSNS)
def test_a_bettor_cannot_join_the_admin_topic_and_never_gets_an_admin_message(
    rt_node: Node, rt_database: str, vsn: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, f"Nosy {vsn} v Keyhole", requires_approval=True)
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        async with wire(rt_node.url, rt_node.anon_key, vsn) as client:
            for token in (ana.token, rt_node.anon_key):
                join_ref, refused = await client.join(ADMIN, token)
                assert refused["payload"] == {
                    "status": "error",
                    "response": {"reason": NOT_ADMIN},
                }
                closed = await client.push(lambda f: f["event"] == "phx_close")
                assert (closed["topic"], closed["join_ref"]) == (ADMIN, join_ref)
            # the bettor's own feed, on a market topic and on every view they may bind to
            bindings = [{"event": "*", "schema": "public"}]
            _, joined = await client.join(f"realtime:market:{market['id']}", ana.token, bindings)
            assert joined["payload"]["status"] == "ok"

            placed = await wager(ana, market["id"], home, 500)  # wager_pending to admins
            await boss.client.rpc("approve_wager", {"wager_id": placed["id"]}).execute()
            await boss.client.rpc(
                "settle_market", {"market_id": market["id"], "outcome_id": home}
            ).execute()  # profit to admins
            await client.push(market_broadcast(market["id"], "settled"))
            await client.push(
                lambda f: (
                    f["event"] == "postgres_changes"
                    and f["payload"]["data"]["table"] == "my_wagers"
                    and f["payload"]["data"]["record"]["settlement"] == "won"
                )
            )
            assert admin_frames(client) == []
            assert_framing(client)
        await close(ana, boss)

    run(scenario())


def test_a_demoted_admin_stops_receiving_at_once_and_cannot_join_again(
    rt_node: Node, rt_database: str
) -> None:
    """Demoted at the database while joined: the next profit message goes to the other admin
    only, though the demoted admin's token still says admin; a new join with it is refused, as
    is one by an admin whose user was deleted."""

    async def scenario() -> None:
        boss, deputy = await admin(rt_node, rt_database), await admin(rt_node, rt_database)
        market = await create_market(boss, "Demotion Rovers v Stale Token")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        await wager(ana, market["id"], home, 600)
        async with (
            wire(rt_node.url, rt_node.anon_key, "2.0.0") as demoted,
            wire(rt_node.url, rt_node.anon_key, "1.0.0") as kept,
        ):
            for client, person in ((demoted, boss), (kept, deputy)):
                assert (await client.join(ADMIN, person.token))[1]["payload"]["status"] == "ok"
            topic = f"realtime:market:{market['id']}"
            assert (await demoted.join(topic, boss.token))[1]["payload"]["status"] == "ok"

            await set_admin(rt_database, boss.email, False)
            await deputy.client.rpc(
                "settle_market", {"market_id": market["id"], "outcome_id": home}
            ).execute()
            await kept.push(admin_broadcast("profit"))
            # the house moved before the market said `settled`: a profit frame would be here
            await demoted.push(market_broadcast(market["id"], "settled"))
            assert admin_frames(demoted) == []

            _, again = await demoted.join(ADMIN, boss.token)
            assert again["payload"]["response"] == {"reason": NOT_ADMIN}

            await set_admin(rt_database, boss.email, True)  # promoted again: the same token works
            assert (await demoted.join(ADMIN, boss.token))[1]["payload"]["status"] == "ok"

            # a deleted admin is no admin either, whatever the token says: the token is refused
            await delete_user(rt_database, boss.user_id)
            _, deleted = await kept.join(ADMIN, boss.token)
            assert deleted["payload"]["response"] == {"reason": UNKNOWN_USER}
        await close(ana, deputy)

    run(scenario())


@pytest.mark.parametrize("vsn", VSNS)
def test_a_deleted_user_s_token_is_refused_by_a_join_and_by_an_access_token_frame(
    rt_node: Node, rt_database: str, vsn: str
) -> None:
    """The database is asked at every join and access_token: a channel joined before the deletion
    is closed at the deletion (the engine says its sessions ended), with the unknown_user reason,
    and every join with the token is refused and closed, the admin topic included, as a bad
    token's is. The socket itself stays usable."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        ana = await sign_up(rt_node)
        async with wire(rt_node.url, rt_node.anon_key, vsn) as client:
            markets = "realtime:markets"
            join_ref, joined = await client.join(markets, ana.token)
            assert joined["payload"]["status"] == "ok"
            admin_ref, joined = await client.join(ADMIN, boss.token)
            assert joined["payload"]["status"] == "ok"
            await delete_user(rt_database, ana.user_id)
            await delete_user(rt_database, boss.user_id)

            # until issue 12 the channel stayed open until its token was sent again; it is now
            # closed at the deletion, with the same reason
            for topic, ref in ((markets, join_ref), (ADMIN, admin_ref)):
                said = await client.push(on_topic(topic, "system"))
                assert said["payload"]["status"] == "error"
                assert said["payload"]["message"] == UNKNOWN_USER
                closed = await client.push(on_topic(topic, "phx_close"))
                assert closed["join_ref"] == ref
            sent = await client.send(markets, "access_token", {"access_token": ana.token}, join_ref)
            refused = await client.reply(sent, markets)
            assert refused["payload"] == {
                "status": "error",
                "response": {"reason": "unmatched topic: join it first"},
            }

            for topic, token in (
                (markets, ana.token),
                ("realtime:mine", ana.token),
                (ADMIN, boss.token),
            ):
                join_ref, refused = await client.join(topic, token)
                assert refused["payload"] == {
                    "status": "error",
                    "response": {"reason": UNKNOWN_USER},
                }, topic
                closed = await client.push(lambda f: f["event"] == "phx_close")
                assert (closed["topic"], closed["join_ref"]) == (topic, join_ref)
            assert (await client.join(markets, rt_node.anon_key))[1]["payload"]["status"] == "ok"
            assert_framing(client)
        await close(ana, boss)

    run(scenario())


def test_a_channel_whose_user_is_deleted_is_closed_at_its_next_change(
    rt_node: Node, rt_database: str
) -> None:
    """A channel joined before its user was deleted would have its re-selects refused with
    unknown_user at every change: the first such change closes it, as a refused token is."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Gone Before The Whistle")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        await wager(ana, market["id"], home, 300)
        async with wire(rt_node.url, rt_node.anon_key, "2.0.0") as client:
            await marker(rt_node, boss, client)  # her wager's change passed: none arrives after
            mine = "realtime:mine"
            bindings = [{"event": "*", "schema": "public", "table": "my_wagers"}]
            join_ref, joined = await client.join(mine, ana.token, bindings)
            assert joined["payload"]["status"] == "ok"
            await delete_user(rt_database, ana.user_id)

            # her wager is refunded: a change of her rows, which she may no longer read
            await boss.client.rpc(
                "void_market", {"market_id": market["id"], "reason": "called off"}
            ).execute()

            said = await client.push(
                lambda f: f["event"] == "system" and f["payload"]["status"] == "error"
            )
            assert (said["topic"], said["payload"]["message"]) == (mine, UNKNOWN_USER)
            closed = await client.push(lambda f: f["event"] == "phx_close")
            assert (closed["topic"], closed["join_ref"]) == (mine, join_ref)
            assert not [f for f in client.pushes if f["event"] == "postgres_changes"]
        await close(ana, boss)

    run(scenario())


def test_an_admin_channel_given_a_bettors_token_is_closed(rt_node: Node, rt_database: str) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        ana = await sign_up(rt_node)
        async with wire(rt_node.url, rt_node.anon_key, "2.0.0") as client:
            join_ref, _ = await client.join(ADMIN, boss.token)
            ref = await client.send(ADMIN, "access_token", {"access_token": boss.token}, join_ref)
            assert (await client.reply(ref, ADMIN))["payload"]["status"] == "ok"
            ref = await client.send(ADMIN, "access_token", {"access_token": ana.token}, join_ref)
            refused = await client.reply(ref, ADMIN)
            assert refused["payload"] == {"status": "error", "response": {"reason": NOT_ADMIN}}
            closed = await client.push(lambda f: f["event"] == "phx_close")
            assert (closed["topic"], closed["join_ref"]) == (ADMIN, join_ref)
            ref = await client.send(ADMIN, "access_token", {"access_token": boss.token})
            gone = await client.reply(ref, ADMIN)
            assert gone["payload"]["response"]["reason"].startswith("unmatched topic")
        await close(ana, boss)

    run(scenario())


def test_the_service_role_may_follow_the_admin_topic(rt_node: Node, rt_database: str) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Back Office v Service Key", requires_approval=True)
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        async with wire(rt_node.url, rt_node.anon_key, "1.0.0") as client:
            assert (await client.join(ADMIN, rt_node.service_key))[1]["payload"]["status"] == "ok"
            placed = await wager(ana, market["id"], home, 300)
            await client.push(admin_broadcast("wager_pending", id=placed["id"]))
        await close(ana, boss)

    run(scenario())


def test_the_official_python_client_receives_admin_broadcasts(
    rt_node: Node, rt_database: str
) -> None:
    """supabase-py (protocol 1.0.0): `channel("admin").on_broadcast(...)`, as documented."""
    from tests.live.realtime_fixtures import Inbox, subscribe

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Python Feed v Admin Topic")
        await boss.client.rpc(
            "require_settlement_confirmation", {"market_id": market["id"], "required": True}
        ).execute()  # a change the engine announces to admins only when it changes
        inbox = Inbox()
        channel = boss.client.channel("admin")
        channel.on_broadcast("settlement_confirmation", inbox.put)
        assert (await subscribe(channel))[0] == ("SUBSCRIBED", None)
        await boss.client.rpc(
            "require_settlement_confirmation", {"market_id": market["id"], "required": False}
        ).execute()
        # the change made before subscribing may come first: the hub reads the event stream a
        # few milliseconds after a commit, and the channel can be joined in between
        got = await inbox.until(
            lambda m: (
                m["payload"]["market_id"] == market["id"] and m["payload"]["required"] is False
            )
        )
        ours = [m for m in got if m["payload"]["market_id"] == market["id"]]
        assert [m["payload"]["required"] for m in ours] in ([False], [True, False])
        assert got[-1]["event"] == "settlement_confirmation"
        assert got[-1]["payload"]["changed_by"] == boss.user_id
        await close(boss)

    run(scenario())
