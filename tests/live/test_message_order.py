"""Messages in the order a client shows them (docs/notifications.md): a market's result reaches a
socket before the balance changes it causes, so BetMarket's client shows the outcome and then the
winner's new balance. Settling and voiding, on BetMarket's /ws and on the Supabase Realtime socket
of one node, for one bettor."""

import asyncio
import uuid
from typing import Any

from realtime import RealtimePostgresChangesListenEvent as Listen

from tests.live.realtime_fixtures import (
    Inbox,
    admin,
    close,
    create_market,
    data,
    outcome_ids,
    record,
    run,
    sign_up,
    subscribe,
    wager,
)
from tests.live.sockets import Socket
from tests.serving import Node


def positions(seen: list[dict[str, Any]], result: str, game: int) -> tuple[int, int]:
    """Where the game's result and its last balance_update are in what the BetMarket socket
    received (the result must be there already: it goes out first)."""
    results = [
        i for i, m in enumerate(seen) if m.get("opcode") == result and m.get("game_id") == game
    ]
    assert results, f"the balance came before any {result}: {seen}"
    balances = [
        i
        for i, m in enumerate(seen)
        if m.get("opcode") == "balance_update" and m.get("game_id") == game
    ]
    return results[0], balances[-1]


def test_a_result_reaches_both_sockets_before_the_balance_it_moves(
    rt_node: Node, rt_database: str
) -> None:
    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        bettor = await sign_up(rt_node, "order")
        settled = await create_market(boss, "Settled first")
        voided = await create_market(boss, "Voided first")
        settled_home, _ = await outcome_ids(bettor, settled["id"])
        voided_home, _ = await outcome_ids(bettor, voided["id"])
        await wager(bettor, settled["id"], settled_home, 500)
        await wager(bettor, voided["id"], voided_home, 300)

        inbox = Inbox()
        channel = bettor.client.channel(f"order-{uuid.uuid4().hex[:6]}")
        for market in (settled, voided):
            channel.on_postgres_changes(
                Listen.Update,
                lambda c: inbox.put(("market", record(c))),
                table="markets",
                filter=f"id=eq.{market['id']}",
            )
        channel.on_postgres_changes(
            Listen.Update, lambda c: inbox.put(("wallet", record(c))), table="my_wallet"
        )
        assert (await subscribe(channel))[0] == ("SUBSCRIBED", None)
        socket = await asyncio.to_thread(Socket, rt_node, "order")
        try:
            answer = await asyncio.to_thread(socket.authenticate, bettor.token)
            assert answer["opcode"] == "authenticated"

            await boss.client.rpc(
                "settle_market", {"market_id": settled["id"], "outcome_id": settled_home}
            ).execute()
            paid = data(await bettor.client.rpc("get_wallet", {}).execute())
            got = await inbox.until(
                lambda item: item[0] == "wallet" and item[1]["version"] == paid["version"]
            )
            shown = [(kind, row.get("status")) for kind, row in got if kind == "market"]
            assert shown and shown[-1] == ("market", "settled")
            assert got[-2][0] == "market"  # the result, then the payout
            await asyncio.to_thread(socket.expect, "balance_update", balance_seq=paid["version"])
            at_result, at_balance = positions(socket.seen, "game_result", settled["id"])
            assert at_result < at_balance, socket.seen

            await boss.client.rpc(
                "void_market", {"market_id": voided["id"], "reason": "abandoned"}
            ).execute()
            back = data(await bettor.client.rpc("get_wallet", {}).execute())
            assert back["balance"] == paid["balance"] + 300
            got = await inbox.until(
                lambda item: item[0] == "wallet" and item[1]["version"] == back["version"]
            )
            assert got[-2][0] == "market" and got[-2][1]["status"] == "void"
            await asyncio.to_thread(socket.expect, "balance_update", balance_seq=back["version"])
            at_result, at_balance = positions(socket.seen, "game_voided", voided["id"])
            assert at_result < at_balance, socket.seen
        finally:
            await asyncio.to_thread(socket.close)
            await close(boss, bettor)

    run(scenario())
