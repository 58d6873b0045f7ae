"""What the unknown-outcome tests (tests/live/test_unknown_outcome_*.py) look at: a wallet and what
the ledger says of it, a user's wagers, the node's structured log lines and money-call counters,
and the calls they make (a wager or a deposit through BetMarket or /rest/v1/rpc, retried while
the answer is a 503)."""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.api.betmarket_client import User, query
from tests.faultproxy import FaultKind, wait_until
from tests.live.proxied import Proxied
from tests.serving import Node

WAIT = 30.0
WINDOW = "2"  # seconds the node resolves an unknown outcome before answering 503
GRANT = 10000  # minor units in a new wallet
CUT_OFF: list[FaultKind] = ["sever_after_commit", "sever_before_commit"]
SURFACES = ["betmarket", "rest"]


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
