"""Who a socket's token belongs to now: the database's answer, never the token's alone.

A verified token proves whom it was issued to, an hour ago at most; not that its user still
exists, nor that they are still an admin. Both sockets (BetMarket's /ws,
surfaces/betmarket/ws.py, and the Supabase realtime socket, surfaces/realtime) ask the database
the way every call does, through `auth.uid()` (sql/auth.sql) and `public.acts_as_admin()`
(rpc/01_core.sql):

- `who(db, claims)`, on BetMarket's `authenticate` and on each realtime join and `access_token`
  frame: one read-only transaction as the caller (`Database.as_caller` on the pool's live lane,
  whose first statement checks the token's session). A token whose user does not exist or was
  deleted raises UnknownUser (the engine's `unknown_user`), one whose session ended (signed out,
  revoked, its refresh token reused) SessionEnded (`session_ended`), and `admin` is what
  `public.acts_as_admin()` answers (the service role, or the claim of a user who is still an
  admin in auth.users). A token that names no user (no `sub`: the anon and service keys) has
  nothing to ask about and costs no query.
- `ended(payload)`: the words for a socket whose session the engine's `session_ended` message
  names (docs/notifications.md); both sockets close what that session had open when it arrives.
- `admits(db, event, claims)`, before an admin message goes out on either socket: the same
  question asked again, once per message and token on the node (ChangeFeed.admits, shared by
  every socket of the node), so an admin demoted or deleted while connected gets nothing more
  from the next message on.
"""

import json
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.live.hub import Event
from wagerbase.sql_files import statements
from wagerbase.surfaces.realtime.feed import ChangeFeed
from wagerbase.tokens import Claims

log = logging.getLogger("wagerbase.live.who")

_UNKNOWN_USER = "unknown_user"  # the engine's keys (rpc/00_errors.sql)
_SESSION_ENDED = "session_ended"
UNKNOWN_USER_REASON = "the token's user does not exist or was deleted (unknown_user): sign in again"


def session_ended_reason(why: str | None) -> str:
    """Words for a token whose session ended; `why` is the engine's reason (signed_out,
    refresh_token_reused, revoked, ...; docs/errors.md), when known."""
    key = f"{_SESSION_ENDED}: {why}" if why else _SESSION_ENDED
    return f"the token's session ended ({key}): sign in again"


def ended(payload: Mapping[str, Any]) -> str:
    """Words for a socket of a session the engine's `session_ended` message names: its user was
    deleted (unknown_user, as a join with the token now hears), or the session ended."""
    why = payload.get("reason")
    if why == "user_deleted":
        return UNKNOWN_USER_REASON
    return session_ended_reason(why if isinstance(why, str) else None)


QUERIES = statements(__package__, "who.sql")


@dataclass(frozen=True)
class Caller:
    """The database's answer about a token."""

    user_id: str | None  # None for the anon and service keys
    admin: bool  # acts as an admin now (public.acts_as_admin())


class TokenRefused(Exception):
    """The database refused the token: refuse it, with `reason` (words for the client)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownUser(TokenRefused):
    """The token's user does not exist or was deleted."""


class SessionEnded(TokenRefused):
    """The token's session ended: signed out, revoked, or its refresh token used twice."""


class Unavailable(Exception):
    """The database could not be asked (down, failing over, pool exhausted): try again later."""


def refusal(exc: psycopg.Error) -> TokenRefused | None:
    """The token refusal a database error stands for (unknown_user, session_ended), or None."""
    if exc.sqlstate != "PT401":
        return None
    if exc.diag.message_primary == _UNKNOWN_USER:
        return UnknownUser(UNKNOWN_USER_REASON)
    if exc.diag.message_primary == _SESSION_ENDED:
        try:
            detail = json.loads(exc.diag.message_detail or "{}")
        except ValueError:
            detail = {}
        why = detail.get("reason") if isinstance(detail, dict) else None
        return SessionEnded(session_ended_reason(why if isinstance(why, str) else None))
    return None


async def who(db: Database | None, claims: Claims) -> Caller:
    """Who the verified `claims` belong to now. Raises UnknownUser, SessionEnded (both
    TokenRefused), Unavailable."""
    if claims.get("sub") is None:
        # a token that names no user (the anon and service keys): auth.uid() is null for it, and
        # public.acts_as_admin() is whether its role is the service role: the claims already say
        return Caller(None, claims.get("role") == "service_role")
    if db is None:
        raise Unavailable("no database")
    try:
        async with db.as_caller(claims, read_only=True, lane="live") as conn:
            row = await (await conn.execute(QUERIES["who"])).fetchone()
    except psycopg.Error as exc:  # PoolTimeout too
        refused = refusal(exc)
        if refused is not None:
            raise refused from exc
        log.warning("cannot check a socket's token: %s", exc)
        raise Unavailable(str(exc)) from exc
    except ApiError as exc:  # the live lane stayed busy (admission.py)
        log.warning("cannot check a socket's token: %s", exc.message)
        raise Unavailable(exc.message) from exc
    assert row is not None
    return Caller(row["user_id"], bool(row["admin"]))


_feeds: "weakref.WeakKeyDictionary[Database, ChangeFeed]" = weakref.WeakKeyDictionary()


def change_feed(db: Database) -> ChangeFeed:
    """The node's one ChangeFeed: realtime's re-selects and both sockets' admin checks share it."""
    feed = _feeds.get(db)
    if feed is None:
        feed = _feeds[db] = ChangeFeed(db)
    return feed


async def admits(db: Database | None, event: Event, claims: Claims) -> bool:
    """Whether the admin message `event` may go to this token now: asked once per message and
    token on the node; False when the token does not claim admin or the database cannot say."""
    if db is None:
        return False
    return await change_feed(db).admits(event, claims)
