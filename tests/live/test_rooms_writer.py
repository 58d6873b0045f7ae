"""A worker's writer of what Realtime's clients send (surfaces/realtime/rooms.py) never queues
without bound: while the database does not take its writes, at most MAX_WAITING messages wait, and
the next is refused at once with a reason, never left to stall its socket; an untrack (a
presence ending) is queued all the same, so no presence is left behind; a node stops within a
bounded time even then, and refuses from then on.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from wagerbase.database import Database
from wagerbase.limits import Sockets
from wagerbase.surfaces.realtime import rooms as rooms_module
from wagerbase.surfaces.realtime.rooms import MAX_WAITING, Held, Rooms


class Stuck:
    """A database whose connections never come (down, or its live lane full)."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    @asynccontextmanager
    async def connection(self, lane: str, who: str | None = None) -> AsyncIterator[Any]:
        self.asked.set()
        await asyncio.Event().wait()
        yield None


def broadcast(n: int) -> dict[str, Any]:
    return {"op": "broadcast", "topic": "room:1", "event": "e", "payload": {"n": n}}


def test_at_most_max_waiting_messages_wait_and_the_next_is_refused_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        db = Stuck()
        rooms = Rooms(cast(Database, db), Sockets())
        held = Held("F1", "room:1", False, "k", {"a": 1})
        assert rooms.track(held, None, None) is None
        assert all(rooms.submit(broadcast(n)) is None for n in range(MAX_WAITING - 1))
        refused = rooms.submit(broadcast(MAX_WAITING))
        assert refused == (
            f"too many messages waiting to be written on this node (at most {MAX_WAITING}); "
            "try again later"
        )
        rooms.untrack("F1")  # queued past the bound: a presence is never left behind
        assert rooms.held == {}
        await asyncio.wait_for(db.asked.wait(), 5)  # the writer waits for the database
        assert rooms.submit(broadcast(0)) is None  # it took a batch: room again
        await asyncio.wait_for(rooms.stop(), 5)  # bounded, though nothing could be written
        assert rooms.submit(broadcast(0)) == "this node is stopping; reconnect"

    monkeypatch.setattr(rooms_module, "STOP_SECONDS", 0.2)
    asyncio.run(scenario())
