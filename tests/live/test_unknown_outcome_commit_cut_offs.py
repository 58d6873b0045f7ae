"""A money call whose connection is cut at its COMMIT gets a definite answer, and the money moves
exactly once; never a blind re-run. A wager or a deposit (with the client's key or one the server
made), each wager of a batch through its own key; a call refused when issued again gets that
refusal; past the window, or when the session ended meanwhile, a 503 naming the key that settles
it later; an admin call without a key is never run again and says what to check.

A real `wagerbase serve` node talks to PostgreSQL through tests/faultproxy.py, which cuts the
connection of one chosen transaction right after forwarding its COMMIT (it committed, the node
never hears) or right before (it rolls back), holds a COMMIT, takes the database down, plays a
standby, and counts CancelRequest packets. The node resolves each call through its idempotency
key (the client's, or one it made), as docs/api.md "Unknown outcomes" says. What the tests look
at is in tests/live/outcomes.py; the proxied node (`proxied`) is a fixture of
tests/live/conftest.py.
"""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.api.betmarket_client import PASSWORD, User, query, register
from tests.faultproxy import FaultKind, wait_until
from tests.live.outcomes import (
    CUT_OFF,
    GRANT,
    SURFACES,
    WAIT,
    counters,
    deposit,
    outcome_id,
    outcome_line,
    place,
    placed,
    placements_waiting,
    staked_once,
    until_not_503,
    wagers,
    wallet,
)
from tests.live.proxied import Proxied


@pytest.mark.parametrize("fault", CUT_OFF)
@pytest.mark.parametrize("surface", SURFACES)
def test_a_wager_cut_off_at_its_commit_gets_a_definite_answer_and_lands_once(
    proxied: Proxied, surface: str, fault: FaultKind
) -> None:
    bettor = register(proxied.http, "cut")
    game = proxied.boss.new_game(f"Cut off at the commit ({surface}, {fault})?")
    key = f"bet-{uuid.uuid4()}"
    issued = proxied.proxy.executions(b"place_wager")
    before = counters(proxied.node)

    armed = proxied.proxy.arm(fault, b"place_wager")
    answer = place(proxied, surface, bettor, game, 500, key)

    assert armed.fired.is_set()
    # after the commit it had landed: the key replays it; before, it had not: it runs once now
    assert placed(surface, answer) is (fault == "sever_after_commit")
    assert wagers(proxied.database, bettor.id) == [(game, 500, key)]
    assert wallet(proxied.database, bettor.id) == staked_once(500)
    # issued twice: the call, then the same call with the same key; never a third time
    assert proxied.proxy.executions(b"place_wager") == issued + 2
    resolution = "replayed" if fault == "sever_after_commit" else "executed"
    line = outcome_line(proxied.node, key)
    assert line["function"] == "place_wager"
    assert line["phase"] == "commit"
    assert line["resolution"] == resolution
    assert line["key_source"] == "client"
    assert line["batch"] == 1
    after = counters(proxied.node)
    assert after["unknown_outcomes"] == before["unknown_outcomes"] + 1
    assert after[f"resolved_{resolution}"] == before[f"resolved_{resolution}"] + 1


@pytest.mark.parametrize("surface", SURFACES)
def test_a_batch_cut_off_at_its_commit_answers_each_wager_through_its_own_key(
    proxied: Proxied, surface: str
) -> None:
    """Placements that queue behind a running one on their market go together, in one batch
    (placements.py); when the batch's connection is cut right after its COMMIT, the batch is
    never run again: each wager is resolved through its own key, as its own call, and replays."""
    bettors = [register(proxied.http, "batched") for _ in range(4)]
    game = proxied.boss.new_game(f"A batch cut off at its commit ({surface})?")
    keys = [f"bet-{uuid.uuid4()}" for _ in bettors]
    before = counters(proxied.node)

    # the first placement holds its market's turn (its COMMIT held) while the others queue
    held = proxied.proxy.arm("hold_commit", b"place_wager")
    with ThreadPoolExecutor(len(bettors)) as pool:
        first = pool.submit(place, proxied, surface, bettors[0], game, 500, keys[0])
        assert held.fired.wait(WAIT)
        cut = proxied.proxy.arm("sever_after_commit", b"server.place_wagers")
        others = [
            pool.submit(place, proxied, surface, bettor, game, 500, key)
            for bettor, key in zip(bettors[1:], keys[1:], strict=True)
        ]
        wait_until(
            lambda: placements_waiting(proxied.node) == len(others), WAIT, "the others queued"
        )
        proxied.proxy.release(held)
        answers = [first.result(WAIT), *(other.result(WAIT) for other in others)]

    assert cut.fired.is_set()
    # the first alone, committed; the batch committed unheard, each wager replayed by its key
    assert [placed(surface, answer) for answer in answers] == [False, True, True, True]
    for bettor, key in zip(bettors, keys, strict=True):
        assert wagers(proxied.database, bettor.id) == [(game, 500, key)]
        assert wallet(proxied.database, bettor.id) == staked_once(500)
    for key in keys[1:]:
        line = outcome_line(proxied.node, key)
        assert (line["function"], line["phase"], line["resolution"], line["batch"]) == (
            "place_wager",
            "commit",
            "replayed",
            len(others),
        )
    after = counters(proxied.node)
    assert after["batches"] == before["batches"] + 1
    assert after["batched"] == before["batched"] + len(others)
    assert after["unknown_outcomes"] == before["unknown_outcomes"] + len(others)
    assert after["resolved_replayed"] == before["resolved_replayed"] + len(others)


