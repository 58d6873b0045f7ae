"""Money calls: the one way a call that changes state reaches the database, and what is done when
its connection fails (docs/api.md, "Unknown outcomes").

Every call of an engine function that changes something goes through `MoneyCalls.run`: BetMarket's
bet, deposit and admin calls, and every POST of a volatile function on /rest/v1/rpc (place_wager,
deposit, withdraw, settle_market, void_market, approve_wager, ...). For each call it:

1. has an idempotency key when the function takes one: the client's, or one made here
   (`idempotency_key`), so that an unknown outcome can always be resolved;
2. runs the transaction in a task of its own that the request only awaits (shielded): a client
   that hangs up, or a request cancelled at shutdown, never interrupts it, and no timeout is set
   around it; the connection itself never sends a CancelRequest (database.Connection). A
   cancelled COMMIT that waits for a synchronous standby still lands, so a commit is never
   cancelled, not even by the role's statement_timeout or lock_timeout: the call's statement
   runs under them (and the function's own, server.begin_request), and both are lifted before
   COMMIT;
3. watches the server's notices: the WARNING "canceling wait for synchronous replication" (an
   operator ran pg_cancel_backend) means the commit happened locally but may not be on the
   standby, so its outcome is unknown;
4. when the connection fails after the function may have committed (during COMMIT), or the
   warning came, never re-runs the call blindly. A call with a key is resolved through it: the
   same call with the same key is issued again on a new connection (a multi-host connection
   string with target_session_attrs=read-write reaches the new primary), with backoff, for up to
   `window` seconds. The engine either replays the stored result (it had committed) or runs it
   once (it had not); the client gets that answer. Either way the attempt's commit writes (a
   replay counts itself on the key's row, migrations/0012), so it waits for the synchronous
   standby, and with it every earlier commit: a replayed answer is a durable one. If the window
   passes (between attempts: an attempt whose commit waits for a standby is never cut short),
   or the caller's session ended meanwhile (their attempt is refused before the key is read),
   OutcomeUnknown: a 503 with Retry-After that names the key. A call without a key
   (admin calls, idempotent by state) gets OutcomeUnknown at once, saying what to check.

A batch of placements on one market (placements.py, `MoneyCalls.run_batch`) is one transaction
the node runs as itself for several callers; it is never run again either: when its connection
fails (before or during COMMIT), each of its calls, all with keys, is resolved through its own
key exactly as above, as that caller's own call.

A connection lost before COMMIT was sent cannot have committed: a call with a key is issued again
the same way (safe, whatever happened); one without a key gets the usual retryable 503.

The first attempt takes a connection of the pool's money lane (database.Database.money): when
none comes free in time, or the call waits past its role's lock_timeout (55P03), or runs past its
statement_timeout (57014), nothing was committed, and the refusal goes to the client (a 429 with
Retry-After, or a 400): the same call with the same key may simply be sent again.

Every unknown outcome (and every call interrupted before its commit) is logged as one JSON line on
the `wagerbase.money` logger, and counted in `Counters` (shown by /health):

    {"event": "unknown_outcome", "function": "place_wager", "idempotency_key": "k1",
     "key_source": "client", "phase": "commit", "cause": "OperationalError: ...",
     "resolution": "replayed", "attempts": 1, "ms": 41.7, "user_id": "...", "path": "/api/bet"}

`event` is unknown_outcome (phase commit or sync_rep) or interrupted_before_commit (phase begin or
call); `resolution` is replayed, executed, resolved (the surface cannot tell which), refused (the
engine refused the call issued again: nothing happened), unresolved (503 naming the key),
no_key (503 saying what to check) or abandoned (still unresolved when the node stopped).

This module runs the calls and resolves their unknown outcomes; money_call.py says what a call
and a batch are, money_attempt.py runs one attempt and says how far it got, money_records.py
holds the counters and writes the log lines.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict
from typing import Any, TypeVar

import psycopg

from wagerbase import money_attempt
from wagerbase.database import Conn, Database, caller_transaction
from wagerbase.errors import OutcomeUnknown
from wagerbase.money_attempt import Lost, sever
from wagerbase.money_call import Batch, KeySource, MoneyCall, idempotency_key
from wagerbase.money_records import Counters, log_detached, log_detached_end, log_outcome

__all__ = [
    "DEFAULT_DRAIN_SECONDS",
    "DEFAULT_WINDOW_SECONDS",
    "Batch",
    "Counters",
    "KeySource",
    "MoneyCall",
    "MoneyCalls",
    "idempotency_key",
]

T = TypeVar("T")

DEFAULT_WINDOW_SECONDS = 10.0
DEFAULT_DRAIN_SECONDS = 30.0
RETRY_AFTER_SECONDS = 2
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 2.0
# SQLSTATEs after which the call issued again may simply be issued once more: the key is still
# held by the first call (a lock wait past lock_timeout, 'idempotency_key_in_flight', or one that
# outlasted the statement_timeout), a deadlock or a serialization failure. Each rolled the attempt
# back, and says nothing of the first call's outcome.
AGAIN = frozenset({"40001", "40P01", "55P03", "57014"})
# The caller is refused before the call is looked at (session_ended, unknown_user: the request's
# first statement, server.check_session): while resolving, that settles nothing.
WHO_REFUSED = "PT401"


class MoneyCalls:
    """Runs money calls for one node; `window` is how long an unknown outcome is resolved
    through its key before the client gets a 503 naming the key."""

    def __init__(
        self,
        db: Database,
        *,
        window: float = DEFAULT_WINDOW_SECONDS,
        retry_after: int = RETRY_AFTER_SECONDS,
    ) -> None:
        self._db = db
        self.window = window
        self.retry_after = retry_after
        self.counters = Counters()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connections: dict[asyncio.Task[Any], Conn] = {}
        self._stopping = False

    async def run(self, call: MoneyCall[T]) -> T:
        """The call's answer (or the engine's refusal, raised as its psycopg error); raises
        OutcomeUnknown as described in the module's heading."""
        return await self.detachable(call, self._start(self._settle(call), call.function, 1))

    async def settle(self, call: MoneyCall[T]) -> T:
        """`run` for a caller that is not a request (placements.py's runner): the same call,
        awaited to its end."""
        return await self._start(self._settle(call), call.function, 1)

    async def run_batch(self, batch: Batch) -> list[Any]:
        """One answer per call of the batch, in order: its result, or the exception its caller
        gets (the engine's refusal, OutcomeUnknown, a lost connection's error). A batch whose
        connection failed after it may have committed, or before COMMIT, is never run again:
        each of its calls is resolved through its own key (`_resolve`), as one call alone."""
        self.counters.batches += 1
        self.counters.batched += len(batch.calls)
        return await self._start(self._settle_batch(batch), batch.function, len(batch.calls))

    def _start(self, work: Coroutine[Any, Any, T], function: str, calls: int) -> "asyncio.Task[T]":
        """The work in a task of its own, kept until it ends (drain waits for it)."""
        self.counters.calls += calls
        task = asyncio.get_running_loop().create_task(work, name=f"money call {function}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def detachable(self, call: MoneyCall[Any], answer: "asyncio.Future[T]") -> T:
        """The answer to `call`, awaited by its request: a request cancelled meanwhile (its client
        left) leaves the call running to its end, logged."""
        try:
            return await asyncio.shield(answer)
        except asyncio.CancelledError:
            self.counters.detached += 1
            log_detached(call)
            answer.add_done_callback(log_detached_end)
            raise

    async def drain(self, timeout: float = DEFAULT_DRAIN_SECONDS) -> None:
        """At shutdown: let the calls in flight finish (up to `timeout` seconds); then close the
        connections of the ones still running (never cancelling them) and log them."""
        self._stopping = True
        pending = set(self._tasks)
        if not pending:
            return
        _, pending = await asyncio.wait(pending, timeout=timeout)
        for task in pending:
            conn = self._connections.get(task)
            if conn is not None:
                sever(conn)
        if pending:
            await asyncio.wait(pending, timeout=5)

    # --- one call -----------------------------------------------------------------------------

    async def _settle(self, call: MoneyCall[T]) -> T:
        started = time.monotonic()
        try:
            return await self._attempt(call, resolving=False, remaining=self.window)
        except Lost as lost:
            if lost.phase == "sync_rep":
                self.counters.sync_rep_cancelled += 1
            if lost.unknown:
                self.counters.unknown_outcomes += 1
            else:
                self.counters.interrupted_before_commit += 1
            if lost.phase == "connect" or (call.key is None and not lost.unknown):
                # nothing was sent, or a call without a key that cannot have committed: the
                # usual retryable error
                assert lost.cause is not None
                raise lost.cause from None
            if call.key is None:
                self.counters.unresolved_without_key += 1
                log_outcome(call, lost, "no_key", 0, started)
                raise self._unknown(call) from None
            return await self._resolve(call, lost, started)

    async def _settle_batch(self, batch: Batch) -> list[Any]:
        started = time.monotonic()
        try:
            return await money_attempt.transaction(
                self._node_connection(),
                batch.begin,
                batch.run,
                pipelined=True,
            )
        except Lost as lost:
            calls = lost.calls = len(batch.calls)
            if lost.phase == "sync_rep":
                self.counters.sync_rep_cancelled += calls
            if lost.unknown:
                self.counters.unknown_outcomes += calls
            else:
                self.counters.interrupted_before_commit += calls
            if lost.phase == "connect":
                # nothing was sent: the usual retryable error, for each caller
                assert lost.cause is not None
                return [lost.cause] * calls
            answers = await asyncio.gather(
                *(self._resolve(call, lost, started) for call in batch.calls),
                return_exceptions=True,
            )
            return list(answers)
        except psycopg.Error as exc:
            # the whole batch refused (a lock wait past lock_timeout, statement_timeout): nothing
            # was done, for any of its callers
            return [exc] * len(batch.calls)

    async def _resolve(self, call: MoneyCall[T], lost: Lost, started: float) -> T:
        """Issue the call again with the same key until it answers or the window passes."""
        deadline = time.monotonic() + self.window
        attempts = 0
        delay = FIRST_BACKOFF_SECONDS
        while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
            attempts += 1
            try:
                result = await self._attempt(call, resolving=True, remaining=remaining)
            except Lost as again:
                if again.phase == "sync_rep":
                    self.counters.sync_rep_cancelled += 1
            except psycopg.Error as exc:
                if exc.sqlstate == WHO_REFUSED:
                    # the caller's session ended (or their user went) since the first attempt:
                    # refused before the key was looked at, this says nothing of what happened
                    break
                if exc.sqlstate not in AGAIN:
                    self.counters.resolved_refused += 1
                    log_outcome(call, lost, "refused", attempts, started)
                    raise
            else:
                replayed = call.replayed(result)
                if replayed:
                    self.counters.resolved_replayed += 1
                elif replayed is not None:
                    self.counters.resolved_executed += 1
                resolution = {True: "replayed", False: "executed", None: "resolved"}[replayed]
                log_outcome(call, lost, resolution, attempts, started)
                return result
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        if self._stopping:
            self.counters.abandoned += 1
            log_outcome(call, lost, "abandoned", attempts, started)
        else:
            self.counters.unresolved += 1
            log_outcome(call, lost, "unresolved", attempts, started)
        raise self._unknown(call)

    @contextlib.asynccontextmanager
    async def _connection(
        self, call: MoneyCall[Any], resolving: bool, remaining: float
    ) -> AsyncIterator[Conn]:
        """A connection of the pool's money lane for the first attempt; a new one for each
        attempt at resolving (the pool may still hold connections to a server that is gone)."""
        task = asyncio.current_task()
        assert task is not None
        if not resolving:
            async with self._db.money(call.claims) as conn:
                self._connections[task] = conn
                try:
                    yield conn
                finally:
                    self._connections.pop(task, None)
            return
        # connecting sends no statement, so bounding it cancels nothing on the server
        fresh = await asyncio.wait_for(
            self._db.connect("wagerbase resolve"), timeout=max(remaining, 1.0)
        )
        self._connections[task] = fresh
        try:
            yield fresh
        finally:
            self._connections.pop(task, None)
            with contextlib.suppress(psycopg.Error, OSError):
                await fresh.close()

    @contextlib.asynccontextmanager
    async def _node_connection(self) -> AsyncIterator[Conn]:
        """A connection of the pool's money lane for a batch (run by the node, for its callers)."""
        task = asyncio.current_task()
        assert task is not None
        async with self._db.connection("money") as conn:
            self._connections[task] = conn
            try:
                yield conn
            finally:
                self._connections.pop(task, None)

    async def _attempt(self, call: MoneyCall[T], *, resolving: bool, remaining: float) -> T:
        def begin(conn: Conn) -> AbstractAsyncContextManager[Any]:
            return caller_transaction(
                conn, call.claims, method=call.method, path=call.path, function=call.function
            )

        async def prepare(conn: Conn) -> None:
            if resolving:
                await money_attempt.bound_lock_waits(conn, remaining)

        # an attempt at resolving is not pipelined: its call goes only once the session check
        # has passed
        return await money_attempt.transaction(
            self._connection(call, resolving, remaining),
            begin,
            call.run,
            prepare,
            pipelined=not resolving,
        )

    # --- answers ---------------------------------------------------------------------------------

    def _unknown(self, call: MoneyCall[Any]) -> OutcomeUnknown:
        return OutcomeUnknown(call.function, call.key, call.check, self.retry_after)

    def snapshot(self) -> dict[str, int]:
        return asdict(self.counters)
