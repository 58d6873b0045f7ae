"""A money call whose connection dies while it commits: the client still gets a definite answer,
and the money moves exactly once. Never a blind re-run, never a cancelled commit.

A real `wagerbase serve` node talks to PostgreSQL through tests/faultproxy.py, which cuts the
connection of one chosen transaction right after forwarding its COMMIT (it committed, the node
never hears) or right before (it rolls back), holds a COMMIT, takes the database down, plays a
standby, and counts CancelRequest packets. The node resolves each call through its idempotency
key (the client's, or one it made), as docs/api.md "Unknown outcomes" says.
"""

import asyncio
import json
import signal
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.api.betmarket_client import PASSWORD, User, admin, client, query, register
from tests.faultproxy import FaultKind, FaultProxy, wait_until
from tests.live.proxied import Proxied, proxied_node
from tests.live.sockets import Socket
from tests.pgserver import PgServer
from tests.serving import Node, new_secret
from wagerbase.database import Database
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.operations.migrate import migrate

WAIT = 30.0
WINDOW = "2"  # seconds the node resolves an unknown outcome before answering 503
GRANT = 10000  # minor units in a new wallet
CUT_OFF: list[FaultKind] = ["sever_after_commit", "sever_before_commit"]
SURFACES = ["betmarket", "rest"]


@pytest.fixture(scope="module")
def proxied(
    pg_server: PgServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxied]:
    log_path = tmp_path_factory.mktemp("outcome") / "serve.log"
    env = {"WAGERBASE_OUTCOME_WINDOW": WINDOW}
    with proxied_node(pg_server, template_db, "wb_outcome", log_path, env) as setup:
        yield setup


# --- what the tests look at -------------------------------------------------------------------


def wallet(database: str, user_id: str) -> dict[str, Any]:
    """The user's balance, and what the ledger says about it: the sum of its entries, how many
    entries of each kind, and how many of its transactions do not balance to zero."""
    [(balance, entries_sum)] = query(
        database,
        "select a.balance, (select coalesce(sum(e.amount), 0) from app.ledger_entries as e"
        " where e.account_id = a.id) from app.accounts as a where a.user_id = %s",
        [user_id],
    )
    kinds = query(
        database,
        "select e.kind, count(*) from app.ledger_entries as e"
        " inner join app.accounts as a on e.account_id = a.id"
        " where a.user_id = %s group by e.kind",
        [user_id],
    )
    [(unbalanced,)] = query(
        database,
        "select count(*) from (select e.transaction_id from app.ledger_entries as e"
        " where e.transaction_id in (select e2.transaction_id from app.ledger_entries as e2"
        " inner join app.accounts as a on e2.account_id = a.id where a.user_id = %s)"
        " group by e.transaction_id having sum(e.amount) <> 0) as t",
        [user_id],
    )
    return {
        "balance": balance,
        "entries_sum": entries_sum,
        "kinds": dict(kinds),
        "unbalanced": unbalanced,
    }


def staked_once(stake: int) -> dict[str, Any]:
    """What `wallet` shows of a new bettor who staked `stake` once: the sign-up grant less the
    stake, one entry of each kind, every transaction balanced."""
    return {
        "balance": GRANT - stake,
        "entries_sum": GRANT - stake,
        "kinds": {"grant": 1, "stake": 1},
        "unbalanced": 0,
    }


def wagers(database: str, user_id: str) -> list[tuple[Any, ...]]:
    return query(
        database,
        "select market_id, stake, idempotency_key from app.wagers where user_id = %s",
        [user_id],
    )


def outcome_id(database: str, game: int, position: int = 1) -> int:
    [(found,)] = query(
        database,
        "select id from app.outcomes where market_id = %s and position = %s",
        [game, position],
    )
    return int(found)


def json_lines(node: Node) -> list[dict[str, Any]]:
    """The node's structured log lines (the JSON object each one ends with)."""
    records = []
    for line in node.log_path.read_text(errors="replace").splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def log_lines(node: Node, event: str) -> list[dict[str, Any]]:
    """The node's structured log lines with this `event` (money_calls.py's)."""
    return [record for record in json_lines(node) if record.get("event") == event]


