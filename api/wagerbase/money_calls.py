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
"""

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from typing import Any, Generic, Literal, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from wagerbase.database import Conn, Database, caller_transaction
from wagerbase.errors import OutcomeUnknown
from wagerbase.tokens import Claims

log = logging.getLogger("wagerbase.money")

T = TypeVar("T")
KeySource = Literal["client", "server", "none"]
Phase = Literal["connect", "begin", "call", "commit", "sync_rep"]

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
# The server ends a connection with these (shutdown, crash, not accepting connections yet).
ENDED = frozenset({"57P01", "57P02", "57P03"})
# Before the call issued again: a bound on lock waits (the key may still be held by the first
# call's server process).
_RESOLVING = "select set_config('lock_timeout', %s, true)"
# Before COMMIT: no statement_timeout, which would cancel a commit's wait for a synchronous
# standby, and no lock_timeout, which would refuse a commit that waits for a lock at commit
# time (a deferred constraint's, or a NOTIFY some extension sends)
_NO_TIMEOUT_AT_COMMIT = (
    "select set_config('statement_timeout', '0', true), set_config('lock_timeout', '0', true)"
)


def _log_detached_end(answer: "asyncio.Future[Any]") -> None:
    """How a call whose request went away ended: nobody awaits it any more, so its error (a
    refusal, say) is read here rather than left to asyncio's 'never retrieved' warning."""
    if answer.cancelled():
        return
    error = answer.exception()
    log.warning(
        json.dumps(
            {
                "event": "money_call_detached_end",
                "task": answer.get_name() if isinstance(answer, asyncio.Task) else "batched",
                "outcome": "answered" if error is None else type(error).__name__,
            }
        )
    )


def idempotency_key(given: str | None) -> tuple[str, KeySource]:
    """The key of a call: the client's, or a new one (`wb-` and a random UUID)."""
    if given is None:
        return f"wb-{uuid.uuid4()}", "server"
    return given, "client"


def _nothing_to_tell(_: Any) -> bool | None:
    return None


@dataclass(frozen=True)
class MoneyCall(Generic[T]):
    """One call: `run` executes it on a connection inside the caller's transaction (the same
    way each time it is issued) and returns what the surface shapes its answer from."""

    function: str
    claims: Claims
    run: Callable[[Conn], Awaitable[T]]
    key: str | None = None
    key_source: KeySource = "none"
    check: str = "read what the call changes"  # without a key: what to check before again
    method: str = "POST"
    path: str = ""
    # True when a result is a replay of a committed call, False when it ran now, None unknown
    replayed: Callable[[T], bool | None] = _nothing_to_tell


@dataclass(frozen=True)
class Batch:
    """Several money calls decided in one transaction that the node runs as itself (a batch of
    placements on one market, placements.py): `begin` opens it on a connection of the money
    lane, `run` makes the one call and gives one answer per call, in order: its result, or the
    refusal (a psycopg error) its caller gets. Each call of `calls` is how that caller's own
    call is issued again, with its key, when the batch's outcome is unknown."""

    function: str
    calls: Sequence[MoneyCall[Any]]
    begin: Callable[[Conn], AbstractAsyncContextManager[Any]]
    run: Callable[[Conn], Awaitable[list[Any]]]


@dataclass
class Counters:
    """What this node saw since it started (the `money_calls` object of /health)."""

    calls: int = 0  # calls that change state
    unknown_outcomes: int = 0  # connection lost during COMMIT, or the sync-rep wait cancelled
    sync_rep_cancelled: int = 0  # of those: the "canceling wait for synchronous ..." WARNING
    interrupted_before_commit: int = 0  # connection lost before COMMIT was sent
    resolved_replayed: int = 0  # issued again with its key: it had committed
    resolved_executed: int = 0  # issued again with its key: it had not, and ran once
    resolved_refused: int = 0  # issued again with its key: refused by the engine
    unresolved: int = 0  # 503 naming the key: no database within the window
    unresolved_without_key: int = 0  # 503 saying what to check: a call without a key
    detached: int = 0  # the client left (or the request was cancelled); the call ran on
    abandoned: int = 0  # still running when the node stopped: closed, never cancelled
    batches: int = 0  # transactions that decided several calls at once (placements.py)
    batched: int = 0  # calls decided in those


