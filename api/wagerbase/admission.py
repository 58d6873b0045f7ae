"""Admission: how many connections of the node's pool each kind of work may hold at once, and how
long a request waits for one (limits.py has the settings, docs/operations.md the why).

The pool is split into lanes, each a reserved share: the pool holds exactly the sum of the lanes,
so work admitted to its lane always finds a connection, and a flood of one kind (anonymous reads,
say) waits in its own lane while money calls, sign-ins and /health go on in theirs. A lane may
also cap, within its share, the anonymous callers and each client (a signed-in user, or the address
of an anonymous caller): then no one client, and no crowd of anonymous ones, can hold the whole
lane.

Every wait is bounded by the lane's `wait`: past it the request is refused with a 429 naming the
limit (errors.too_busy), never left to queue. Nothing was done, so it may simply be sent again.

The client of the current request (`client`) is set by the HTTP and WebSocket middleware
(http/common.py) from the connection's address; a signed-in caller is counted by user instead.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from wagerbase.errors import too_busy
from wagerbase.limits import named, where

# the address of the current request's client ("" when unknown), set by the middleware
client: ContextVar[str] = ContextVar("wagerbase_client", default="")


@dataclass
class _Shared:
    """A semaphore per client, dropped when nobody holds or waits for it."""

    limit: int
    slots: dict[str, tuple[asyncio.Semaphore, int]] = field(default_factory=dict)

    def take(self, key: str) -> asyncio.Semaphore:
        semaphore, users = self.slots.get(key, (asyncio.Semaphore(self.limit), 0))
        self.slots[key] = (semaphore, users + 1)
        return semaphore

    def leave(self, key: str) -> None:
        semaphore, users = self.slots[key]
        if users <= 1:
            del self.slots[key]
        else:
            self.slots[key] = (semaphore, users - 1)


@dataclass
class Counts:
    """What a lane is doing now and has refused since the node started (shown by /health)."""

    size: int
    in_use: int = 0
    waiting: int = 0
    refused: int = 0


class Lane:
    """One kind of work's share of the pool: `size` connections at once, at most `anonymous` of
    them for anonymous callers and `per_client` for one client (None: no such cap), each wait at
    most `wait` seconds. `setting` names the environment variable of its size, for refusals, and
    `workers` how many worker processes of the node share it (each holds its own lane)."""

    def __init__(
        self,
        name: str,
        size: int,
        wait: float,
        *,
        setting: str,
        anonymous: int | None = None,
        per_client: int | None = None,
        workers: int = 1,
    ) -> None:
        self.name = name
        self.workers = workers
        self.size = size
        self.wait = wait
        self.setting = setting
        self.anonymous = anonymous
        self.per_client = per_client
        self._slots = asyncio.Semaphore(size)
        self._anonymous = asyncio.Semaphore(anonymous) if anonymous is not None else None
        self._clients = _Shared(per_client) if per_client is not None else None
        self.counts = Counts(size)

    @asynccontextmanager
    async def admit(
        self, who: str | None = None, *, anonymous: bool = False
    ) -> AsyncIterator[float]:
        """Hold one of the lane's places (and the client's, and an anonymous one) until the
        block ends; yields the seconds left of the wait. Raises the 429 ApiError of too_busy
        when a place does not come free in time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        admitted = False
        self.counts.waiting += 1
        try:
            async with AsyncExitStack() as held:
                if self._clients is not None and who:
                    semaphore = self._clients.take(who)
                    held.callback(self._clients.leave, who)
                    await self._acquire(semaphore, deadline, self._client_refusal)
                    held.callback(semaphore.release)
                if anonymous and self._anonymous is not None:
                    await self._acquire(self._anonymous, deadline, self._anonymous_refusal)
                    held.callback(self._anonymous.release)
                await self._acquire(self._slots, deadline, self._lane_refusal)
                held.callback(self._slots.release)
                admitted = True
                self.counts.waiting -= 1
                self.counts.in_use += 1
                try:
                    yield max(deadline - loop.time(), 0.0)
                finally:
                    self.counts.in_use -= 1
        finally:
            if not admitted:
                self.counts.waiting -= 1

    async def _acquire(
        self, semaphore: asyncio.Semaphore, deadline: float, refusal: tuple[str, str, int | None]
    ) -> None:
        """Take a place of `semaphore` by `deadline`, or count a refusal and raise its 429:
        `refusal` is (message, limit, at most)."""
        try:
            async with asyncio.timeout_at(deadline):
                await semaphore.acquire()
        except TimeoutError:
            self.counts.refused += 1
            message, limit, at_most = refusal
            raise too_busy(
                message, limit=limit, at_most=at_most, waited_seconds=self.wait
            ) from None

    @property
    def _client_refusal(self) -> tuple[str, str, int | None]:
        return (
            f"too many {self.name} at once from this client: at most {self.per_client}; "
            "wait for an answer before sending more",
            f"{self.name} per client",
            self.per_client,
        )

    @property
    def _anonymous_refusal(self) -> tuple[str, str, int | None]:
        return (
            f"too many anonymous {self.name} at once on {where(self.workers)}: at most "
            f"{self.anonymous}; sign in, or try again",
            f"anonymous {self.name}",
            self.anonymous,
        )

    @property
    def _lane_refusal(self) -> tuple[str, str, int | None]:
        return (
            f"every connection of {where(self.workers)} for {self.name} is busy ({self.size}, "
            f"{named(self.setting, self.workers)}); try again",
            self.setting,
            self.size,
        )