def logged(node: Node, event: str, **fields: Any) -> list[dict[str, Any]]:
    """The node's log lines with this `event` (and these fields), once it has written one. The
    node writes its log from a thread of its own (Litestar's queue listener, the root logger's
    handler): a line can reach the file after the answer it goes with reached the client."""

    def found() -> list[dict[str, Any]]:
        return [
            record
            for record in log_lines(node, event)
            if all(record.get(name) == value for name, value in fields.items())
        ]

    wait_until(lambda: found() != [], WAIT, f"the node's {event} log line {fields}")
    return found()


def outcome_line(node: Node, key: str | None) -> dict[str, Any]:
    """The node's one unknown_outcome log line about the call with this idempotency key."""
    [line] = logged(node, "unknown_outcome", idempotency_key=key)
    return line


def counters(node: Node) -> dict[str, int]:
    answer = httpx.get(f"{node.url}/health", timeout=WAIT)
    assert answer.status_code == 200, answer.text
    money: dict[str, int] = answer.json()["money_calls"]
    return money


def placements_waiting(node: Node) -> int:
    """How many placements wait for their market's running placement or batch on the node."""
    answer = httpx.get(f"{node.url}/health", timeout=WAIT)
    assert answer.status_code == 200, answer.text
    waiting: int = answer.json()["placements"]["waiting"]
    return waiting


def place(
    setup: Proxied, surface: str, user: User, game: int, stake: int, key: str | None
) -> httpx.Response:
    """A wager of `stake` minor units on outcome 1, through BetMarket or /rest/v1/rpc."""
    if surface == "betmarket":
        headers = {"Idempotency-Key": key} if key is not None else {}
        return user.post(
            "/api/bet",
            {"game_id": game, "amount": stake / 100, "choice": "opt1"},
            headers=headers,
        )
    body: dict[str, Any] = {
        "market_id": game,
        "outcome_id": outcome_id(setup.database, game),
        "stake": stake,
    }
    if key is not None:
        body["idempotency_key"] = key
    return user.post("/rest/v1/rpc/place_wager", body)


def deposit(user: User, surface: str, amount: int) -> httpx.Response:
    """A deposit of `amount` minor units, without an idempotency key."""
    if surface == "betmarket":
        return user.post("/api/balance", {"amount": amount / 100})
    return user.post("/rest/v1/rpc/deposit", {"amount": amount})


def placed(surface: str, answer: httpx.Response) -> bool:
    """Whether the answer is a placed wager; and then whether it is a replay of its key."""
    expected = 201 if surface == "betmarket" else 200
    assert answer.status_code == expected, answer.text
    if surface == "betmarket":
        return str(answer.headers.get("Idempotent-Replayed")) == "true"
    replayed: bool = answer.json()["replayed"]
    return replayed


