"""Placements on one busy market through a real node: the ones that arrive while a placement of
that market runs queue, and go together in batches of at most WAGERBASE_BATCH_MOST
(placements.py), each caller answered as their own call would have been; the queue of a market
is bounded, and a placement past it is a 429 that did nothing.

The node talks to PostgreSQL through tests/faultproxy.py, which holds the COMMIT of the first
placement, so that the others queue behind it for as long as the test needs.
"""

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.api.betmarket_client import User, query, register
from tests.faultproxy import wait_until
from tests.live.proxied import Proxied, proxied_node
from tests.pgserver import PgServer
from tests.serving import Node

WAIT = 30.0
MOST = 2  # WAGERBASE_BATCH_MOST: two placements a batch, so eight may wait per market
QUEUED = MOST * 4  # placements.QUEUED_PER_BATCH batches' worth
STAKE = 300  # minor units


@pytest.fixture(scope="module")
def busy(
    pg_server: PgServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxied]:
    log_path = tmp_path_factory.mktemp("batches") / "serve.log"
    env = {"WAGERBASE_BATCH_MOST": str(MOST)}
    with proxied_node(pg_server, template_db, "wb_batches", log_path, env) as setup:
        yield setup


def health(node: Node) -> dict[str, Any]:
    answer = httpx.get(f"{node.url}/health", timeout=WAIT)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def bet(user: User, game: int, key: str) -> httpx.Response:
    """BetMarket's bet of STAKE on the game's first outcome, with an idempotency key."""
    return user.post(
        "/api/bet",
        {"game_id": game, "amount": STAKE / 100, "choice": "opt1"},
        headers={"Idempotency-Key": key},
    )


def test_placements_that_queue_go_in_batches_and_one_past_the_bound_is_refused_untouched(
    busy: Proxied,
) -> None:
    bettors = [register(busy.http, "queued") for _ in range(QUEUED + 2)]
    game = busy.boss.new_game("A busy market?")
    keys = [f"bet-{uuid.uuid4()}" for _ in bettors]
    before = health(busy.node)["money_calls"]

    held = busy.proxy.arm("hold_commit", b"place_wager")
    with ThreadPoolExecutor(QUEUED + 1) as pool:
        first = pool.submit(bet, bettors[0], game, keys[0])
        assert held.fired.wait(WAIT)
        queued = [
            pool.submit(bet, bettor, game, key)
            for bettor, key in zip(bettors[1:-1], keys[1:-1], strict=True)
        ]
        wait_until(
            lambda: health(busy.node)["placements"]["waiting"] == QUEUED,
            WAIT,
            "every placement after the first queued",
        )
        # the market's queue is full: the next placement is refused at once, nothing done
        refused = bet(bettors[-1], game, keys[-1])
        busy.proxy.release(held)
        answers = [first.result(WAIT), *(placement.result(WAIT) for placement in queued)]

    assert refused.status_code == 429, refused.text
    assert refused.headers["Retry-After"]
    assert [answer.status_code for answer in answers] == [201] * (QUEUED + 1)
    assert query(busy.database, "select count(*) from app.wagers where user_id = %s",
                 [bettors[-1].id]) == [(0,)]  # fmt: skip
    # every other bettor's wager once, with their key: the first alone, then the queued ones
    # (in the order they reached the node); the market's versions follow the wagers' order
    placed = query(
        busy.database,
        "select w.user_id::text, w.idempotency_key, w.stake, w.accepted_version"
        " from app.wagers as w where w.market_id = %s order by w.id",
        [game],
    )
    wagered = [(user, key, stake) for user, key, stake, _ in placed]
    expected = [(b.id, key, STAKE) for b, key in zip(bettors[:-1], keys[:-1], strict=True)]
    assert wagered[0] == expected[0]
    assert sorted(wagered[1:]) == sorted(expected[1:])
    versions = [version for *_, version in placed]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    # the queued ones went in batches of MOST, never alone
    after = health(busy.node)["money_calls"]
    assert after["batches"] - before["batches"] == QUEUED // MOST
    assert after["batched"] - before["batched"] == QUEUED
    # the books of these bettors balance: a grant and a stake each
    for bettor in bettors[:-1]:
        [(balance, entries)] = query(
            busy.database,
            "select a.balance, (select sum(e.amount) from app.ledger_entries as e"
            " where e.account_id = a.id) from app.accounts as a where a.user_id = %s",
            [bettor.id],
        )
        assert balance == entries
