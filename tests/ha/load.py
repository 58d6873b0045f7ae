"""Continuous bettors for the HA and chaos runs, over HTTP through every API node.

Each bettor is a thread with its own user. It deposits (`/rest/v1/rpc/deposit`) and wagers on a
few markets, through BetMarket's `/api/bet` and through `/rest/v1/rpc/place_wager` in turn, each
operation with an idempotency key of its own, its attempts alternating between the API nodes.

Every attempt ends one of three ways:
- an answer (2xx: acknowledged, 4xx: refused): the outcome is known; but a 429 (the node too
  busy, or a lock wait past lock_timeout) says nothing was done, so the same operation is sent
  again, as after a 5xx;
- the connection could not be opened: nothing was sent, the outcome is known (nothing happened);
- anything else (5xx, the connection lost mid-request, a timeout): the outcome is unknown.
An unknown outcome is resolved by sending the same operation with the same key again, through
the other node, until an answer: `replayed committed result` (the first attempt had committed),
`executed on retry` (it had not; the retry did it), `refused on retry`, or `still unknown` when
no answer came within RESOLVE_TIMEOUT_S. A 503 that names the key (the API could not tell either)
is handled the same way as any 503.

`first_write_after(t)`: the first acknowledged write whose attempt started after `t` (a write in
flight at a kill may still be acknowledged by the old primary and says nothing about recovery).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.api.betmarket_client import admin, client, register

RESOLVE_TIMEOUT_S = 90.0  # a lost node is replaced after Patroni's ttl (20 s); generous
REQUEST_TIMEOUT_S = 30.0
RETRY_PAUSE_S = 0.1
# 429 (a lock wait past lock_timeout, or a node busy): nothing was done, so the same call with the
# same key is sent again, as after a 503 (docs/operations.md, "Limits")
BUSY = 429

# what each resolution is called in the figures
REPLAYED = "replayed committed result"
EXECUTED = "executed on retry"
REFUSED = "refused on retry"
UNKNOWN = "still unknown"


@dataclass(frozen=True)
class Game:
    """A BetMarket game (a fixed-odds two-outcome market): its id and its outcomes' ids."""

    id: int
    outcome_ids: tuple[int, int]


@dataclass(frozen=True)
class Bettor:
    name: str
    user_id: str
    token: str


@dataclass
class Attempt:
    node: int  # index of the API node it went to
    started: float  # time.monotonic()
    ended: float
    status: int | None  # HTTP status; None when no answer came
    error: str = ""  # why there was no answer
    sent: bool = True  # False: the connection could not even be opened


@dataclass
class Operation:
    """One money call with its key, and everything that happened to it."""

    kind: str  # deposit | bet (/api/bet) | wager (/rest/v1/rpc/place_wager)
    key: str
    user_id: str
    amount: int  # minor units
    market: Game | None = None
    position: int = 0  # 1 or 2 for a wager
    attempts: list[Attempt] = field(default_factory=list)
    result_id: int | None = None  # the wager's or the deposit's ledger transaction's id
    replayed: bool = False
    refusal: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.result_id is not None

    @property
    def unknown_at_first(self) -> bool:
        """Whether some sent attempt got no answer (the outcome was unknown for a while)."""
        return any((a.sent and a.status is None) or (a.status or 0) >= 500 for a in self.attempts)

    @property
    def resolution(self) -> str | None:
        """How an unknown outcome was resolved; None when it never was unknown."""
        if not self.unknown_at_first:
            return None
        if self.acknowledged:
            return REPLAYED if self.replayed else EXECUTED
        return REFUSED if self.refusal else UNKNOWN

    def describe(self) -> dict[str, Any]:
        first = next(a for a in self.attempts if a.sent and (a.status or 500) >= 500)
        return {
            "kind": self.kind,
            "key": self.key,
            "first_unknown": first.error,
            "resolution": self.resolution,
            "attempts": len(self.attempts),
            "result_id": self.result_id,
        }


