"""Who a socket's token belongs to now: the database's answer, never the token's alone.

A verified token proves whom it was issued to, an hour ago at most; not that its user still
exists, nor that they are still an admin. Both sockets (BetMarket's /ws, betmarket_ws.py, and
the Supabase realtime socket, realtime.py) ask the database the way every call does, through
`auth.uid()` and `auth.is_admin()` (sql/auth.sql):

- `who(db, claims)`, on BetMarket's `authenticate` and on each realtime join and `access_token`
  frame: one read-only transaction as the caller (`Database.as_caller`, on the pool's live
  lane). A token whose user does not exist or was deleted raises UnknownUser (the engine's
  `unknown_user`), and `admin` is what `auth.is_admin()` answers (the claim, and a user who is
  still an admin in auth.users), or the service role. A token that names no user (no `sub`: the
  anon and service keys) has nothing to ask about and costs no query.
- `admits(db, event, claims)`, before an admin message goes out on either socket: the same
  question asked again, once per message and token on the node (ChangeFeed.admits, shared by
  every socket of the node), so an admin demoted or deleted while connected gets nothing more
  from the next message on.
"""

import logging
import weakref
from dataclasses import dataclass

import psycopg

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.live.hub import Event
from wagerbase.live.realtime_changes import ChangeFeed
from wagerbase.tokens import Claims

log = logging.getLogger("wagerbase.live.who")

_UNKNOWN_USER = "unknown_user"  # the engine's key (rpc/00_errors.sql)
UNKNOWN_USER_REASON = "the token's user does not exist or was deleted (unknown_user): sign in again"

# one statement: auth.uid() raises unknown_user for a user who is gone; an admin is one now
_WHO = (
    "select (select auth.uid())::text as user_id,"
    " coalesce((select auth.role()) = 'service_role', false)"
    " or (select auth.is_admin()) as admin"
)


@dataclass(frozen=True)
class Caller:
    """The database's answer about a token."""

    user_id: str | None  # None for the anon and service keys
    admin: bool  # an admin now (auth.is_admin()), or the service role


class UnknownUser(Exception):
    """The token's user does not exist or was deleted: refuse the token."""


class Unavailable(Exception):
    """The database could not be asked (down, failing over, pool exhausted): try again later."""


def _is_unknown_user(exc: psycopg.Error) -> bool:
    return exc.sqlstate == "PT401" and exc.diag.message_primary == _UNKNOWN_USER


async def who(db: Database | None, claims: Claims) -> Caller:
    """Who the verified `claims` belong to now. Raises UnknownUser, Unavailable."""
    if claims.get("sub") is None:
        # a token that names no user (the anon and service keys): auth.uid() is null for it and
        # auth.is_admin() false, so the database would only repeat the claims
        return Caller(None, claims.get("role") == "service_role")
    if db is None:
        raise Unavailable("no database")
    try:
        async with db.as_caller(claims, read_only=True, lane="live") as conn:
            row = await (await conn.execute(_WHO)).fetchone()
    except psycopg.Error as exc:  # PoolTimeout too
        if _is_unknown_user(exc):
            raise UnknownUser(claims.get("sub")) from exc
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
