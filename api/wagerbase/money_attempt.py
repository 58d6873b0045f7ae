"""One attempt at a money call: its transaction, committed with no timeout, and how far it got when
its connection failed (MoneyCalls, money_calls.py, decides what happens next).

An attempt runs the call in the transaction `begin` opens (the caller's, or a batch's), lifts the
statement and lock timeouts before COMMIT (a cancelled commit that waits for a synchronous standby
still lands), and watches the server's notices for the WARNING "canceling wait for synchronous
replication". When the connection fails, or that warning came, it raises `Lost` with the phase it
had reached: connect, begin or call (nothing was committed) or commit and sync_rep (the outcome is
unknown). A refusal of the database is raised as it came.

`sever` is how a call still running at shutdown is ended: its socket shut, never a CancelRequest.
"""

import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from wagerbase.database import Conn
from wagerbase.sql_files import statements

T = TypeVar("T")
Phase = Literal["connect", "begin", "call", "commit", "sync_rep"]

QUERIES = statements(__package__, "money_attempt.sql")
# The server ends a connection with these (shutdown, crash, not accepting connections yet).
ENDED = frozenset({"57P01", "57P02", "57P03"})


@dataclass
class Progress:
    """How far one attempt got, and whether the server said its sync-rep wait was cancelled."""

    phase: Phase = "connect"
    sync_rep_cancelled: bool = False

    def notice(self, diag: psycopg.errors.Diagnostic) -> None:
        primary = diag.message_primary or ""
        detail = diag.message_detail or ""
        if "synchronous replication" in primary or "committed locally" in detail:
            self.sync_rep_cancelled = True


class Lost(Exception):
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


def connection_lost(exc: BaseException, conn: Conn | None) -> bool:
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


def sever(conn: Conn) -> None:
    """Shut the connection's socket: the statement it waits for ends with a lost connection on
    this side, and the server finishes it (a commit completes). No CancelRequest is sent."""
    with contextlib.suppress(OSError, psycopg.Error):
        fd = conn.pgconn.socket
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sock.shutdown(socket.SHUT_RDWR)
        finally:
            sock.close()


async def bound_lock_waits(conn: Conn, remaining: float) -> None:
    """Before a call issued again to resolve its outcome: lock waits bounded by the `remaining`
    seconds of the window (the key may still be held by the first call's server process)."""
    lock_timeout = f"{max(int(remaining * 1000), 100)}ms"
    await conn.execute(QUERIES["lock_timeout_while_resolving"], {"lock_timeout": lock_timeout})


async def transaction(
    connection: AbstractAsyncContextManager[Conn],
    begin: Callable[[Conn], AbstractAsyncContextManager[Any]],
    run: Callable[[Conn], Awaitable[T]],
    prepare: Callable[[Conn], Awaitable[None]] | None = None,
    *,
    pipelined: bool,
) -> T:
    """One attempt: `run` in the transaction `begin` opens on `connection`, committed with no
    timeout; raises Lost with how far it got when the connection fails (or the commit's wait
    for the standby was cancelled)."""
    progress = Progress()
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
                    await conn.execute(QUERIES["no_timeout_at_commit"])
                    progress.phase = "commit"
            except (psycopg.Error, OSError) as exc:
                # asked while the connection is still open: a resolving attempt's own one is
                # closed on the way out, and would make every refusal look like a lost one
                if connection_lost(exc, conn):
                    raise Lost(progress.phase, exc) from exc
                raise
            finally:
                conn.remove_notice_handler(progress.notice)
    except (psycopg.Error, OSError, TimeoutError) as exc:
        # no connection to be had (or none in time): nothing was sent
        if isinstance(exc, TimeoutError) or connection_lost(exc, None):
            raise Lost(progress.phase, exc) from exc
        raise
    if progress.sync_rep_cancelled:
        raise Lost("sync_rep", None)
    return result
