"""Supabase Realtime on `/realtime/v1/websocket`, driven by the official, unmodified async client
(`acreate_client`) against a running `serve` node: broadcast of the engine's market messages, and
postgres_changes filtered by RLS for each subscriber's token.

A negative ("B's wager never reached A") is proven with a marker: B's change commits first, then
one of A's that A must receive. A socket receives messages in commit order, so if B's had been
delivered it would have arrived before the marker.
"""

import asyncio
import time
import uuid

import jwt
from supabase import acreate_client

from tests.live.realtime_fixtures import (
    ANY,
    INSERT,
    SUBSCRIBED,
    UPDATE,
    Inbox,
    admin,
    close,
    create_market,
    outcome_ids,
    record,
    run,
    sign_up,
    subscribe,
    wager,
)
from tests.serving import Node
from tests.support.supabase_users import SupabaseUser


def test_broadcast_on_a_market_topic_carries_the_engine_odds(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Broadcast FC v Realtime United")
        other = await create_market(boss, "Elsewhere Rovers v Nobody")
        watcher = await acreate_client(rt_node.url, rt_node.anon_key)  # nobody signed in
        one, every = Inbox(), Inbox()
        channel = watcher.channel(f"market:{market['id']}")
        channel.on_broadcast("odds", one.put)
        assert (await subscribe(channel))[0] == SUBSCRIBED
        everything = watcher.channel("markets")
        everything.on_broadcast("*", every.put)
        assert (await subscribe(everything))[0] == SUBSCRIBED

        ana = await sign_up(rt_node)
        elsewhere, _ = await outcome_ids(ana, other["id"])
        await wager(ana, other["id"], elsewhere, 100)
        home, away = await outcome_ids(ana, market["id"])
        placed = await wager(ana, market["id"], home, 1000)
        version = placed["accepted_version"]

        got = await one.until(lambda m: m["payload"]["version"] == version)
        assert all(m["event"] == "odds" for m in got)
        assert all(m["payload"]["market_id"] == market["id"] for m in got)  # not the other one
        odds = got[-1]["payload"]
        assert odds["status"] == "open" and odds["total_pool"] == 1000
        pools = {o["outcome_id"]: o["pool"] for o in odds["outcomes"]}
        assert pools == {home: 1000, away: 0}

        seen = await every.until(
            lambda m: (
                m["payload"]["market_id"] == market["id"] and m["payload"]["version"] == version
            )
        )
        assert [m["payload"]["market_id"] for m in seen if m["event"] == "odds"] == [
            other["id"],
            market["id"],
        ]

        await close(ana, boss)
        await watcher.remove_all_channels()

    run(scenario())


def test_a_bettor_receives_own_wager_inserts_and_never_another_users(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Mine FC v Theirs Athletic")
        ana, ben = await sign_up(rt_node), await sign_up(rt_node)
        home, away = await outcome_ids(ana, market["id"])

        own, visible = Inbox(), Inbox()
        channel = ana.client.channel(f"mine-{uuid.uuid4().hex[:6]}")
        channel.on_postgres_changes(INSERT, own.put, table="my_wagers")
        channel.on_postgres_changes(ANY, visible.put, table="wagers")
        assert (await subscribe(channel))[0] == SUBSCRIBED

        theirs = await wager(ben, market["id"], home, 500)
        mine = await wager(ana, market["id"], away, 300)  # the marker

        got = await own.until(lambda c: record(c)["id"] == mine["id"])
        assert [record(c)["id"] for c in got] == [mine["id"]]
        change = got[0]["data"]
        assert change["schema"] == "public" and change["table"] == "my_wagers"
        assert change["type"] == "INSERT" and change["errors"] is None
        assert isinstance(change["commit_timestamp"], str)
        assert {"name": "stake", "type": "int8"} in change["columns"]
        assert record(got[0])["user_id"] == ana.user_id
        assert record(got[0])["stake"] == 300 and record(got[0])["outcome_id"] == away
        assert record(got[0])["market_title"] == "Mine FC v Theirs Athletic"

        got = await visible.until(lambda c: record(c)["id"] == mine["id"])
        assert [record(c)["id"] for c in got] == [mine["id"]]
        assert theirs["id"] not in [record(c)["id"] for c in visible.items]

        await close(ana, ben, boss)

    run(scenario())


def test_an_admin_subscribed_to_wagers_receives_everyones(rt_node: Node, rt_database: str) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Everyone FC v All Stars")
        ana, ben = await sign_up(rt_node), await sign_up(rt_node)
        home, away = await outcome_ids(ana, market["id"])

        seen = Inbox()
        channel = boss.client.channel(f"all-wagers-{uuid.uuid4().hex[:6]}")
        channel.on_postgres_changes(
            INSERT, seen.put, table="wagers", filter=f"market_id=eq.{market['id']}"
        )
        assert (await subscribe(channel))[0] == SUBSCRIBED

        first = await wager(ana, market["id"], home, 200)
        second = await wager(ben, market["id"], away, 400)
        got = await seen.until(lambda c: record(c)["id"] == second["id"])
        assert [(record(c)["id"], record(c)["user_id"]) for c in got] == [
            (first["id"], ana.user_id),
            (second["id"], ben.user_id),
        ]
        await close(ana, ben, boss)

    run(scenario())


def test_wallet_updates_carry_the_new_balance_and_ledger_entries_arrive(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Wallet Wanderers v Ledger Town")
        ana, ben = await sign_up(rt_node), await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])

        wallet, ledger = Inbox(), Inbox()
        channel = ana.client.channel(f"money-{uuid.uuid4().hex[:6]}")
        channel.on_postgres_changes(ANY, wallet.put, table="my_wallet")
        channel.on_postgres_changes(INSERT, ledger.put, table="ledger")
        assert (await subscribe(channel))[0] == SUBSCRIBED

        await wager(ben, market["id"], home, 700)
        placed = await wager(ana, market["id"], home, 1000)

        got = await wallet.until(lambda c: record(c)["version"] == placed["balance_version"])
        assert {record(c)["user_id"] for c in got} == {ana.user_id}
        last = got[-1]["data"]
        assert last["type"] == "UPDATE" and last["table"] == "my_wallet"
        assert last["record"]["balance"] == placed["balance"]
        assert last["old_record"] == {
            "user_id": ana.user_id,
            "balance": placed["balance"] + 1000,
            "version": placed["balance_version"] - 1,
        }
        if len(got) > 1:  # the wallet was created by this wager: the grant came first
            assert got[0]["data"]["type"] == "INSERT"
            assert record(got[0])["balance"] == placed["balance"] + 1000

        entries = await ledger.until(lambda c: record(c)["kind"] == "stake")
        assert {record(c)["user_id"] for c in entries} == {ana.user_id}
        stake = record(entries[-1])
        assert stake["amount"] == -1000 and stake["balance_after"] == placed["balance"]
        await close(ana, ben, boss)

    run(scenario())


def test_a_channel_joined_before_sign_in_follows_the_new_token(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Late Login FC v Early Birds")
        ben = await sign_up(rt_node)
        client = await acreate_client(rt_node.url, rt_node.anon_key)
        own = Inbox()
        channel = client.channel(f"late-{uuid.uuid4().hex[:6]}")
        channel.on_postgres_changes(INSERT, own.put, table="my_wagers")
        assert (await subscribe(channel))[0] == SUBSCRIBED  # as anon: nothing to see yet

        email = f"late_{uuid.uuid4().hex[:8]}@example.test"
        session = (await client.auth.sign_up({"email": email, "password": "pw late 123"})).session
        assert session is not None and session.user is not None
        # the auth listener sends access_token to the joined channel; awaiting set_auth makes
        # sure it went out before the wagers below
        await client.realtime.set_auth(session.access_token)
        ana = SupabaseUser(client, session.user.id, email, session.access_token)

        home, _ = await outcome_ids(ana, market["id"])
        await wager(ben, market["id"], home, 100)
        mine = await wager(ana, market["id"], home, 200)
        got = await own.until(lambda c: record(c)["id"] == mine["id"])
        assert [record(c)["user_id"] for c in got] == [ana.user_id]
        await close(ana, ben, boss)

    run(scenario())


def test_market_views_follow_odds_and_settlement(rt_node: Node, rt_database: str) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Settle City v Payout Park")
        ana = await sign_up(rt_node)
        home, away = await outcome_ids(ana, market["id"])
        watcher = await acreate_client(rt_node.url, rt_node.anon_key)

        markets, outcomes, settlements, wagers = Inbox(), Inbox(), Inbox(), Inbox()
        public = watcher.channel(f"market-rows-{uuid.uuid4().hex[:6]}")
        public.on_postgres_changes(
            UPDATE, markets.put, table="markets", filter=f"id=eq.{market['id']}"
        )
        public.on_postgres_changes(
            UPDATE,
            outcomes.put,
            table="outcomes",
            filter=f"market_id=eq.{market['id']},position=in.(1,3)",
        )
        public.on_postgres_changes(INSERT, settlements.put, table="settlements")
        assert (await subscribe(public))[0] == SUBSCRIBED
        mine = ana.client.channel(f"settled-{uuid.uuid4().hex[:6]}")
        mine.on_postgres_changes(UPDATE, wagers.put, table="my_wagers")
        assert (await subscribe(mine))[0] == SUBSCRIBED

        placed = await wager(ana, market["id"], home, 1000)
        got = await markets.until(lambda c: record(c)["version"] == placed["accepted_version"])
        assert record(got[-1])["total_pool"] == 1000 and record(got[-1])["status"] == "open"
        assert got[-1]["data"]["old_record"] == {"id": market["id"]}
        got = await outcomes.until(
            lambda c: record(c)["market_version"] >= placed["accepted_version"]
        )
        assert {record(c)["position"] for c in got} == {1}  # the filter keeps position 1 only
        assert record(got[-1])["pool"] == 1000 and record(got[-1])["id"] == home

        await boss.client.rpc(
            "settle_market", {"market_id": market["id"], "outcome_id": home}
        ).execute()
        got = await markets.until(lambda c: record(c)["status"] == "settled")
        assert record(got[-1])["winning_outcome_id"] == home
        got = await settlements.until(lambda c: record(c)["market_id"] == market["id"])
        assert record(got[-1])["winning_outcome_id"] == home
        got = await wagers.until(lambda c: record(c)["id"] == placed["id"])
        assert record(got[-1])["settlement"] == "won" and record(got[-1])["payout"] > 1000
        assert away not in [record(c)["outcome_id"] for c in got]
        await close(ana, boss)
        await watcher.remove_all_channels()

    run(scenario())


def test_a_join_with_an_invalid_token_is_refused_and_closed(rt_node: Node) -> None:
    async def scenario() -> None:
        client = await acreate_client(rt_node.url, rt_node.anon_key)
        forged = jwt.encode(
            {
                "sub": str(uuid.uuid4()),
                "role": "authenticated",
                "aud": "authenticated",
                "exp": int(time.time()) + 600,
                "app_metadata": {"role": "admin"},
            },
            "another secret, at least thirty-two characters long",
            algorithm="HS256",
        )
        await client.realtime.set_auth(forged)
        channel = client.channel(f"forged-{uuid.uuid4().hex[:6]}")
        channel.on_postgres_changes(ANY, lambda _: None, table="wagers")
        states = await subscribe(channel)
        state, error = states[0]
        assert state == "CHANNEL_ERROR"
        assert error is not None and "invalid access token: bad signature" in error

        async def removed() -> None:
            while channel.topic in client.realtime.channels:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(removed(), 30)  # phx_close: the client stops retrying
        assert states[-1] == ("CLOSED", None)
        await client.realtime.close()

    run(scenario())