@dataclass
class _Progress:
    """How far one attempt got, and whether the server said its sync-rep wait was cancelled."""

    phase: Phase = "connect"
    sync_rep_cancelled: bool = False

    def notice(self, diag: psycopg.errors.Diagnostic) -> None:
        primary = diag.message_primary or ""
        detail = diag.message_detail or ""
        if "synchronous replication" in primary or "committed locally" in detail:
            self.sync_rep_cancelled = True


class _Lost(Exception):
    """The attempt's connection failed in `phase` (or, for sync_rep, the commit's wait for the
    standby was cancelled)."""

    def __init__(self, phase: Phase, cause: BaseException | None) -> None:
        super().__init__(phase)
        self.phase: Phase = phase
        self.cause = cause
        self.calls = 1  # the calls the lost transaction decided: more than 1 for a batch

    @property
    def unknown(self) -> bool:
        return self.phase in ("commit", "sync_rep")

    def describe(self) -> str:
        if self.cause is None:
            return "canceling wait for synchronous replication"
        text = " ".join(str(self.cause).split())
        return f"{type(self.cause).__name__}: {text}"[:300]


def _connection_lost(exc: BaseException, conn: Conn | None) -> bool:
    """True when `exc` says the connection failed, rather than the database refusing the call."""
    if isinstance(exc, PoolTimeout):
        return True
    if conn is not None and (conn.closed or conn.broken):
        return True
    if not isinstance(exc, psycopg.Error):
        return isinstance(exc, OSError)
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    return state.startswith("08") or state in ENDED


