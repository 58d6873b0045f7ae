"""Reads have limits: no read of /rest/v1 (a view, or the rows a function returns) answers more
than the node's row cap (`WAGERBASE_MAX_ROWS`, 1000 by default, as PostgREST's `db-max-rows`)
whatever `limit` asks, and Content-Range says which rows came and, counted, how many there are;
the rest is read a page at a time with `offset`. Pool snapshots and quote telemetry are kept for
their retention (app.config, 30 days by default) and pruned by the scheduler's rounds, so neither
grows without bound."""

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.attack.over_http import RestActor, another_node, db, new_user
from tests.serving import Node
from wagerbase.http.request_limits import EMBEDDED_ROWS_PER_PAGE
from wagerbase.settings import DEFAULT_MAX_ROWS

PRUNE_DEADLINE = 60.0  # seconds for the scheduler (a round a second) to get to the old rows
SMALL_CAP = 2


@pytest.fixture(scope="module")
def capped(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A second node on the same database, with a row cap of 2."""
    with another_node(
        node, tmp_path_factory.mktemp("capped"), WAGERBASE_MAX_ROWS=str(SMALL_CAP)
    ) as n:
        yield n


def closed_market(service: RestActor) -> dict[str, Any]:
    """A market closed at once: the scheduler takes no more snapshots of it."""
    market: dict[str, Any] = service.call(
        "create_market", title=f"Reads {uuid.uuid4().hex[:6]}", outcomes=["Home", "Away"]
    )
    service.call("close_market", market_id=market["id"])
    return market


def add_snapshots(node: Node, market: dict[str, Any], count: int, age: str = "0 days") -> None:
    """`count` snapshots of the market's first outcome, a second apart, `age` old and older."""
    db(node).execute(
        """insert into app.pool_snapshots (market_id, outcome_id, reason, market_version,
               outcome_pool, total_pool, takeout, share, odds, taken_at)
           select %(market)s, %(outcome)s, 'interval', 1, 0, 0, 0, 0, null,
                  now() - %(age)s::interval - make_interval(secs => n)
           from generate_series(1, %(count)s) as n""",
        {
            "market": market["id"],
            "outcome": market["outcomes"][0]["outcome_id"],
            "count": count,
            "age": age,
        },
    )


def snapshot_count(node: Node, market: dict[str, Any]) -> int:
    row = (
        db(node)
        .execute("select count(*) from app.pool_snapshots where market_id = %s", [market["id"]])
        .fetchone()
    )
    assert row is not None
    return int(row[0])


# --- the row cap --------------------------------------------------------------------------------


def test_a_view_answers_at_most_the_row_cap_and_says_so(node: Node, service: RestActor) -> None:
    market = closed_market(service)
    add_snapshots(node, market, DEFAULT_MAX_ROWS + 200)
    try:
        read_a_long_view(node, market)
    finally:  # other tests read the whole view: leave it short
        db(node).execute("delete from app.pool_snapshots where market_id = %s", [market["id"]])


def read_a_long_view(node: Node, market: dict[str, Any]) -> None:
    total = snapshot_count(node, market)
    anon = RestActor(node, "anonymous", node.anon_key)
    where = {"market_id": f"eq.{market['id']}", "select": "id", "order": "id"}

    answer = anon.get("pool_snapshots", where)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()) == DEFAULT_MAX_ROWS
    assert answer.headers["content-range"] == f"0-{DEFAULT_MAX_ROWS - 1}/*"

    asked_more = anon.get("pool_snapshots", {**where, "limit": str(total * 2)})
    assert len(asked_more.json()) == DEFAULT_MAX_ROWS

    counted = anon.send("GET", "pool_snapshots", headers={"Prefer": "count=exact"}, params=where)
    assert counted.status_code == 206, counted.text
    assert counted.headers["content-range"] == f"0-{DEFAULT_MAX_ROWS - 1}/{total}"

    rest = anon.get("pool_snapshots", {**where, "offset": str(DEFAULT_MAX_ROWS)})
    assert rest.status_code == 200, rest.text
    assert len(rest.json()) == total - DEFAULT_MAX_ROWS
    assert rest.headers["content-range"] == f"{DEFAULT_MAX_ROWS}-{total - 1}/*"
    every = [r["id"] for r in answer.json()] + [r["id"] for r in rest.json()]
    assert len(set(every)) == total

    fewer = anon.get("pool_snapshots", {**where, "limit": "3"})
    assert len(fewer.json()) == 3 and fewer.headers["content-range"] == "0-2/*"


