"""Joining a channel of `/realtime/v1/websocket`, with a raw `websockets` client: join replies
echo the bindings in order with non-zero ids, invalid bindings are refused and the channel closed,
filters read values as PostgREST does, and tokens are verified at the join and on
access_token."""

import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest

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
from wagerbase.tokens import Tokens


def test_join_replies_echo_bindings_in_order_with_non_zero_ids(rt_node: Node) -> None:
    async def scenario() -> None:
        bindings: list[dict[str, Any]] = [
            {"event": "INSERT", "schema": "public", "table": "wagers", "filter": "market_id=eq.3"},
            {"event": "*", "schema": "public", "table": "markets"},
            {"event": "UPDATE", "schema": "public", "table": "my_wallet"},
            {"event": "INSERT", "schema": "public", "table": "wagers", "filter": "market_id=eq.3"},
            {"event": "*", "schema": "public"},
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "outcomes",
                "filter": "market_id=in.(1,2,3),position=not.eq.2",
                "select": ["id", "odds"],
            },
        ]
        async with raw(rt_node.url, rt_node.anon_key) as client:
            reply = await client.join("realtime:market:3", rt_node.anon_key, bindings)
            assert reply["join_ref"] == reply["ref"]
            assert reply["payload"]["status"] == "ok"
            echoed = reply["payload"]["response"]["postgres_changes"]
            assert [{k: v for k, v in b.items() if k != "id"} for b in echoed] == bindings
            ids = [b["id"] for b in echoed]
            assert all(isinstance(i, int) and i != 0 for i in ids)
            assert len(set(ids)) == len(ids)
            system = await client.push(lambda f: f["event"] == "system")
            assert system == {
                "event": "system",
                "topic": "realtime:market:3",
                "ref": None,
                "payload": {
                    "channel": "market:3",
                    "extension": "postgres_changes",
                    "message": "Subscribed to PostgreSQL",
                    "status": "ok",
                },
            }

            none = await client.join("realtime:plain", rt_node.anon_key)
            assert none["payload"] == {"status": "ok", "response": {}}
            empty = await client.join("realtime:empty", rt_node.anon_key, [])
            assert empty["payload"] == {"status": "ok", "response": {"postgres_changes": []}}
            again = await client.join("realtime:market:3", rt_node.anon_key, bindings[:1])
            new_ids = [b["id"] for b in again["payload"]["response"]["postgres_changes"]]
            assert new_ids[0] not in ids  # a re-join replaces the channel with fresh ids

            ref = await client.send("realtime:plain", "phx_leave", join_ref="2")
            left = await client.reply(ref, "realtime:plain")
            assert left["payload"] == {"status": "ok", "response": {}}
            ref = await client.send(
                "realtime:plain", "broadcast", {"type": "broadcast", "event": "e", "payload": {}}
            )
            assert (await client.reply(ref))["payload"]["response"]["reason"].startswith(
                "unmatched topic"
            )

    run(scenario())


@pytest.mark.parametrize(
    ("binding", "reason"),
    [
        ({"event": "INSERT", "schema": "public", "table": "users"}, "not available for table"),
        ({"event": "INSERT", "schema": "app", "table": "wagers"}, "only schema 'public'"),
        ({"event": "TRUNCATE", "schema": "public", "table": "wagers"}, "binding event"),
        ({"event": "*", "table": "wagers", "filter": "market_id"}, "not col=op.value"),
        ({"event": "*", "table": "wagers", "filter": "market_id=near.3"}, "operator 'near'"),
        ({"event": "*", "table": "wagers", "filter": "nope=eq.3"}, "no column 'nope'"),
        ({"event": "*", "table": "wagers", "filter": "user_id=eq.bob"}, "bad filter value"),
        ({"event": "*", "table": "wagers", "filter": "stake=in.(1,x)"}, "bad filter value"),
        ({"event": "*", "table": "markets", "filter": "title=match.(("}, "operator 'match'"),
        # read as PostgREST reads a list (tests/test_filter_grammar.py): an empty element is kept,
        # an unbalanced parenthesis refused, a value text cannot hold refused as /rest/v1 does
        ({"event": "*", "table": "wagers", "filter": "stake=in.(1,,2)"}, "bad filter value"),
        ({"event": "*", "table": "markets", "filter": "title=eq.a)b"}, "unbalanced parentheses"),
        ({"event": "*", "table": "markets", "filter": "title=eq.\ud800"}, "bad filter value"),
        ({"event": "*", "filter": "id=eq.1"}, "a filter needs a table"),
        ({"event": "*", "table": "wagers", "select": ["id", "nope"]}, "no column 'nope'"),
    ],
)
def test_invalid_bindings_are_refused_and_the_channel_closed(
    rt_node: Node, binding: dict[str, Any], reason: str
) -> None:
    async def scenario() -> None:
        async with raw(rt_node.url, rt_node.anon_key) as client:
            reply = await client.join("realtime:bad", rt_node.anon_key, [binding])
            assert reply["payload"]["status"] == "error"
            assert reason in reply["payload"]["response"]["reason"]
            closed = await client.push(lambda f: f["event"] == "phx_close")
            assert closed["topic"] == "realtime:bad" and closed["ref"] is None
            ref = await client.send("phoenix", "heartbeat")  # the socket lives on
            assert (await client.reply(ref, "phoenix"))["payload"]["status"] == "ok"

    run(scenario())