class Load:
    """Bettors running continuously through `api_urls` until `stop()`."""

    def __init__(
        self,
        api_urls: list[str],
        bettors: list[Bettor],
        markets: list[Game],
        *,
        seed: int = 7,
    ) -> None:
        self.api_urls = api_urls
        self.bettors = bettors
        self.markets = markets
        self.seed = seed
        self.operations: list[Operation] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failures: list[BaseException] = []  # bugs in a bettor thread itself

    # ---- running ------------------------------------------------------------------------------

    def start(self) -> Load:
        for number, bettor in enumerate(self.bettors):
            thread = threading.Thread(
                target=self._run, args=(number, bettor), name=f"bettor-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop after each bettor's operation in hand (resolved, or given up on)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(RESOLVE_TIMEOUT_S + REQUEST_TIMEOUT_S + 10)
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            raise RuntimeError(f"bettors did not stop: {alive}")

    def _run(self, number: int, bettor: Bettor) -> None:
        rng = random.Random(self.seed * 1000 + number)
        clients = [httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) for url in self.api_urls]
        try:
            turn = number
            while not self._stopping.is_set():
                operation = self._next_operation(rng, bettor)
                with self._lock:
                    self.operations.append(operation)
                turn = self._perform(operation, bettor, clients, turn)
        except BaseException as exc:  # a bug here must fail the test, not vanish with the thread
            self.failures.append(exc)
            raise
        finally:
            for client in clients:
                client.close()

    def _next_operation(self, rng: random.Random, bettor: Bettor) -> Operation:
        key = f"ha-{uuid.uuid4()}"
        draw = rng.random()
        if draw < 0.2:
            return Operation("deposit", key, bettor.user_id, amount=2000)
        market = rng.choice(self.markets)
        kind = "bet" if draw < 0.6 else "wager"
        stake = rng.randint(1, 5) * 100
        return Operation(kind, key, bettor.user_id, stake, market, position=rng.randint(1, 2))

    def _perform(
        self, operation: Operation, bettor: Bettor, clients: list[httpx.Client], turn: int
    ) -> int:
        """Send until an answer, each attempt through the next node; returns the next turn."""
        deadline: float | None = None
        while True:
            node = turn % len(clients)
            turn += 1
            attempt = self._attempt(operation, bettor, clients[node], node)
            operation.attempts.append(attempt)
            if attempt.status is not None and attempt.status < 500 and attempt.status != BUSY:
                return turn
            if deadline is None:
                deadline = time.monotonic() + RESOLVE_TIMEOUT_S
            if time.monotonic() > deadline:
                return turn
            time.sleep(RETRY_PAUSE_S)

    def _attempt(
        self, operation: Operation, bettor: Bettor, client: httpx.Client, node: int
    ) -> Attempt:
        started = time.monotonic()
        try:
            answer = _send(client, operation, bettor)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return Attempt(node, started, time.monotonic(), None, _error(exc), sent=False)
        except httpx.HTTPError as exc:
            return Attempt(node, started, time.monotonic(), None, _error(exc))
        ended = time.monotonic()
        if answer.status_code < 300:
            operation.result_id, operation.replayed = _result(operation, answer)
        elif answer.status_code < 500 and answer.status_code != BUSY:
            operation.refusal = f"{answer.status_code} {answer.text[:300]}"
        error = ""
        if answer.status_code >= 500:
            error = f"HTTP {answer.status_code} {answer.text[:200]}"
        return Attempt(node, started, ended, answer.status_code, error)

    # ---- figures ------------------------------------------------------------------------------

    def snapshot(self) -> list[Operation]:
        with self._lock:
            return list(self.operations)

    def acknowledged(self) -> list[Operation]:
        return [op for op in self.snapshot() if op.acknowledged]

    def refused(self) -> list[Operation]:
        return [op for op in self.snapshot() if op.refusal and not op.acknowledged]

    def unknown(self) -> list[Operation]:
        """Operations whose outcome was unknown at some point, however it was resolved."""
        return [op for op in self.snapshot() if op.unknown_at_first]

    def first_write_after(self, moment: float, node: int | None = None) -> float | None:
        """When the first acknowledged write that started after `moment` (through `node`, or
        any) was acknowledged; None if none yet."""
        ends = [
            attempt.ended
            for op in self.snapshot()
            for attempt in list(op.attempts)
            if attempt.started > moment
            and attempt.status is not None
            and attempt.status < 300
            and (node is None or attempt.node == node)
        ]
        return min(ends, default=None)

    def figures(self) -> dict[str, Any]:
        operations = self.snapshot()
        acknowledged = [op for op in operations if op.acknowledged]
        unknown = [op for op in operations if op.unknown_at_first]
        return {
            "operations": len(operations),
            "acknowledged": len(acknowledged),
            "acknowledged_by_kind": dict(Counter(op.kind for op in acknowledged)),
            "acknowledged_per_api_node": dict(
                Counter(
                    f"api{op.attempts[-1].node + 1}"
                    for op in acknowledged
                    if op.attempts and op.attempts[-1].status is not None
                )
            ),
            "refused": [op.refusal for op in operations if op.refusal and not op.acknowledged],
            "unknown_outcomes": len(unknown),
            "resolutions": dict(Counter(str(op.resolution) for op in unknown)),
            "unknown_detail": [op.describe() for op in unknown],
            "not_sent_attempts": sum(1 for op in operations for a in op.attempts if not a.sent),
        }