def test_the_cap_is_a_setting_and_holds_for_function_rows_too(
    node: Node, capped: Node, service: RestActor
) -> None:
    market: dict[str, Any] = service.call(
        "create_market",
        title=f"Held {uuid.uuid4().hex[:6]}",
        outcomes=["Home", "Away"],
        options={"requires_approval": True},
    )
    bettor = new_user(node, "capped")
    for _ in range(SMALL_CAP + 1):
        bettor.call(
            "place_wager",
            market_id=market["id"],
            outcome_id=market["outcomes"][0]["outcome_id"],
            stake=100,
        )
    args = {"market_id": market["id"]}
    uncapped = service.rpc("admin_list_pending_wagers", args)
    assert uncapped.status_code == 200 and len(uncapped.json()) == SMALL_CAP + 1, uncapped.text

    small = RestActor(capped, "service", capped.service_key)
    answer = small.rpc("admin_list_pending_wagers", args)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()) == SMALL_CAP
    assert answer.headers["content-range"] == f"0-{SMALL_CAP - 1}/*"
    counted = small.send(
        "POST", "rpc/admin_list_pending_wagers", headers={"Prefer": "count=exact"}, json=args
    )
    assert counted.status_code == 206, counted.text
    assert counted.headers["content-range"] == f"0-{SMALL_CAP - 1}/{SMALL_CAP + 1}"
    page_two = small.send("POST", "rpc/admin_list_pending_wagers?offset=2", json=args)
    assert len(page_two.json()) == 1 and page_two.headers["content-range"] == "2-2/*"

    views = small.get("markets", {"select": "id"})
    assert views.status_code == 200 and len(views.json()) == SMALL_CAP


def test_embedded_rows_are_held_to_the_cap_and_an_answer_to_ten_times_it(
    capped: Node, service: RestActor
) -> None:
    """Every embedded array holds at most the row cap (as PostgREST's db-max-rows), whatever its
    `limit`; and all embedded rows of one answer together at most EMBEDDED_ROWS_PER_PAGE times
    the cap: beyond, a 400 that says how to ask for less, not an answer of any size."""
    made = [
        service.call(
            "create_market", title=f"Embedded {uuid.uuid4().hex[:6]}", outcomes=["A", "B", "C"]
        )
        for _ in range(2)
    ]
    small = RestActor(capped, "service", capped.service_key)
    where = {"id": f"in.({made[0]['id']},{made[1]['id']})", "order": "id"}
    answer = small.get(
        "markets", {**where, "select": "id,outcomes!market_id(id)", "outcomes.limit": "10"}
    )
    assert answer.status_code == 200, answer.text
    assert [len(m["outcomes"]) for m in answer.json()] == [SMALL_CAP, SMALL_CAP]
    budget = EMBEDDED_ROWS_PER_PAGE * SMALL_CAP  # 20: five embedded arrays of 2 for 2 rows
    five = ",".join(f"o{i}:outcomes!market_id(id)" for i in range(5))
    assert small.get("markets", {**where, "select": f"id,{five}"}).status_code == 200
    six = ",".join(f"o{i}:outcomes!market_id(id)" for i in range(6))
    over = small.get("markets", {**where, "select": f"id,{six}"})
    assert over.status_code == 400, over.text
    body = over.json()
    assert (body["code"], body["message"]) == (
        "PGRST100",
        f"An answer may hold at most {budget} embedded rows",
    )
    assert "label.limit" in body["hint"]
    # fewer parent rows: the same select fits
    fewer = small.get("markets", {**where, "select": f"id,{six}", "limit": "1"})
    assert fewer.status_code == 200, fewer.text