def until_not_503(call: Callable[[], httpx.Response]) -> httpx.Response:
    """A client's retry loop: the same call (same key) again while the answer is a 503, a
    moment apart, for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    answer = call()
    while answer.status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = call()
    return answer


# --- the rules ---------------------------------------------------------------------------------


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


def test_a_client_that_hangs_up_during_the_commit_never_cancels_it(proxied: Proxied) -> None:
    bettor = register(proxied.http, "hangup")
    game = proxied.boss.new_game("Hung up during the commit?")
    cancels = proxied.proxy.cancel_requests

    held = proxied.proxy.arm("hold_commit", b"place_wager")
    body = json.dumps({"game_id": game, "amount": 3.0, "choice": "opt1"}).encode()
    request = (
        f"POST /api/bet HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bettor.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", proxied.node.port), timeout=WAIT) as browser:
        browser.sendall(request)
        wait_until(held.fired.is_set, WAIT, "the COMMIT held in the proxy")
        browser.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # the browser is gone (reset); the commit is let through only now
    proxied.proxy.release(held)

    assert held.committed.wait(WAIT)

    def answered() -> list[dict[str, Any]]:
        return [
            r
            for r in json_lines(proxied.node)
            if r.get("path") == "/api/bet" and r.get("user_id") == bettor.id
        ]

    # the request ran to its end, for nobody: the bet placed
    wait_until(lambda: answered() != [], WAIT, "the request's end")
    assert [r["status"] for r in answered()] == [201]
    assert proxied.proxy.cancel_requests == cancels
    assert len(wagers(proxied.database, bettor.id)) == 1
    assert wallet(proxied.database, bettor.id)["balance"] == GRANT - 300
    assert wallet(proxied.database, bettor.id)["kinds"] == {"grant": 1, "stake": 1}


def test_a_node_stopped_during_a_commit_neither_cancels_nor_loses_it(
    pg_server: PgServer, template_db: str, tmp_path: Path
) -> None:
    """uvicorn cancels requests still running 10 s after SIGTERM; the money call goes on, the
    node waits for it at shutdown, and no CancelRequest ever reaches the database."""
    with pg_server.database_from(template_db, "wb_stop") as database:
        proxy = FaultProxy(database).start()
        node = Node(proxy.url(database), new_secret(), tmp_path / "serve.log").start()
        try:
            with client(node.url) as http:
                boss = admin(http, database)
                bettor = register(http, "late")
                game = boss.new_game("Placed while the node stops?")
                held = proxy.arm("hold_commit", b"place_wager")
                answers: list[httpx.Response | Exception] = []

                def bet() -> None:
                    try:
                        answers.append(bettor.bet(game, 4.0, "opt1"))
                    except httpx.HTTPError as exc:
                        answers.append(exc)

                thread = threading.Thread(target=bet)
                thread.start()
                wait_until(held.fired.is_set, WAIT, "the COMMIT held in the proxy")
                assert node.process is not None
                node.process.send_signal(signal.SIGTERM)
                wait_until(
                    lambda: "timeout graceful shutdown exceeded" in node.log_tail(),
                    WAIT,
                    "uvicorn to cancel the request",
                )
                wait_until(lambda: log_lines(node, "money_call_detached") != [], WAIT, "detach")
                proxy.release(held)
                assert held.committed.wait(WAIT)
                assert node.process.wait(timeout=WAIT) is not None
                thread.join(WAIT)
        finally:
            node.stop()
            proxy.stop()
        assert proxy.cancel_requests == 0
        assert [(m, stake) for m, stake, _ in wagers(database, bettor.id)] == [(game, 400)]
        assert wallet(database, bettor.id)["balance"] == GRANT - 400


def test_a_cancelled_statement_closes_its_connection_instead_of_cancelling(
    pg_server: PgServer, template_db: str
) -> None:
    """database.Connection against a plain psycopg connection, on a COMMIT held in the proxy:
    cancelling the task sends a CancelRequest from the plain one, never from ours."""
    with pg_server.database_from(template_db, "wb_cancel") as database:
        with psycopg.connect(database, autocommit=True) as setup:
            setup.execute("create table cancel_probe (kind text)")
        proxy = FaultProxy(database).start()
        try:

            async def commit_cancelled(kind: str) -> None:
                url = proxy.url(database)
                if kind == "ours":
                    conn: psycopg.AsyncConnection[Any] = await Database(url).connect("probe")
                else:
                    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
                held = proxy.arm("hold_commit", b"cancel_probe")

                async def write() -> None:
                    async with conn.transaction():
                        await conn.execute("insert into cancel_probe values (%s)", [kind])

                task = asyncio.create_task(write())
                while not held.fired.is_set():
                    await asyncio.sleep(0.05)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                proxy.release(held)
                assert await asyncio.to_thread(held.committed.wait, WAIT)
                await conn.close()

            asyncio.run(commit_cancelled("plain"))
            assert proxy.cancel_requests == 1  # the proxy sees what psycopg does by itself
            asyncio.run(commit_cancelled("ours"))
            assert proxy.cancel_requests == 1  # and ours sent none
        finally:
            proxy.stop()
        rows = query(database, "select kind from cancel_probe order by kind", [])
        assert rows == [("ours",), ("plain",)]  # both commits landed: held, never cancelled


def test_a_cancelled_wait_for_the_standby_is_an_unknown_outcome(tmp_path: Path) -> None:
    """An operator's pg_cancel_backend on a commit waiting for its synchronous standby makes the
    commit return with a WARNING: it committed here but maybe not on the standby. The node
    resolves it through the key, and the resolving call's own commit waits for the standby in
    turn: no answer comes until the (absent) standby's wait is lifted."""
    server = EmbeddedServer(tmp_path / "data")
    database = server.start()
    migrate(database)
    node = Node(database, new_secret(), tmp_path / "serve.log").start()
    try:
        with client(node.url) as http, psycopg.connect(database, autocommit=True) as dba:
            boss = admin(http, database)
            bettor = register(http, "synced")
            game = boss.new_game("Replicated?")
            key = f"bet-{uuid.uuid4()}"

            def waiting_for_standby(application: str) -> list[int]:
                rows = dba.execute(
                    "select pid from pg_stat_activity"
                    " where wait_event = 'SyncRep' and application_name = %s",
                    [application],
                ).fetchall()
                return [pid for (pid,) in rows]

            dba.execute("alter system set synchronous_standby_names = 'ghost'")
            dba.execute("select pg_reload_conf()")
            answers: list[httpx.Response] = []
            thread = threading.Thread(
                target=lambda: answers.append(
                    bettor.post(
                        "/api/bet",
                        {"game_id": game, "amount": 6.0, "choice": "opt1"},
                        headers={"Idempotency-Key": key},
                    )
                )
            )
            try:
                thread.start()
                wait_until(lambda: waiting_for_standby("wagerbase api") != [], WAIT, "SyncRep")
                [pid] = waiting_for_standby("wagerbase api")
                dba.execute("select pg_cancel_backend(%s)", [pid])
                # resolving: the same call with the same key, whose own commit waits too
                wait_until(lambda: waiting_for_standby("wagerbase resolve") != [], WAIT, "resolve")
                assert answers == []
            finally:
                dba.execute("alter system reset synchronous_standby_names")
                dba.execute("select pg_reload_conf()")
            thread.join(WAIT)
            [answer] = answers
            assert answer.status_code == 201, answer.text
            assert answer.headers["Idempotent-Replayed"] == "true"
            assert wagers(database, bettor.id) == [(game, 600, key)]
            money = counters(node)
            assert money["sync_rep_cancelled"] == 1
            assert money["resolved_replayed"] == 1
            [line] = logged(node, "unknown_outcome")
            assert (line["phase"], line["resolution"]) == ("sync_rep", "replayed")
    finally:
        node.stop()
        server.stop("immediate")


