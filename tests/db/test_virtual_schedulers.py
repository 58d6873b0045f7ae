"""Two schedulers racing on virtual markets (docs/provably-fair.md) settle each draw once, and each
seed is announced once, with the draw it made."""

import hashlib
from collections.abc import Callable
from typing import Any

import psycopg

from tests.db.actors import Actor, make_users
from tests.db.concurrent import all_at_once
from tests.db.invariants import assert_invariants
from tests.db.stream import StreamReader
from tests.db.virtual import FAR, py_hmac, py_number, scalar

# Two schedulers ---------------------------------------------------------------------------------


def test_two_schedulers_racing_settle_each_draw_once(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    users = make_users(url, ["ana", "ben"])
    boss = make_users(url, ["boss"], admin=True)["boss"]
    markets: list[dict[str, Any]] = []
    with Actor(url, boss, admin=True) as admin:
        for template in ("roulette", "dice", "roulette", "dice"):
            markets.append(
                admin.call("create_virtual_market", template=template, title="race", closes_at=FAR)
            )
    for market in markets:
        for name, position in (("ana", 0), ("ben", 1)):
            with Actor(url, users[name]) as bettor:
                bettor.call(
                    "place_wager",
                    market_id=market["id"],
                    outcome_id=market["outcomes"][position]["outcome_id"],
                    stake=100,
                )
    ids = [m["id"] for m in markets]
    stream = StreamReader(url, channels=("wagerbase_market",))
    with psycopg.connect(url) as conn:
        conn.execute(
            "update app.markets set closes_at = now() - interval '1 second' where id = any(%s)",
            [ids],
        )
        conn.commit()

    def scheduler(function: str) -> Callable[[int], Any]:
        def run(_: int) -> Any:
            with psycopg.connect(url) as conn:
                row = conn.execute(f"select app.{function}()").fetchone()
                conn.commit()
                assert row is not None
                return row[0]

        return run

    # whole ticks: the advisory lock lets one node do the round
    ticks = all_at_once(2, scheduler("scheduler_tick"))
    assert not any(isinstance(t, psycopg.Error) for t in ticks), ticks
    drawn = [i for t in ticks for i in t["drawn"]]
    assert sorted(drawn) == sorted(ids)
    assert all(t["draw_failed"] == [] for t in ticks)

    # the settling step alone, without the lock: skip locked still settles each market once
    more: list[dict[str, Any]] = []
    with Actor(url, boss, admin=True) as admin:
        for _ in range(4):
            more.append(
                admin.call("create_virtual_market", template="dice", title="again", closes_at=FAR)
            )
    more_ids = [m["id"] for m in more]
    with psycopg.connect(url) as conn:
        conn.execute(
            "update app.markets set closes_at = now() - interval '1 second' where id = any(%s)",
            [more_ids],
        )
        conn.execute("select app.close_due_markets()")
        conn.commit()
    results = all_at_once(4, scheduler("settle_virtual_draws"))
    assert not any(isinstance(r, psycopg.Error) for r in results), results
    settled = [i for r in results for i in r["drawn"]]
    assert sorted(settled) == sorted(more_ids)
    assert all(r["failed"] == [] for r in results)

    with psycopg.connect(url) as conn:
        counts = conn.execute(
            "select market_id, count(*) from app.settlements where market_id = any(%s)"
            " group by market_id",
            [ids + more_ids],
        ).fetchall()
        assert sorted(counts) == sorted((i, 1) for i in ids + more_ids)
        reveals = scalar(
            conn,
            "select count(*) from app.admin_actions where action = 'reveal_draw'"
            " and market_id = any(%s)",
            [ids + more_ids],
        )
        assert reveals == len(ids + more_ids)
        assert_invariants(conn)
    with Actor(url, None) as anon:
        for market_id in ids + more_ids:
            assert anon.call("verify_draw", market_id=market_id)["verified"] is True

    # each seed announced once, with the draw it made
    revealed = [m for _, m in stream.read() if m["type"] == "draw_revealed"]
    stream.close()
    assert sorted(m["market_id"] for m in revealed) == sorted(ids + more_ids)
    for message in revealed:
        seed = message["server_seed"]
        assert hashlib.sha256(seed.encode()).hexdigest() == message["server_seed_hash"]
        mac = py_hmac(seed, message["client_seed"], message["market_id"])
        limit = 37 if message["template"] == "roulette" else 10000
        assert message["result"] == py_number(mac, limit)
        assert message["status"] == "settled" and message["reveal_reason"] == "settled"