@pytest.mark.parametrize("fault", CUT_OFF)
@pytest.mark.parametrize("surface", SURFACES)
def test_a_deposit_without_a_key_gets_one_from_the_server_and_lands_once(
    proxied: Proxied, surface: str, fault: FaultKind
) -> None:
    depositor = register(proxied.http, "saver")
    armed = proxied.proxy.arm(fault, b"deposit")

    answer = deposit(depositor, surface, 2500)

    assert armed.fired.is_set()
    assert answer.status_code == 200, answer.text
    assert wallet(proxied.database, depositor.id) == {
        "balance": GRANT + 2500,
        "entries_sum": GRANT + 2500,
        "kinds": {"grant": 1, "deposit": 1},
        "unbalanced": 0,
    }
    [(key, operation)] = query(
        proxied.database,
        "select key, operation from app.idempotency_keys where user_id = %s",
        [depositor.id],
    )
    assert operation == "deposit"
    line = outcome_line(proxied.node, key)
    assert line["key_source"] == "server"
    assert line["resolution"] == ("replayed" if fault == "sever_after_commit" else "executed")


@pytest.mark.parametrize("surface", SURFACES)
def test_a_database_gone_past_the_window_gets_a_503_naming_the_key_that_settles_it_later(
    proxied: Proxied, surface: str
) -> None:
    bettor = register(proxied.http, "patient")
    game = proxied.boss.new_game(f"Still unknown after the window ({surface})?")
    client_key = f"bet-{uuid.uuid4()}" if surface == "betmarket" else None
    issued = proxied.proxy.executions(b"place_wager")
    before = counters(proxied.node)

    armed = proxied.proxy.arm("sever_after_commit", b"place_wager", then_down=True)
    try:
        answer = place(proxied, surface, bettor, game, 700, client_key)
        assert armed.committed.wait(WAIT)
    finally:
        proxied.proxy.up()

    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"].isdigit()
    if surface == "betmarket":
        key = client_key
        assert answer.json() == {
            "error": f"outcome unknown: retry with idempotency_key={key}",
            "idempotency_key": key,
        }
    else:
        body = answer.json()
        key = json.loads(body["details"])["idempotency_key"]
        assert key.startswith("wb-")  # made by the server: the client sent none
        assert body["code"] == "PT503"
        assert body["message"] == "outcome_unknown"
        assert json.loads(body["details"]) == {"function": "place_wager", "idempotency_key": key}
        assert body["hint"].startswith(f"outcome unknown: retry with idempotency_key={key}")
    assert answer.headers["Idempotency-Key"] == key
    # nothing ran twice while the database was away: the commit landed once
    assert proxied.proxy.executions(b"place_wager") == issued + 1
    assert wagers(proxied.database, bettor.id) == [(game, 700, key)]
    line = outcome_line(proxied.node, key)
    assert line["resolution"] == "unresolved"
    assert counters(proxied.node)["unresolved"] == before["unresolved"] + 1

    # the client retries with the named key once the database is back: the stored result
    retried = until_not_503(lambda: place(proxied, surface, bettor, game, 700, key))
    assert placed(surface, retried) is True
    assert wagers(proxied.database, bettor.id) == [(game, 700, key)]
    assert wallet(proxied.database, bettor.id)["balance"] == GRANT - 700
    assert wallet(proxied.database, bettor.id)["kinds"] == {"grant": 1, "stake": 1}


