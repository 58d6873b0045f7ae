"""psycopg and psycopg_pool: the pool's reconnect delay (1.) and a connection that never cancels a
statement (2.), for database.py. The package's docstring says what every reliance is and how it
is checked."""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import pool_async
from psycopg_pool.base import AttemptWithBackoff

from wagerbase.library_patches.guards import sets

# ---- 1. psycopg_pool: the pool's reconnect delay ---------------------------------------------

_BACKOFF = ("INITIAL_DELAY", "DELAY_BACKOFF")  # what set_pool_reconnect_delay sets


def require_pool_backoff(
    attempt: type = AttemptWithBackoff, pool_module: ModuleType = pool_async
) -> None:
    """Refuse to load unless psycopg_pool still times its reconnect attempts with the class
    constants that `set_pool_reconnect_delay` sets, and its async pool uses that very class."""
    if (
        not isinstance(getattr(attempt, "INITIAL_DELAY", None), float)
        or not isinstance(getattr(attempt, "DELAY_BACKOFF", None), float)
        or not sets(getattr(attempt, "update_delay", None), _BACKOFF)
        or getattr(pool_module, "AttemptWithBackoff", None) is not attempt
    ):
        raise ImportError(
            "wagerbase sets psycopg_pool's reconnect delay through AttemptWithBackoff's "
            f"{' and '.join(_BACKOFF)}, which changed: see library_patches.set_pool_reconnect_delay"
        )


require_pool_backoff()


def set_pool_reconnect_delay(seconds: float) -> None:
    """psycopg_pool 3.3: wait `seconds` between any two attempts to reconnect, never longer.

    Private part: the class constants of `psycopg_pool.base.AttemptWithBackoff` (an undocumented
    class of an undocumented module), INITIAL_DELAY (1 s) and DELAY_BACKOFF (2.0), which every
    pool's reconnect attempts read. psycopg_pool has no per-pool setting for them: the constants
    hold for every pool of the process, and all of them are Wagerbase's (database.py).

    Why: after losing its connections the pool reconnects with backoff, by default 1 s,
    doubling, so after a 20-second node loss its next attempt came about 31 s after the kill,
    and writes returned 3 to 9 s after Patroni had promoted a standby (tests/ha,
    docs/reliability.md). An attempt every half second is cheap (a refused connection, or a
    standby turned down by target_session_attrs), and brings writes back when the new primary
    does. Without it: the same failover, and writes back seconds later than they could be."""
    AttemptWithBackoff.INITIAL_DELAY = seconds
    AttemptWithBackoff.DELAY_BACKOFF = 1.0


# ---- 2. psycopg: an interrupted statement is never cancelled ---------------------------------


def require_psycopg_cancel_step(
    connection: type = AsyncConnection, version: str = psycopg.__version__
) -> None:
    """Refuse to load on a psycopg where the step NeverCancellingConnection replaces is gone:
    rather than quietly cancel commits again."""
    if not hasattr(connection, "_try_cancel") or not version.startswith("3.3."):
        raise ImportError(
            f"wagerbase needs psycopg 3.3.x (found {version}): database.Connection "
            "overrides its statement-cancel step so that no commit is ever cancelled"
        )


require_psycopg_cancel_step()

_database_log = logging.getLogger("wagerbase.database")


class NeverCancellingConnection(AsyncConnection[dict[str, Any]]):
    """psycopg 3.3: a connection that never sends a CancelRequest, except in a read-only
    transaction (`cancellable`): when its task is cancelled mid-statement it is closed instead.

    Private part: `AsyncConnection._try_cancel(*, timeout=5.0)`, the step psycopg takes (instead
    of returning) when the task running a statement is cancelled: it asks the server to cancel
    the statement, then waits for the statement's end. In 3.3 `AsyncConnection.wait` calls it
    inside an `except QueryCanceled` that swallows the QueryCanceled this override raises to stop
    that wait; in 3.2 the same method sat outside it (pyproject.toml pins psycopg to 3.3.x).

    Why: a cancelled COMMIT that waits for a synchronous standby still lands (docs/api.md,
    "Unknown outcomes"): the client is told it failed, and it did not. So this connection closes
    instead: the server finishes the statement (a commit completes, an open transaction rolls
    back), and the connection is discarded. A read-only transaction commits nothing, so its
    statement is cancelled for real (a read whose client went away, http/common.py) and the
    connection goes back to the pool. Without it: a statement whose task is cancelled (a money
    call still running when a stopping node's WAGERBASE_DRAIN_SECONDS are up) is cancelled on
    the server, and a commit cancelled during its wait for the standby is reported as failed
    although it landed."""

    # set by database.caller_transaction for the length of a read-only transaction
    cancellable: bool = False

    async def _try_cancel(self, *, timeout: float = 5.0) -> None:
        # psycopg calls this (instead of returning) when the task running a statement is
        # cancelled; raising QueryCanceled makes it stop waiting for the statement's end
        if self.cancellable:
            # a read commits nothing: cancel it, and psycopg waits for its end; the transaction
            # rolls back and the connection goes back to the pool
            await super()._try_cancel(timeout=timeout)
            return
        _database_log.info("closing a connection whose statement was interrupted (never cancelled)")
        self.pgconn.finish()
        raise psycopg.errors.QueryCanceled("connection closed instead of cancelling the statement")
