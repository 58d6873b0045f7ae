"""psycopg and psycopg_pool (library_patches, sections 1 and 2): the pool reconnects every half
second instead of with psycopg_pool's backoff, and a statement whose task is cancelled is left to
finish on a closed connection instead of being cancelled; each guard refuses a library that
changed."""

import asyncio
import inspect
import itertools
import time
import types
from typing import Any

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from tests.library_patches.helpers import WAIT
from tests.pgserver import PgServer
from tests.serving import free_port
from wagerbase import database, library_patches
from wagerbase.library_patches import NeverCancellingConnection

# ---- 1. psycopg_pool: the pool's reconnect delay ---------------------------------------------


def test_the_pool_reconnects_every_half_second_not_with_psycopg_pool_s_backoff() -> None:
    """database.py set the delay when it was imported: a pool that cannot connect tries again
    every POOL_RECONNECT_DELAY_SECONDS (psycopg_pool's own backoff waits 1 s, then 2, 4...)."""
    attempts: list[float] = []

    class Counted(AsyncConnection[Any]):
        @classmethod
        async def connect(cls, conninfo: str = "", **kwargs: Any) -> "Counted":
            attempts.append(time.monotonic())
            return await super().connect(conninfo, **kwargs)

    async def scenario() -> None:
        refused = f"host=127.0.0.1 port={free_port()} connect_timeout=2"  # nothing listens
        pool = AsyncConnectionPool(
            refused,
            connection_class=Counted,
            min_size=1,
            open=False,
            reconnect_timeout=WAIT,
            name="library-patches",
        )
        await pool.open(wait=False)
        try:
            deadline = time.monotonic() + WAIT
            while len(attempts) < 4 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await pool.close()

    asyncio.run(scenario())

    assert database.POOL_RECONNECT_DELAY_SECONDS == 0.5
    assert len(attempts) >= 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts[:4])]
    # 0.5 s with psycopg_pool's jitter (10%); its own backoff starts at 0.9 s and doubles
    assert all(0.4 < gap < 0.9 for gap in gaps), gaps


def test_the_pool_backoff_guard_refuses_a_psycopg_pool_that_changed() -> None:
    library_patches.require_pool_backoff()  # the installed one

    class Renamed:
        INITIAL_DELAY = 1.0
        DELAY_MULTIPLIER = 2.0

        def update_delay(self, now: float) -> None: ...

    class Unread:  # the constants are still there, but the delay no longer comes from them
        INITIAL_DELAY = 1.0
        DELAY_BACKOFF = 2.0

        def update_delay(self, now: float) -> None: ...

    class Copied:
        INITIAL_DELAY = 1.0
        DELAY_BACKOFF = 2.0

        def update_delay(self, now: float) -> None:
            print(self.INITIAL_DELAY, self.DELAY_BACKOFF)

    elsewhere = types.ModuleType("pool_async")
    elsewhere.AttemptWithBackoff = Renamed  # type: ignore[attr-defined]
    for attempt, pool_module in [
        (Renamed, elsewhere),
        (Unread, types.SimpleNamespace(AttemptWithBackoff=Unread)),
        (Copied, elsewhere),  # the pool times its attempts with another class
    ]:
        with pytest.raises(ImportError, match="AttemptWithBackoff's INITIAL_DELAY and DELAY_"):
            library_patches.require_pool_backoff(attempt, pool_module)  # type: ignore[arg-type]


# ---- 2. psycopg: an interrupted statement is never cancelled ---------------------------------


def test_psycopg_still_has_the_cancel_step_that_is_replaced() -> None:
    step = AsyncConnection._try_cancel
    assert inspect.iscoroutinefunction(step)
    assert inspect.signature(step) == inspect.signature(NeverCancellingConnection._try_cancel)
    parameters = inspect.signature(step).parameters.values()
    assert [(p.name, p.kind, p.default) for p in parameters] == [
        ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("timeout", inspect.Parameter.KEYWORD_ONLY, 5.0),
    ]
    # where psycopg takes the step: when the task waiting for a statement is interrupted
    assert "_try_cancel" in AsyncConnection.wait.__code__.co_names


@pytest.mark.parametrize(
    ("connection_class", "cancellable", "closed", "on_the_server"),
    [
        # the patch: the connection is closed and the statement runs on
        (NeverCancellingConnection, False, True, "active"),
        # a read-only transaction: cancelled for real, the connection kept
        (NeverCancellingConnection, True, False, "idle"),
        # psycopg's own behaviour, which the patch replaces
        (AsyncConnection, False, False, "idle"),
    ],
    ids=["never-cancelled", "cancellable", "psycopg's-own"],
)
def test_a_statement_whose_task_is_cancelled_is_left_to_finish_on_a_closed_connection(
    pg_server: PgServer,
    connection_class: type[AsyncConnection[Any]],
    cancellable: bool,
    closed: bool,
    on_the_server: str,
) -> None:
    async def backend_state(monitor: AsyncConnection[Any], pid: int) -> str | None:
        row = await (
            await monitor.execute("select state from pg_stat_activity where pid = %s", [pid])
        ).fetchone()
        return None if row is None else str(row[0])

    async def scenario() -> tuple[bool, str | None]:
        conn = await connection_class.connect(pg_server.url, autocommit=True)
        if isinstance(conn, NeverCancellingConnection):
            conn.cancellable = cancellable
        pid = conn.info.backend_pid
        async with await AsyncConnection.connect(pg_server.url, autocommit=True) as monitor:
            try:
                statement = asyncio.create_task(conn.execute("select pg_sleep(60)"))
                deadline = time.monotonic() + WAIT
                while await backend_state(monitor, pid) != "active":
                    assert time.monotonic() < deadline
                    await asyncio.sleep(0.02)
                statement.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await statement
                return conn.closed, await backend_state(monitor, pid)
            finally:
                await monitor.execute("select pg_terminate_backend(%s)", [pid])
                await conn.close()

    assert asyncio.run(scenario()) == (closed, on_the_server)


def test_the_cancel_step_guard_refuses_another_psycopg() -> None:
    library_patches.require_psycopg_cancel_step()  # the installed one

    class WithoutTheStep:
        pass

    with pytest.raises(ImportError, match=r"needs psycopg 3\.3\.x \(found 3\.3\.9\)"):
        library_patches.require_psycopg_cancel_step(WithoutTheStep, "3.3.9")
    with pytest.raises(ImportError, match=r"needs psycopg 3\.3\.x \(found 3\.4\.0\)"):
        library_patches.require_psycopg_cancel_step(AsyncConnection, "3.4.0")
