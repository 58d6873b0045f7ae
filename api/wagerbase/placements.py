"""Placements gathered per market: concurrent wagers on one market decided in one transaction.

A market's row is locked by every placement, so placements on one market run one after another,
each paying a whole commit (docs/performance.md). This node therefore keeps, per market, a queue
of the placements that arrive while one of that market's placements (or batches) runs:

- a placement on a market with nothing running goes at once, alone, as the caller's own call of
  public.place_wager (money_calls.MoneyCall, exactly as before batching);
- the placements that arrive meanwhile queue; when the running one ends, the next batch takes
  everything queued (at most `most`, WAGERBASE_BATCH_MOST), and one transaction decides them all
  through server.place_wagers (rpc/31_placement.sql), each exactly as its own call would have
  been, in arrival order. There is no fixed wait: a batch is what queued while the previous one
  ran, so a quiet market answers as fast as before and a hot one pays one commit per batch.
- At most `queued` placements wait per market (4 times `most`); past that, a 429 with
  Retry-After (nothing happened).

Each caller keeps their own answer, refusal and guarantees: the batch's rows are handed back one
per caller (a refusal as the same psycopg error a call alone raises, so each surface shapes it as
before), a caller whose session ended or whose role may not place wagers is refused alone by the
engine, and a caller whose client leaves leaves their wager to be decided all the same. When the
batch's connection fails (before COMMIT, or during it: an unknown outcome), the batch is never
run again: each wager is resolved through its own idempotency key, as its own call
(money_calls.MoneyCalls.run_batch). The decisions stay in SQL; this module only gathers.
"""

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.pq import DiagnosticField

from wagerbase.database import Conn
from wagerbase.errors import too_busy
from wagerbase.money_calls import Batch, MoneyCall, MoneyCalls
from wagerbase.sql_files import statements

T = TypeVar("T")

DEFAULT_MOST = 64  # wagers per batch at most (WAGERBASE_BATCH_MOST)
QUEUED_PER_BATCH = 4  # placements that may wait per market: this many batches' worth

# a batch's statements: its callers' role's limits, then the batch, one answer per wager in order
QUERIES = statements(__package__, "placements.sql")


@dataclass(frozen=True)
class Placement(Generic[T]):
    """One caller's wager, as its surface asked for it.

    `call` is the caller's own call of place_wager: how it runs alone, and how it is resolved
    through its key. `wager` is its element of server.place_wagers' array without the claims
    (outcome_id or position, stake, expected_odds, idempotency_key, as JSON values). `answer`
    makes the surface's result from place_wager's result as JSON text (what `call` would have
    returned)."""

    call: MoneyCall[T]
    market_id: int
    wager: dict[str, Any]
    answer: Callable[[str], T]


@dataclass
class _Waiting:
    placement: Placement[Any]
    future: "asyncio.Future[Any]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, outcome: Any) -> None:
        if self.future.done():
            return
        if isinstance(outcome, BaseException):
            self.future.set_exception(outcome)
        else:
            self.future.set_result(outcome)


def refusal(sqlstate: str, message: str, detail: str | None, hint: str | None) -> psycopg.Error:
    """The psycopg error a call of place_wager alone would have raised for this refusal (a row
    of server.place_wagers): the same class, SQLSTATE, message, detail and hint."""
    try:
        kind = psycopg.errors.lookup(sqlstate)
    except KeyError:
        kind = psycopg.errors.get_base_exception(sqlstate)
    info: dict[int, bytes | None] = {
        DiagnosticField.SEVERITY: b"ERROR",
        DiagnosticField.SEVERITY_NONLOCALIZED: b"ERROR",
        DiagnosticField.SQLSTATE: sqlstate.encode(),
        DiagnosticField.MESSAGE_PRIMARY: message.encode(),
        DiagnosticField.MESSAGE_DETAIL: detail.encode() if detail is not None else None,
        DiagnosticField.MESSAGE_HINT: hint.encode() if hint is not None else None,
    }
    return kind(message, info=info)


class Placements:
    """The node's queues of placements, one per market with placements waiting."""

    def __init__(self, calls: MoneyCalls, *, most: int = DEFAULT_MOST) -> None:
        self._calls = calls
        self.most = max(1, most)
        self.queued = self.most * QUEUED_PER_BATCH
        self._queues: dict[int, deque[_Waiting]] = {}
        self._runners: dict[int, asyncio.Task[None]] = {}

    def snapshot(self) -> dict[str, int]:
        """What /health shows: the placements waiting for their market's running placement or
        batch (on every market of this worker), and the most one batch takes."""
        return {"waiting": sum(len(queue) for queue in self._queues.values()), "most": self.most}

    async def place_alone(self, call: MoneyCall[T]) -> T:
        """A placement that names no market the engine could batch on: the caller's call alone."""
        return await self._calls.run(call)

    async def place(self, placement: Placement[T]) -> T:
        """The caller's answer (or refusal, raised), decided alone or in a batch."""
        if self.most == 1:
            return await self._calls.run(placement.call)
        market = placement.market_id
        queue = self._queues.setdefault(market, deque())
        if len(queue) >= self.queued:
            raise too_busy(
                "Too many placements wait for this market",
                limit="placements queued per market",
                market_id=market,
                queued=self.queued,
            )
        waiting = _Waiting(placement)
        queue.append(waiting)
        if market not in self._runners:
            self._runners[market] = asyncio.get_running_loop().create_task(
                self._serve(market), name=f"placements on market {market}"
            )
        answer: T = await self._calls.detachable(placement.call, waiting.future)
        return answer

    async def _serve(self, market: int) -> None:
        """Run the market's queue until it is empty: a lone placement alone, else a batch of
        everything queued (at most `most`), one after another."""
        try:
            while queue := self._queues.get(market):
                taken = [queue.popleft() for _ in range(min(len(queue), self.most))]
                if len(taken) == 1:
                    await self._alone(taken[0])
                else:
                    await self._together(market, taken)
        finally:
            self._runners.pop(market, None)
            if not self._queues.get(market, True):
                self._queues.pop(market, None)

    async def _alone(self, waiting: _Waiting) -> None:
        try:
            outcome: Any = await self._calls.settle(waiting.placement.call)
        except Exception as exc:  # each caller gets their own error, as from a call alone
            outcome = exc
        waiting.settle(outcome)

    async def _together(self, market: int, taken: list[_Waiting]) -> None:
        wagers = [{**w.placement.wager, "claims": w.placement.call.claims} for w in taken]

        @contextlib.asynccontextmanager
        async def begin(conn: Conn) -> AsyncIterator[Conn]:
            async with conn.transaction():
                await conn.execute(QUERIES["role_limits"])
                yield conn

        async def run(conn: Conn) -> list[Any]:
            params = {"market_id": market, "wagers": json.dumps(wagers)}
            cursor = await conn.execute(QUERIES["place_wagers"], params)
            rows = await cursor.fetchall()
            answers: list[Any] = []
            for w, row in zip(taken, rows, strict=True):
                if row["sqlstate"] is None:
                    answers.append(w.placement.answer(row["result"]))
                else:
                    answers.append(
                        refusal(row["sqlstate"], row["message"], row["detail"], row["hint"])
                    )
            return answers

        batch = Batch(
            function="place_wager",
            calls=[w.placement.call for w in taken],
            begin=begin,
            run=run,
        )
        try:
            outcomes = await self._calls.run_batch(batch)
        except Exception as exc:  # a bug: every caller of the batch gets it
            outcomes = [exc] * len(taken)
        for w, outcome in zip(taken, outcomes, strict=True):
            w.settle(outcome)
