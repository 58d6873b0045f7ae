"""postgres_changes against a running node: a wager voided by an admin and a market unsettled or
resettled update the owner's wagers; an unsettlement deletes the settlement; a virtual market's
reveal updates its draw; the settlement review's admin messages update the proposals for admins
only, and its switch updates the market for everyone who reads it; a failed side-effect job
updates its row. Which message maps to which change: test_realtime_changes.py.

A negative is proven with a marker, as in test_realtime.py: a later message on the same socket
(the engine sends them in commit order, a socket delivers them in that order)."""

import datetime
import uuid
from typing import Any, cast

from supabase import acreate_client

from tests.live.phoenix import Frame, wire
from tests.live.realtime_fixtures import (
    ANY,
    SUBSCRIBED,
    UPDATE,
    Inbox,
    admin,
    close,
    create_market,
    data,
    marker,
    outcome_ids,
    record,
    run,
    sign_up,
    subscribe,
    wager,
)
from tests.live.small_node import small_node
from tests.serving import Node
from wagerbase.live.hub import Event

DELETE = "DELETE"


def table_change(table: str, kind: str, **record_values: Any) -> Any:
    def matches(frame: Frame) -> bool:
        if frame["event"] != "postgres_changes":
            return False
        change = frame["payload"]["data"]
        shown = change.get("record") or change.get("old_record") or {}
        return (
            change["table"] == table
            and change["type"] == kind
            and all(shown.get(k) == v for k, v in record_values.items())
        )

    return matches