def test_a_failover_between_the_hosts_of_the_connection_string(
    pg_server: PgServer, template_db: str, tmp_path: Path
) -> None:
    """DATABASE_URL names two hosts: first one that plays a standby, then the primary. Every
    component of the node connects to the primary; when it dies mid-commit and the standby is
    promoted, the wager is resolved on the new primary, the hub reads the event stream there, and
    the next wager goes through. Both proxies lead to one server, so the hub's cursor is still good
    there: it catches up on what committed meanwhile (the severed wager) instead of resyncing (a
    real failover resyncs: tests/ha/test_failover.py)."""
    with pg_server.database_from(template_db, "wb_failover") as database:
        primary, standby = FaultProxy(database).start(), FaultProxy(database).start()
        standby.standby = True
        both = make_conninfo(
            database, host="127.0.0.1,127.0.0.1", port=f"{standby.port},{primary.port}"
        )
        node = Node(both, new_secret(), tmp_path / "serve.log").start()
        try:
            with client(node.url) as http:
                boss = admin(http, database)
                bettor = register(http, "failover")
                game = boss.new_game("Through a failover?")
                socket_ = Socket(node, "watcher")
                try:
                    assert bettor.bet(game, 5.0, "opt1").status_code == 201
                    socket_.expect("odds_update", game_id=game)
                    used = Counter(primary.sessions_used())
                    for component in ("api", "hub", "scheduler", "side-effect worker", "migrate"):
                        assert used[f"wagerbase {component}"] >= 1, used
                    assert standby.sessions_used() == []  # read-write: never the standby

                    def promote() -> None:
                        standby.standby = False

                    key = f"bet-{uuid.uuid4()}"
                    primary.arm("sever_after_commit", b"place_wager", then_down=True, then=promote)
                    answer = bettor.post(
                        "/api/bet",
                        {"game_id": game, "amount": 7.0, "choice": "opt1"},
                        headers={"Idempotency-Key": key},
                    )
                    assert answer.status_code == 201, answer.text
                    assert answer.headers["Idempotent-Replayed"] == "true"
                    assert "wagerbase resolve" in standby.sessions_used()

                    socket_.expect("odds_update", timeout=WAIT, game_id=game, total_volume=12.0)
                    again = until_not_503(lambda: bettor.bet(game, 2.0, "opt1"))
                    assert again.status_code == 201, again.text
                    socket_.expect("odds_update", game_id=game, total_volume=14.0)
                    assert {"wagerbase api", "wagerbase hub"} <= set(standby.sessions_used())
                    assert not [m for m in socket_.seen if m.get("opcode") == "resync"]
                finally:
                    socket_.close()
                stakes = sorted(stake for _, stake, _ in wagers(database, bettor.id))
                assert stakes == [200, 500, 700]
                assert wallet(database, bettor.id)["balance"] == GRANT - 1400
        finally:
            node.stop()
            primary.stop()
            standby.stop()