def _sever(conn: Conn) -> None:
    """Shut the connection's socket: the statement it waits for ends with a lost connection on
    this side, and the server finishes it (a commit completes). No CancelRequest is sent."""
    with contextlib.suppress(OSError, psycopg.Error):
        fd = conn.pgconn.socket
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


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
            log.warning(
                json.dumps(
                    {
                        "event": "money_call_detached",
                        "function": call.function,
                        "idempotency_key": call.key,
                        "path": call.path,
                        "user_id": call.claims.get("sub"),
                    }
                )
            )
            answer.add_done_callback(_log_detached_end)
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
                _sever(conn)
        if pending:
            await asyncio.wait(pending, timeout=5)

    # --- one call -----------------------------------------------------------------------------

    async def _settle(self, call: MoneyCall[T]) -> T:
        started = time.monotonic()
        try:
            return await self._attempt(call, resolving=False, remaining=self.window)
        except _Lost as lost:
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
                self._log(call, lost, "no_key", 0, started)
                raise self._unknown(call) from None
            return await self._resolve(call, lost, started)

    async def _settle_batch(self, batch: Batch) -> list[Any]:
        started = time.monotonic()
        try:
            return await self._transaction(
                self._node_connection(),
                batch.begin,
                batch.run,
                pipelined=True,
            )
        except _Lost as lost:
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

    async def _resolve(self, call: MoneyCall[T], lost: _Lost, started: float) -> T:
        """Issue the call again with the same key until it answers or the window passes."""
        deadline = time.monotonic() + self.window
        attempts = 0
        delay = FIRST_BACKOFF_SECONDS
        while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
            attempts += 1
            try:
                result = await self._attempt(call, resolving=True, remaining=remaining)
            except _Lost as again:
                if again.phase == "sync_rep":
                    self.counters.sync_rep_cancelled += 1
            except psycopg.Error as exc:
                if exc.sqlstate == WHO_REFUSED:
                    # the caller's session ended (or their user went) since the first attempt:
                    # refused before the key was looked at, this says nothing of what happened
                    break
                if exc.sqlstate not in AGAIN:
                    self.counters.resolved_refused += 1
                    self._log(call, lost, "refused", attempts, started)
                    raise
            else:
                replayed = call.replayed(result)
                if replayed:
                    self.counters.resolved_replayed += 1
                elif replayed is not None:
                    self.counters.resolved_executed += 1
                resolution = {True: "replayed", False: "executed", None: "resolved"}[replayed]
                self._log(call, lost, resolution, attempts, started)
                return result
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        if self._stopping:
            self.counters.abandoned += 1
            self._log(call, lost, "abandoned", attempts, started)
        else:
            self.counters.unresolved += 1
            self._log(call, lost, "unresolved", attempts, started)
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
                lock_timeout = f"{max(int(remaining * 1000), 100)}ms"
                await conn.execute(_RESOLVING, [lock_timeout])

        # an attempt at resolving is not pipelined: its call goes only once the session check
        # has passed
        return await self._transaction(
            self._connection(call, resolving, remaining),
            begin,
            call.run,
            prepare,
            pipelined=not resolving,
        )

    async def _transaction(
        self,
        connection: AbstractAsyncContextManager[Conn],
        begin: Callable[[Conn], AbstractAsyncContextManager[Any]],
        run: Callable[[Conn], Awaitable[T]],
        prepare: Callable[[Conn], Awaitable[None]] | None = None,
        *,
        pipelined: bool,
    ) -> T:
        """One attempt: `run` in the transaction `begin` opens on `connection`, committed with no
        timeout; raises _Lost with how far it got when the connection fails (or the commit's wait
        for the standby was cancelled)."""
        progress = _Progress()
        try:
            async with connection as conn:
                conn.add_notice_handler(progress.notice)
                try:
                    progress.phase = "begin"
                    # pipelined, BEGIN, the request's first statement and the call go in one
                    # round trip, lifting the limits and COMMIT in another (psycopg sends what
                    # is queued when a result is wanted, and at the pipeline's end)
                    async with (
                        conn.pipeline() if pipelined else contextlib.nullcontext(),
                        begin(conn),
                    ):
                        if prepare is not None:
                            await prepare(conn)
                        progress.phase = "call"
                        result = await run(conn)
                        await conn.execute(_NO_TIMEOUT_AT_COMMIT)
                        progress.phase = "commit"
                except (psycopg.Error, OSError) as exc:
                    # asked while the connection is still open: a resolving attempt's own one is
                    # closed on the way out, and would make every refusal look like a lost one
                    if _connection_lost(exc, conn):
                        raise _Lost(progress.phase, exc) from exc
                    raise
                finally:
                    conn.remove_notice_handler(progress.notice)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            # no connection to be had (or none in time): nothing was sent
            if isinstance(exc, TimeoutError) or _connection_lost(exc, None):
                raise _Lost(progress.phase, exc) from exc
            raise
        if progress.sync_rep_cancelled:
            raise _Lost("sync_rep", None)
        return result

    # --- answers and records ------------------------------------------------------------------

    def _unknown(self, call: MoneyCall[Any]) -> OutcomeUnknown:
        return OutcomeUnknown(call.function, call.key, call.check, self.retry_after)

    def _log(
        self, call: MoneyCall[Any], lost: _Lost, resolution: str, attempts: int, started: float
    ) -> None:
        line = {
            "event": "unknown_outcome" if lost.unknown else "interrupted_before_commit",
            "function": call.function,
            "idempotency_key": call.key,
            "key_source": call.key_source,
            "phase": lost.phase,
            "cause": lost.describe(),
            "resolution": resolution,
            "attempts": attempts,
            "ms": round((time.monotonic() - started) * 1000, 1),
            "user_id": call.claims.get("sub"),
            "path": call.path,
            "batch": lost.calls,
        }
        settled = resolution in ("replayed", "executed", "resolved", "refused")
        log.log(logging.WARNING if settled else logging.ERROR, json.dumps(line))

    def snapshot(self) -> dict[str, int]:
        return asdict(self.counters)