def wait_for(condition: Callable[[], object], limit: float) -> bool:
    """Poll `condition` until it holds (True) or `limit` seconds passed (False)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _send(client: httpx.Client, operation: Operation, bettor: Bettor) -> httpx.Response:
    auth = {"Authorization": f"Bearer {bettor.token}"}
    if operation.kind == "deposit":
        body: dict[str, Any] = {"amount": operation.amount, "idempotency_key": operation.key}
        return client.post("/rest/v1/rpc/deposit", json=body, headers=auth)
    assert operation.market is not None
    if operation.kind == "bet":
        body = {
            "game_id": operation.market.id,
            "amount": operation.amount / 100,
            "choice": f"opt{operation.position}",
        }
        headers = {**auth, "Idempotency-Key": operation.key}
        return client.post("/api/bet", json=body, headers=headers)
    body = {
        "market_id": operation.market.id,
        "outcome_id": operation.market.outcome_ids[operation.position - 1],
        "stake": operation.amount,
        "idempotency_key": operation.key,
    }
    return client.post("/rest/v1/rpc/place_wager", json=body, headers=auth)


def _result(operation: Operation, answer: httpx.Response) -> tuple[int, bool]:
    """The id an acknowledgement carries, and whether it replays an earlier call's result."""
    body = answer.json()
    if operation.kind == "bet":
        return int(body["bet_id"]), answer.headers.get("Idempotent-Replayed") == "true"
    name = "transaction_id" if operation.kind == "deposit" else "wager_id"
    return int(body[name]), bool(body.get("replayed"))


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def prepare(
    api_url: str, database_url: str, *, bettors: int, markets: int
) -> tuple[list[Bettor], list[Game]]:
    """An admin (promoted through `database_url`), `markets` BetMarket games and `bettors`
    users, made through the API at `api_url`."""
    with client(api_url) as http:
        boss = admin(http, database_url)
        ids = [boss.new_game(f"Still betting after a failover, {n}?") for n in range(markets)]
        among = f"in.({','.join(map(str, ids))})"
        listed = http.get(
            "/rest/v1/outcomes",
            params={"select": "id,market_id,position", "market_id": among},
            headers=boss.headers,
        )
        assert listed.status_code == 200, listed.text
        outcomes = {(row["market_id"], row["position"]): row["id"] for row in listed.json()}
        made = [Game(i, (outcomes[i, 1], outcomes[i, 2])) for i in ids]
        users = [register(http, "ha_bettor") for _ in range(bettors)]
    return [Bettor(u.name, u.id, u.token) for u in users], made