def test_a_function_returning_a_set_of_values_is_cut_at_the_cap(capped: Node, probes: str) -> None:
    anon = RestActor(capped, "anonymous", capped.anon_key)
    deadline = time.monotonic() + PRUNE_DEADLINE
    while (answer := anon.get(f"rpc/{probes}_set", {"n": "5"})).status_code == 404:
        assert time.monotonic() < deadline, answer.text  # the schema cache reads it on a miss
        time.sleep(0.2)
    assert answer.status_code == 200, answer.text
    assert answer.json() == list(range(1, SMALL_CAP + 1))


# --- retention ----------------------------------------------------------------------------------


def test_old_snapshots_and_telemetry_are_pruned_by_the_scheduler(
    node: Node, service: RestActor
) -> None:
    conn = db(node)
    row = conn.execute(
        "select pool_snapshot_retention, quote_telemetry_retention from app.config"
    ).fetchone()
    assert row is not None and [r.days for r in row] == [30, 30]

    market = closed_market(service)
    add_snapshots(node, market, 5, age="31 days")
    add_snapshots(node, market, 3, age="29 days")
    outcome = market["outcomes"][0]["outcome_id"]
    conn.execute(
        """insert into app.quote_telemetry (market_id, outcome_id, stake, price_impact_pp,
               share_after, created_at)
           select %s, %s, 100, 0, 0.5, now() - age
           from unnest(array[interval '31 days', interval '40 days', interval '29 days']) as age""",
        [market["id"], outcome],
    )

    a_day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()

    def shown(view: str, column: str) -> int:
        """The rows of the market a day old or older that the view shows."""
        where = {"market_id": f"eq.{market['id']}", column: f"lt.{a_day_ago}", "select": "id"}
        answer = service.get(view, where)
        assert answer.status_code == 200, answer.text
        return len(answer.json())

    deadline = time.monotonic() + PRUNE_DEADLINE
    while True:
        snapshots_left = conn.execute(
            "select count(*) from app.pool_snapshots where market_id = %s"
            " and taken_at < now() - interval '30 days'",
            [market["id"]],
        ).fetchone()
        telemetry_left = conn.execute(
            "select count(*) from app.quote_telemetry where market_id = %s"
            " and created_at < now() - interval '30 days'",
            [market["id"]],
        ).fetchone()
        if snapshots_left == (0,) and telemetry_left == (0,):
            break
        assert time.monotonic() < deadline, (snapshots_left, telemetry_left)
        time.sleep(0.5)
    # what is younger than the retention stays, and is what the views show
    assert shown("pool_snapshots", "taken_at") == 3
    assert shown("quote_telemetry", "created_at") == 1


def test_betmarket_lists_answer_the_newest_games_and_bets_up_to_the_row_cap(
    node: Node, capped: Node, service: RestActor
) -> None:
    """BetMarket's contract has no paging: its lists answer the newest rows, at most the cap."""
    bettor = new_user(node, "lists")
    service.call(
        "credit_wallet",
        user_id=bettor.user_id,
        amount=100_000,
        reference="lists",
        idempotency_key=f"lists-{bettor.user_id}",
    )
    made = []
    for _ in range(SMALL_CAP + 1):
        market = service.call(
            "create_market", title=f"Lists {uuid.uuid4().hex[:6]}", outcomes=["Home", "Away"]
        )
        if market["status"] == "draft":
            service.call("open_market", market_id=market["id"])
        bettor.call(
            "place_wager",
            market_id=market["id"],
            outcome_id=market["outcomes"][0]["outcome_id"],
            stake=100,
        )
        made.append(market["id"])
    headers = {"Authorization": f"Bearer {bettor.token}"}
    games = httpx.get(f"{capped.url}/api/games", headers=headers, timeout=30)
    bets = httpx.get(f"{capped.url}/api/user/bets", headers=headers, timeout=30)
    assert games.status_code == bets.status_code == 200, (games.text, bets.text)
    assert [g["game_id"] for g in games.json()["games"]] == made[::-1][:SMALL_CAP]
    assert [b["game_id"] for b in bets.json()["bets"]] == made[::-1][:SMALL_CAP]
    # the uncapped node answers them all
    mine = httpx.get(f"{node.url}/api/user/bets", headers=headers, timeout=30)
    assert [b["game_id"] for b in mine.json()["bets"]] == made[::-1]