def test_filters_read_values_as_postgrest_does(rt_node: Node, rt_database: str) -> None:
    """A filter's clauses are read as PostgREST reads the items of a logic tree: a double-quoted
    value is unquoted, a backslash escapes any character inside it, a column may be quoted; and a
    value is cast to the column's type without its modifier, as on /rest/v1 (wagers.odds is
    numeric(24,4): a bound past 10^20 is a number to compare, not an overflow to refuse)."""

    async def scenario() -> None:
        boss = await admin(rt_node, rt_database)
        title = 'Quoted, "North" \\ (FC)'
        market = await create_market(boss, title)
        ana = await sign_up(rt_node)
        home, _ = await outcome_ids(ana, market["id"])
        quoted = '"' + title.replace("\\", "\\\\").replace('"', '\\"') + '"'
        bindings: list[dict[str, Any]] = [
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "markets",
                "filter": f"title=eq.{quoted}",
            },
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "markets",
                "filter": f"title=in.(x,{quoted})",
            },
            {
                "event": "UPDATE",
                "schema": "public",
                "table": "markets",
                "filter": "title=eq.Quoted",  # the words before the comma: not the title
            },
            {
                "event": "INSERT",
                "schema": "public",
                "table": "wagers",
                "filter": "odds=lt.1" + "0" * 20,
            },
            {
                "event": "INSERT",
                "schema": "public",
                "table": "wagers",
                "filter": f'"market_id"=eq.{market["id"]}',
            },
        ]
        async with raw(rt_node.url, rt_node.anon_key) as client:
            reply = await client.join(f"realtime:market:{market['id']}", ana.token, bindings)
            assert reply["payload"]["status"] == "ok", reply
            ids = [b["id"] for b in reply["payload"]["response"]["postgres_changes"]]
            placed = await wager(ana, market["id"], home, 200)

            def change_of(table: str, row_id: int) -> Callable[[dict[str, Any]], bool]:
                return lambda f: (
                    f["event"] == "postgres_changes"
                    and f["payload"]["data"]["table"] == table
                    and f["payload"]["data"]["record"]["id"] == row_id
                )

            updated = await client.push(change_of("markets", market["id"]))
            assert updated["payload"]["ids"] == ids[:2]
            assert updated["payload"]["data"]["record"]["title"] == title
            inserted = await client.push(change_of("wagers", placed["id"]))
            assert inserted["payload"]["ids"] == ids[3:]
        await close(ana, boss)

    run(scenario())


def test_tokens_are_verified_at_join_and_on_access_token(rt_node: Node) -> None:
    async def scenario() -> None:
        expired = Tokens(rt_node.jwt_secret)._sign(
            {"role": "anon", "exp": int(time.time()) - 10, "iat": int(time.time()) - 100}
        )
        none_alg = jwt.encode({"role": "service_role", "exp": 2**40}, "", algorithm="none")
        async with raw(rt_node.url, rt_node.anon_key) as client:
            for bad, why in (
                ("garbage", "malformed token"),
                (expired, "token expired"),
                (none_alg, "unsupported algorithm"),
            ):
                reply = await client.join("realtime:t", bad)
                assert reply["payload"]["status"] == "error"
                assert reply["payload"]["response"]["reason"].startswith(
                    f"invalid access token: {why}"
                )
                closed = await client.push(lambda f: f["event"] == "phx_close")
                assert closed["topic"] == "realtime:t"

            assert (await client.join("realtime:t", rt_node.anon_key))["payload"]["status"] == "ok"
            ref = await client.send(
                "realtime:t", "access_token", {"access_token": rt_node.service_key}, join_ref="4"
            )
            assert (await client.reply(ref))["payload"] == {"status": "ok", "response": {}}
            ref = await client.send(
                "realtime:t", "access_token", {"access_token": "garbage"}, join_ref="4"
            )
            refused = await client.reply(ref)
            assert refused["payload"]["status"] == "error"
            assert (await client.push(lambda f: f["event"] == "phx_close"))["topic"] == "realtime:t"
            ref = await client.send("realtime:t", "access_token", {"access_token": "x"})
            assert "unmatched topic" in (await client.reply(ref))["payload"]["response"]["reason"]

    run(scenario())
