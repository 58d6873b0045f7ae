"""What every part of the accounts shares: the password hashes (argon2, through the node's
bounded Hashing), a new session (SignedIn) and the address's limit, in AccountsBase, the fields
and helpers of accounts.Accounts; account_changes.py and account_admin.py add to it."""

import hashlib
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wagerbase.account_refusals import busy, too_many
from wagerbase.database import Conn, Database
from wagerbase.errors import ApiError
from wagerbase.hashing import Busy, Hashing, for_worker
from wagerbase.sql_files import statements
from wagerbase.tokens import Tokens

QUERIES = statements(__package__, "accounts.sql")

_hasher = PasswordHasher()

Action = Literal["sign_in", "sign_up", "refresh"]
_ACTIONS: dict[Action, str] = {
    "sign_in": "sign-ins",
    "sign_up": "sign-ups",
    "refresh": "token refreshes",
}


def hash_password(password: str) -> str:
    """An argon2 hash: the one way Wagerbase stores a password (sign-up, the CLI)."""
    return _hasher.hash(password)


def _seconds_per_hash() -> float:
    """How long one hash takes on this machine: the first guess of Hashing.typical_seconds."""
    started = time.perf_counter()
    hash_password(secrets.token_urlsafe(16))
    return time.perf_counter() - started


def new_hashing(workers: int = 1) -> Hashing:
    """This process's hashing threads and queue: the node's (WAGERBASE_HASH_THREADS,
    WAGERBASE_HASH_QUEUE), divided among its `workers` processes (hashing.for_worker)."""
    threads, queue = for_worker(workers)
    return Hashing(threads, queue, _seconds_per_hash())


def verify(stored: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class SignedIn:
    """A new session: the user's GoTrue JSON, an access token and a refresh token, and whether
    the token acts as an admin now (the engine's answer, server.acts_as_admin)."""

    user: dict[str, Any]
    session_id: str
    access_token: str
    expires_at: int
    refresh_token: str
    acts_as_admin: bool


@dataclass
class Counters:
    """Refusals before any hash (shown in /health with the hashing's own counts)."""

    refused_address_limit: int = 0  # a client address over its limit
    refused_name_limit: int = 0  # a name over the sign-in limit
    unknown_names: int = 0  # sign-ins answered without a hash: the name names nobody


def digest(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


def signed_in(
    tokens: Tokens, user: dict[str, Any], session_id: str, refresh: str, acts_as_admin: bool
) -> SignedIn:
    access, expires_at = tokens.access_token(user, session_id)
    return SignedIn(user, session_id, access, expires_at, refresh, acts_as_admin)


async def one(conn: Conn, query: str, params: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return row


@dataclass
class AccountsBase:
    """One node's accounts: the fields, a new session, the address's limit and a new hash."""

    db: Database
    tokens: Tokens
    hashing: Hashing
    sign_in_limit: int  # password sign-ins per name per minute
    counters: Counters = field(default_factory=Counters)

    async def open_session(self, conn: Conn, user_id: str) -> SignedIn:
        """A new session of `user_id`, in the caller's transaction (sign-in by any proof)."""
        session_id = str(uuid.uuid4())
        refresh = secrets.token_urlsafe(32)
        row = await one(
            conn,
            QUERIES["start_session"],
            {"user_id": user_id, "session_id": session_id, "refresh_digest": digest(refresh)},
        )
        return signed_in(self.tokens, row["user"], session_id, refresh, row["acts_as_admin"])

    async def within_limit(self, conn: Conn, action: Action, address: str) -> None:
        """Count the attempt against the address's limit; 429 when it is over it (any flow that
        signs in or sends mail counts its client address here)."""
        row = await one(conn, QUERIES["check_rate_limit"], {"action": action, "address": address})
        if row["wait"] > 0:
            raise self._over_address_limit(action, row["wait"])

    def _over_address_limit(self, action: Action, wait: int) -> ApiError:
        self.counters.refused_address_limit += 1
        return too_many(
            f"Too many {_ACTIONS[action]} from this address; try again in {wait} s.", wait
        )

    async def _hash(self, password: str) -> str:
        try:
            return await self.hashing.run(lambda: hash_password(password))
        except Busy as exc:
            raise busy(exc) from None