@pytest.mark.parametrize("surface", SURFACES)
def test_a_call_refused_when_issued_again_gets_that_refusal(proxied: Proxied, surface: str) -> None:
    """The wager's connection is cut before its COMMIT (it rolled back) and the database stays
    away; meanwhile the wallet is emptied. Issued again with its key, the wager is refused for
    want of funds: that is a definite answer (nothing happened), given to the client at once."""
    bettor = register(proxied.http, "emptied")
    game = proxied.boss.new_game(f"Refused when issued again ({surface})?")
    key = f"bet-{uuid.uuid4()}"

    armed = proxied.proxy.arm("sever_before_commit", b"place_wager", then_down=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(place, proxied, surface, bettor, game, 700, key)
        try:
            assert armed.fired.wait(WAIT)
            with psycopg.connect(proxied.database) as conn:  # one transaction, committed
                conn.execute(
                    "select set_config('request.jwt.claims', %s, true),"
                    " set_config('role', 'authenticated', true)",
                    [json.dumps({"role": "authenticated", "sub": bettor.id})],
                )
                conn.execute("select public.withdraw(%s)", [GRANT])
        finally:
            proxied.proxy.up()
        answer = pending.result(timeout=WAIT * 2)

    assert answer.status_code in (400, 402), answer.text  # BetMarket: 400, /rest: PT402
    assert "Idempotency-Key" not in answer.headers
    assert outcome_line(proxied.node, key)["resolution"] == "refused"
    assert wagers(proxied.database, bettor.id) == []
    assert wallet(proxied.database, bettor.id)["balance"] == 0


@pytest.mark.parametrize("surface", SURFACES)
def test_a_session_ended_while_its_call_is_resolved_leaves_the_outcome_unknown_not_refused(
    proxied: Proxied, surface: str
) -> None:
    """The user signs out (here: every session ended) while the node resolves their wager cut at
    its commit: the attempt issued again is refused by the session check before the key is read,
    which says nothing of the wager, so the answer is the 503 naming the key, never a 401 that
    reads as "it did not happen"; signed in again, the same key answers what happened."""
    bettor = register(proxied.http, "leaving")
    game = proxied.boss.new_game(f"Signed out while resolving ({surface})?")
    key = f"bet-{uuid.uuid4()}"
    issued = proxied.proxy.executions(b"place_wager")
    checked = proxied.proxy.executions(b"check_session")

    armed = proxied.proxy.arm("sever_after_commit", b"place_wager", then_down=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(place, proxied, surface, bettor, game, 700, key)
        try:
            assert armed.committed.wait(WAIT)
            with psycopg.connect(proxied.database, autocommit=True) as conn:
                conn.execute("select app._end_sessions(%s, null, 'global')", [bettor.id])
        finally:
            proxied.proxy.up()
        answer = pending.result(timeout=WAIT * 2)

    assert answer.status_code == 503, answer.text
    assert answer.headers["Idempotency-Key"] == key
    # the attempt issued again reached the database and was turned away by the session check
    assert proxied.proxy.executions(b"check_session") > checked + 1
    assert proxied.proxy.executions(b"place_wager") == issued + 1
    assert outcome_line(proxied.node, key)["resolution"] == "unresolved"
    assert wagers(proxied.database, bettor.id) == [(game, 700, key)]

    login = proxied.http.post(
        "/api/auth/login", json={"username": bettor.name, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    again = User(proxied.http, bettor.name, bettor.id, login.json()["token"])
    assert placed(surface, until_not_503(lambda: place(proxied, surface, again, game, 700, key)))
    assert wagers(proxied.database, bettor.id) == [(game, 700, key)]


@pytest.mark.parametrize("surface", SURFACES)
def test_an_admin_call_without_a_key_is_never_run_again_and_says_what_to_check(
    proxied: Proxied, surface: str
) -> None:
    bettor = register(proxied.http, "settled")
    game = proxied.boss.new_game(f"Settled in the dark ({surface})?")
    assert bettor.bet(game, 5.0, "opt1").status_code == 201
    issued = proxied.proxy.executions(b"settle_market")
    before = counters(proxied.node)

    armed = proxied.proxy.arm("sever_after_commit", b"settle_market")
    if surface == "betmarket":
        answer = proxied.boss.settle(game, "opt1")
    else:
        answer = proxied.boss.post(
            "/rest/v1/rpc/settle_market",
            {"market_id": game, "outcome_id": outcome_id(proxied.database, game)},
        )

    assert armed.fired.is_set() and armed.committed.wait(WAIT)
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"].isdigit()
    assert "Idempotency-Key" not in answer.headers
    if surface == "betmarket":
        assert answer.json() == {
            "error": f"outcome unknown: read the result of GET /api/games/{game}"
            " before calling it again"
        }
    else:
        body = answer.json()
        assert (body["code"], body["message"]) == ("PT503", "outcome_unknown")
        assert json.loads(body["details"]) == {"function": "settle_market"}
        assert body["hint"].startswith(
            "outcome unknown: read the market's status (GET /rest/v1/markets?id=eq.<market_id>)"
        )
    # the call was sent once and never again: it had settled, exactly once
    assert proxied.proxy.executions(b"settle_market") == issued + 1
    assert query(
        proxied.database, "select count(*) from app.settlements where market_id = %s", [game]
    ) == [(1,)]
    assert proxied.http.get(f"/api/games/{game}").json()["result"] == "opt1"
    assert counters(proxied.node)["unresolved_without_key"] == (
        before["unresolved_without_key"] + 1
    )
    # calling it again is refused by the state it reached: nothing is paid twice
    assert proxied.boss.settle(game, "opt1").status_code == 409
