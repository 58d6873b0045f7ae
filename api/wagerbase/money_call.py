"""What a money call is, as a surface hands it to MoneyCalls (money_calls.py): one call that
changes state (`MoneyCall`), with its idempotency key (`idempotency_key`), or a batch of them
decided in one transaction (`Batch`, placements.py).

MoneyCalls issues a call again, the same way, when its outcome is unknown: so a call says how it
runs (`run`, inside the caller's transaction), and without a key, what its caller should check
before sending it again (`check`)."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from wagerbase.database import Conn
from wagerbase.tokens import Claims

T = TypeVar("T")
KeySource = Literal["client", "server", "none"]


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
