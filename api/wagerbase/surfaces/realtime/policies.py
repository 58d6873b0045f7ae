"""Private channels (`config.private: true`), authorized as Supabase Realtime authorizes them: by
the row-level security policies an app writes on `realtime.messages` (migrations/0022), for the
channel's topic (`realtime.topic()`), as the channel's caller.

One check, at the join and at each `access_token` frame, in one transaction on the live lane that
is rolled back: the node writes a probe row per extension (broadcast, presence) as itself
(server.realtime_probe, which also sets `realtime.topic`), becomes the caller (as every request
does: its session checked, its role and claims set), reads the probe rows (what its SELECT
policies show is what it may receive) and inserts a row per extension in a savepoint (what its
INSERT policies let through is what it may send). Nothing is kept: the transaction rolls back, and
realtime.messages refuses any commit of a row. With RLS on and no policy, nothing is allowed; the
service role bypasses RLS and may do everything, as on Supabase.
"""

import logging
import uuid
from dataclasses import dataclass

import psycopg

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.live.who import Unavailable, refusal
from wagerbase.sql_files import statements
from wagerbase.tokens import Claims

log = logging.getLogger("wagerbase.realtime")

QUERIES = statements(__package__, "rooms.sql")
EXTENSIONS = ("broadcast", "presence")
NOT_HERE = (
    "private channels are not available on this database: realtime.messages is not the "
    "engine's (on a Supabase project, Supabase Realtime serves private channels)"
)


@dataclass(frozen=True)
class Permissions:
    """What a token may do on a channel: receive (read) and send (write) broadcasts, and see
    (read) and track (write) presences."""

    read_broadcast: bool
    write_broadcast: bool
    read_presence: bool
    write_presence: bool

    @property
    def readable(self) -> bool:
        """Whether the token may join: it may receive broadcasts or presences (Supabase's rule)."""
        return self.read_broadcast or self.read_presence


OPEN = Permissions(True, True, True, True)  # a public channel: whoever joined


class NotAvailable(Exception):
    """Private channels cannot be checked on this database (a Supabase project's)."""


def cannot_read(name: str) -> str:
    """Supabase Realtime's reason for a private join the policies refuse."""
    return f"Unauthorized: You do not have permissions to read from this Channel topic: {name}"


def cannot_write(name: str, what: str) -> str:
    """The reason for a broadcast or a track the policies refuse (Supabase drops those without a
    word; Wagerbase answers)."""
    return f"Unauthorized: You do not have permissions to {what} on this Channel topic: {name}"


async def permissions(db: Database, claims: Claims, name: str) -> Permissions:
    """What the caller of `claims` may do on the private channel `name` (the topic without
    `realtime:`), by the policies on realtime.messages. Raises NotAvailable, a TokenRefused (the
    token's user is gone or its session ended), Unavailable (the database cannot be asked)."""
    ids = [uuid.uuid4(), uuid.uuid4()]
    wrote: dict[str, bool] = {}
    try:
        async with db.as_caller(
            claims, lane="live", prelude=(QUERIES["probe"], [name, ids]), rollback=True
        ) as conn:
            rows = await (await conn.execute(QUERIES["readable"], [ids])).fetchall()
            read = {row["extension"] for row in rows}
            for extension in EXTENSIONS:
                try:
                    async with conn.transaction():
                        await conn.execute(QUERIES["writable"], [extension])
                    wrote[extension] = True
                except psycopg.errors.InsufficientPrivilege:
                    wrote[extension] = False
    except psycopg.errors.InsufficientPrivilege as exc:  # the probe itself: not the engine's
        raise NotAvailable(NOT_HERE) from exc
    except psycopg.errors.UndefinedTable as exc:
        raise NotAvailable(NOT_HERE) from exc
    except psycopg.Error as exc:  # PoolTimeout too
        refused = refusal(exc)
        if refused is not None:
            raise refused from exc
        if exc.sqlstate is not None and exc.sqlstate[:2] not in ("08", "57", "53"):
            # a policy that failed (a bad cast, a division by zero...): refused, as Supabase
            # refuses on an RLS error; the operator reads why in the log
            log.warning("a policy on realtime.messages failed for %s: %s", name, exc)
            return Permissions(False, False, False, False)
        raise Unavailable(str(exc)) from exc
    except ApiError as exc:  # the live lane stayed busy
        raise Unavailable(exc.message) from exc
    return Permissions(
        "broadcast" in read, wrote["broadcast"], "presence" in read, wrote["presence"]
    )