def test_a_wager_voided_by_an_admin_updates_its_owners_wagers(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Void One FC v Refund Rovers")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        placed = await wager(ana, market["id"], home, 700)
        mine, everyone = Inbox(), Inbox()
        channel = ana.client.channel(f"mine-{uuid.uuid4().hex[:6]}")
        channel.on_postgres_changes(UPDATE, mine.put, table="my_wagers")
        assert (await subscribe(channel))[0] == SUBSCRIBED
        console = boss.client.channel(f"console-{uuid.uuid4().hex[:6]}")
        console.on_postgres_changes(
            UPDATE, everyone.put, table="wagers", filter=f"market_id=eq.{market['id']}"
        )
        assert (await subscribe(console))[0] == SUBSCRIBED

        await boss.client.rpc(
            "void_wager", {"wager_id": placed["id"], "reason": "placed on a stale price"}
        ).execute()
        for inbox in (mine, everyone):
            got = await inbox.until(lambda c: record(c)["id"] == placed["id"])
            assert record(got[-1])["settlement"] == "void"
            assert record(got[-1])["payout"] == 700
            assert record(got[-1])["market_status"] == "open"
            assert got[-1]["data"]["old_record"] == {"id": placed["id"]}
        await close(ana, boss)

    run(scenario())


def test_unsettling_reopens_the_wagers_and_deletes_the_settlement_settling_inserts_it(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Unsettle Town v Correction City")
        ana = await sign_up(rt_node)
        home, away = await outcome_ids(ana, market["id"])
        placed = await wager(ana, market["id"], home, 400)
        await boss.client.rpc(
            "settle_market", {"market_id": market["id"], "outcome_id": home}
        ).execute()

        mine = [{"event": "UPDATE", "schema": "public", "table": "my_wagers"}]
        public = [
            {"event": "UPDATE", "schema": "public", "table": "markets"},
            {"event": "*", "schema": "public", "table": "settlements"},
            {
                "event": "DELETE",
                "schema": "public",
                "table": "settlements",
                "filter": f"market_id=eq.{market['id']}",
            },
            {"event": "DELETE", "schema": "public", "table": "settlements", "filter": "rake=gte.0"},
        ]
        async with (
            wire(rt_node.url, rt_node.anon_key, "2.0.0") as bettor,
            wire(rt_node.url, rt_node.anon_key, "1.0.0") as anyone,
        ):
            # the first settlement's changes passed: the first ones heard are the unsettlement's
            await marker(rt_node, boss, bettor, anyone)
            assert (await bettor.join("realtime:mine", ana.token, mine))[1]["payload"][
                "status"
            ] == "ok"
            _, reply = await anyone.join("realtime:board", rt_node.anon_key, public)
            every, on_key, _on_rake = (
                b["id"] for b in reply["payload"]["response"]["postgres_changes"][1:]
            )

            await boss.client.rpc(
                "unsettle_market", {"market_id": market["id"], "reason": "wrong result"}
            ).execute()
            reopened = await bettor.push(table_change("my_wagers", "UPDATE", id=placed["id"]))
            assert reopened["payload"]["data"]["record"]["settlement"] == "open"
            assert reopened["payload"]["data"]["record"]["payout"] is None
            moved = await anyone.push(table_change("markets", "UPDATE", id=market["id"]))
            assert moved["payload"]["data"]["record"]["status"] == "closed"
            assert moved["payload"]["data"]["record"]["winning_outcome_id"] is None
            gone = await anyone.push(table_change("settlements", DELETE, market_id=market["id"]))
            change = gone["payload"]["data"]
            assert "record" not in change
            assert change["old_record"] == {"market_id": market["id"]}
            assert sorted(gone["payload"]["ids"]) == sorted([every, on_key])  # not on_rake
            assert {c["name"] for c in change["columns"]} >= {"market_id", "total_paid"}

            await boss.client.rpc(
                "settle_market", {"market_id": market["id"], "outcome_id": away}
            ).execute()
            lost = await bettor.push(
                lambda f: (
                    table_change("my_wagers", "UPDATE", id=placed["id"])(f)
                    and f["payload"]["data"]["record"]["settlement"] == "lost"
                )
            )
            assert lost["payload"]["data"]["record"]["payout"] == 0
            again = await anyone.push(table_change("settlements", "INSERT", market_id=market["id"]))
            assert again["payload"]["data"]["record"]["winning_outcome_id"] == away

            # a resettlement: unsettled and settled in one transaction, each change in order
            await boss.client.rpc(
                "resettle_market",
                {"market_id": market["id"], "outcome_id": home, "reason": "home won after all"},
            ).execute()
            won = await bettor.push(
                lambda f: (
                    table_change("my_wagers", "UPDATE", id=placed["id"])(f)
                    and f["payload"]["data"]["record"]["settlement"] == "won"
                )
            )
            assert won["payload"]["data"]["record"]["payout"] > 400
            await anyone.push(table_change("settlements", DELETE, market_id=market["id"]))
            last = await anyone.push(table_change("settlements", "INSERT", market_id=market["id"]))
            assert last["payload"]["data"]["record"]["winning_outcome_id"] == home
        await close(ana, boss)

    run(scenario())


def test_a_revealed_draw_updates_the_virtual_draws_view(rt_node: Node, rt_database: str) -> None:
    """Created (INSERT), closed by the scheduler with its client seed (UPDATE), then settled and
    revealed (UPDATE with the seed and the draw), for anyone."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        watcher = await acreate_client(rt_node.url, rt_node.anon_key)
        draws = Inbox()
        channel = watcher.channel(f"draws-{uuid.uuid4().hex[:6]}")
        channel.on_postgres_changes(ANY, draws.put, table="virtual_draws")
        assert (await subscribe(channel))[0] == SUBSCRIBED
        closes_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)
        market = data(
            await boss.client.rpc(
                "create_virtual_market",
                {
                    "template": "dice",
                    "title": "Dice in realtime",
                    "closes_at": closes_at.isoformat(),
                },
            ).execute()
        )

        def mine(change: Any) -> bool:
            return bool(record(change)["market_id"] == market["id"])

        created = await draws.until(mine)
        assert created[-1]["data"]["type"] == "INSERT"
        assert record(created[-1])["revealed"] is False
        assert record(created[-1])["server_seed"] is None
        hash_shown = record(created[-1])["server_seed_hash"]
        revealed = await draws.until(lambda c: mine(c) and record(c)["revealed"] is True)
        row = record(revealed[-1])
        assert revealed[-1]["data"]["type"] == "UPDATE"
        assert row["server_seed_hash"] == hash_shown and row["server_seed"] is not None
        assert row["status"] == "settled" and row["winning_outcome_id"] is not None
        updates = [c for c in revealed if mine(c) and c["data"]["type"] == "UPDATE"]
        assert any(record(c)["client_seed"] is not None for c in updates)
        await watcher.remove_all_channels()
        await close(boss)

    run(scenario())


def test_the_settlement_reviews_admin_messages_update_admin_views_for_admins_only(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        first, second = await admin(rt_node, rt_database), await admin(rt_node, rt_database)
        market = await create_market(first, "Four Eyes Rovers v Proposal Park")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        placed = await wager(ana, market["id"], home, 300)
        version = placed["accepted_version"]
        bindings = [
            {"event": "*", "schema": "public", "table": "settlement_proposals"},
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "markets",
                "filter": f"id=eq.{market['id']}",
            },
        ]
        bettor_bindings = [*bindings, {"event": "UPDATE", "schema": "public", "table": "my_wagers"}]
        async with (
            wire(rt_node.url, rt_node.anon_key, "2.0.0") as console,
            wire(rt_node.url, rt_node.anon_key, "1.0.0") as bettor,
        ):
            # the wager's changes (its odds: the market's version before the switch) passed
            await marker(rt_node, first, console, bettor)
            assert (await console.join("realtime:review", first.token, bindings))[1]["payload"][
                "status"
            ] == "ok"
            assert (await bettor.join("realtime:review", ana.token, bettor_bindings))[1]["payload"][
                "status"
            ] == "ok"

            await first.client.rpc(
                "require_settlement_confirmation", {"market_id": market["id"], "required": True}
            ).execute()
            # the switch is the market's own message: a new version, for every reader
            for socket in (console, bettor):
                flagged = await socket.push(table_change("markets", "UPDATE", id=market["id"]))
                shown = flagged["payload"]["data"]["record"]
                assert shown["settlement_requires_confirmation"] is True
                assert shown["version"] == version + 1

            proposal = data(
                await first.client.rpc(
                    "propose_settlement", {"market_id": market["id"], "outcome_id": home}
                ).execute()
            )
            proposed = await console.push(
                table_change("settlement_proposals", "INSERT", id=proposal["id"])
            )
            assert proposed["payload"]["data"]["record"]["status"] == "pending"
            await second.client.rpc(
                "confirm_settlement", {"market_id": market["id"], "proposal_id": proposal["id"]}
            ).execute()
            confirmed = await console.push(
                table_change("settlement_proposals", "UPDATE", id=proposal["id"])
            )
            assert confirmed["payload"]["data"]["record"]["status"] == "confirmed"
            # the admin message of the switch added no second UPDATE of the market
            assert not [
                f
                for f in console.pushes
                if f["event"] == "postgres_changes"
                and f["payload"]["data"]["table"] == "markets"
                and f["payload"]["data"]["record"]["version"] == version + 1
            ]

            # the bettor's marker: their wager settled, after every admin message above
            await bettor.push(table_change("my_wagers", "UPDATE", id=placed["id"]))
            assert not [
                f
                for f in bettor.pushes
                if f["event"] == "postgres_changes"
                and f["payload"]["data"]["table"] == "settlement_proposals"
            ]
            # then their market rows came from the market's messages (closed, settled)
            seen = [
                f["payload"]["data"]["record"]["version"]
                for f in bettor.pushes
                if f["event"] == "postgres_changes" and f["payload"]["data"]["table"] == "markets"
            ]
            assert seen and all(v > version + 1 for v in seen)
        await close(ana, first, second)

    run(scenario())


def test_a_failed_side_effect_job_updates_its_row_for_admins(
    rt_node: Node, rt_database: str
) -> None:
    """The engine announces `side_effect_failed` when a job gives up; here the message is
    published into an in-process node's hub, about a real job of a settled market."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        market = await create_market(boss, "Side Effects FC v Outbox United")
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        await wager(ana, market["id"], home, 200)
        await boss.client.rpc(
            "settle_market", {"market_id": market["id"], "outcome_id": home}
        ).execute()
        jobs = (
            await boss.client.table("side_effect_jobs")
            .select("id")
            .eq("market_id", market["id"])
            .execute()
        )
        rows = cast(list[dict[str, Any]], jobs.data)
        job_id = rows[0]["id"]
        bindings = [{"event": "UPDATE", "schema": "public", "table": "side_effect_jobs"}]
        market_rows = [{"event": "UPDATE", "schema": "public", "table": "markets"}]
        async with (
            small_node(rt_database, rt_node.jwt_secret) as node,
            wire(node.url, node.anon_key, "2.0.0") as console,
            wire(node.url, node.anon_key, "2.0.0") as bettor,
        ):
            await console.join("realtime:jobs", boss.token, bindings)
            await bettor.join("realtime:jobs", ana.token, bindings + market_rows)
            failed = {"type": "side_effect_failed", "job_id": job_id, "market_id": market["id"]}
            node.hub.publish(Event("admin", failed))
            node.hub.publish(Event("market", {"type": "odds", "market_id": market["id"]}))
            got = await console.push(table_change("side_effect_jobs", "UPDATE", id=job_id))
            assert got["payload"]["data"]["record"]["market_id"] == market["id"]
            await bettor.push(table_change("markets", "UPDATE", id=market["id"]))  # marker
            changes = [f for f in bettor.pushes if f["event"] == "postgres_changes"]
            assert all(f["payload"]["data"]["table"] == "markets" for f in changes)
        await close(ana, boss)

    run(scenario())
