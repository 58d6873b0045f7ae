"""postgres_changes, part three: the re-select, through which RLS decides who sees a row.

For every subscriber with a binding that matches a candidate, the rows are selected again from the
view *as that subscriber* (`Database.as_caller` with the subscriber's verified claims, read only),
with every binding's filter evaluated in the same statement. RLS and the view decide: another
user's wager or wallet simply does not come back. A DELETE has no row left to select: its key is
sent when the caller may still see what it belonged to (a settlement's market), to bindings
without a filter or whose filter names only key columns. One transaction per subscriber and
message, whatever the number of bindings; identical re-selects of one message by subscribers who
see the same rows (the same token, or for the public views the same role and admin flag) run once
per node.

A row's `data` (its table, columns, record, old record) is the same for every subscriber of the
node whose re-select was shared and whose binding selects the same columns: it is made and
encoded to JSON once, kept on the message (`Event.frames`), and each subscriber's frame only adds
its topic and binding ids around it (`ChangeFrame`, frames.py).

Every re-select is bounded like a request: it runs through server.begin_request, so the role's
statement_timeout and lock_timeout apply, on the pool's live lane (admission.py: at most half of
it for anonymous subscribers, at most half for one user), with a bounded wait. A re-select that
fails, runs past its limit or finds no place in time costs only its own subscribers the change:
their channels get a `system` frame with status error saying why (reload), and every other
subscriber's re-select goes on in its own place. Filters take Supabase Realtime's operators only
(eq, neq, lt, lte, gt, gte, in; up to 100 values in a list), each cheap on any row; a pattern or a
regex is refused at join.
"""

import asyncio
import datetime
import logging
import time
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from wagerbase.database import Database
from wagerbase.errors import LOCK_TIMEOUT, STATEMENT_TIMEOUT, ApiError, StatementTimeout
from wagerbase.live.hub import Event
from wagerbase.sql_files import statements
from wagerbase.surfaces.postgrest.catalog import STALE_SQLSTATES, Column, schema_cache
from wagerbase.surfaces.realtime.bindings import Binding, Filter, Subscription, hashable
from wagerbase.surfaces.realtime.changes import (
    SCHEMA,
    TABLES,
    Change,
    Table,
    changes_for,
    is_admin,
    sees_every_user,
)
from wagerbase.surfaces.realtime.frames import ChangeFrame, Shared
from wagerbase.tokens import Claims

log = logging.getLogger("wagerbase.realtime")

RECENT_MESSAGES = 256  # messages whose re-selects are shared between the sockets of a node
_STAMP = "commit_timestamp"  # the key of a message's commit_timestamp in its Event.frames
QUERIES = statements(__package__, "feed.sql")


@dataclass
class _Plan:
    change: Change
    table: Table
    wanted: list[tuple[Subscription, list[Binding]]] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)


def _applies(binding: Binding, change: Change, table: Table) -> bool:
    """A DELETE carries only the key: a filter on any other column cannot be evaluated on it."""
    if change.kind != "DELETE" or binding.filter is None:
        return True
    return all(clause.column in table.key for clause in binding.filter.clauses)


def commit_timestamp(event: Event) -> str:
    """When the message reached this node, on the wall clock (its commit time, near enough); the
    same for every frame of the message."""
    stamp = event.frames.get(_STAMP)
    if stamp is None:
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
            seconds=max(time.monotonic() - event.received_at, 0.0)
        )
        stamp = event.frames[_STAMP] = (
            now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
        )
    return str(stamp)


def _why(exc: psycopg.Error) -> str:
    """Why a re-select failed, in words for the subscriber."""
    if exc.sqlstate == STATEMENT_TIMEOUT and isinstance(exc, StatementTimeout):
        return f"the re-select ran past the statement_timeout of {exc.role} ({exc.limit})"
    if exc.sqlstate == LOCK_TIMEOUT:
        return "the re-select waited for a lock past its lock_timeout"
    if exc.sqlstate is None:
        return "the database is unavailable"
    return f"the re-select failed ({exc.sqlstate})"


def _missed(event: Event, plans: list["_Plan"], why: str) -> list[dict[str, Any]]:
    """What a channel gets instead of the changes its re-select could not read: a `system` frame
    with status error (the channel stays joined), so the client knows to reload."""
    topics = dict.fromkeys(sub.topic for plan in plans for sub, _ in plan.wanted)
    tables = ", ".join(dict.fromkeys(plan.table.name for plan in plans))
    message = f"changes to {tables} ({event.type}) could not be delivered: {why}; reload them"
    return [
        {
            "event": "system",
            "topic": topic,
            "ref": None,
            "payload": {
                "channel": topic.removeprefix("realtime:"),
                "extension": "postgres_changes",
                "message": message,
                "status": "error",
            },
        }
        for topic in topics
    ]


class TokenUserGone(Exception):
    """A re-select was refused with unknown_user or session_ended: the token's user was deleted,
    or its session ended, since it joined. `error` is the database's refusal."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(error)
        self.error = error


class ChangeFeed:
    """Turns engine messages into postgres_changes frames for the sockets of one node."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.catalog = schema_cache(db)  # the node's one, shared with /rest/v1
        self._recent: OrderedDict[int, tuple[Event, dict[Hashable, asyncio.Task[Any]]]] = (
            OrderedDict()
        )
        self.reselects = 0  # statements actually run (shared ones count once)

    async def admits(self, event: Event, claims: Claims) -> bool:
        """Whether an admin message may go to this token: is it an admin's (or the service
        role's) now, asked once per message and token on this node; False when the database
        cannot say."""
        if not sees_every_user(claims):
            return False
        who = ("admin?", tuple(sorted((k, repr(v)) for k, v in claims.items())))
        try:
            rows = await self._shared(event, who, claims, QUERIES["acts_as_admin"], ())
        except (psycopg.Error, ApiError) as exc:
            log.warning("realtime: the admin check for %s failed: %s", event.type, exc)
            return False
        return bool(rows and rows[0]["admin"])

    def has_changes(
        self, event: Event, claims: Claims, subscriptions: Sequence[Subscription]
    ) -> bool:
        """Whether the event may have postgres_changes for these channels (joined under one
        token): a re-select to run (frames)."""
        return bool(self._plans(event, claims, subscriptions))

    async def frames(
        self, event: Event, claims: Claims, subscriptions: Sequence[Subscription]
    ) -> Sequence[ChangeFrame | dict[str, Any]]:
        """The postgres_changes frames of `event` for channels joined under one token."""
        plans = self._plans(event, claims, subscriptions)
        if not plans:
            return []
        statement, params = self._statement(plans)
        # a re-select is shared only by tokens that must see the same rows: public tables for
        # tokens claiming no admin role share by role; any other (an admin message's rows, a
        # user's own rows, a token claiming admin, whose RLS asks the database whether it still
        # is one) is run for that token alone, never handed rows a current admin read
        public = (
            event.audience != "admin"
            and not is_admin(claims)
            and all(plan.table.public for plan in plans)
        )
        who: Hashable = (
            claims.get("role") if public else tuple(sorted((k, repr(v)) for k, v in claims.items()))
        )
        # a shared re-select runs with the role alone: it decides the rows, and the first
        # sharer's token, whose session may have ended, must not refuse it for the others
        as_who = {"role": claims.get("role")} if public else claims
        try:
            rows = await self._shared(event, (who, statement, params), as_who, statement, params)
        except psycopg.Error as exc:
            if exc.diag.message_primary in ("unknown_user", "session_ended"):
                raise TokenUserGone(exc) from exc
            if exc.sqlstate in STALE_SQLSTATES:  # a view or column the cache named is gone
                self.catalog.invalidate()
            log.warning("realtime: re-select for %s failed: %s", event.type, exc)
            return _missed(event, plans, _why(exc))
        except ApiError as exc:  # the live lane stayed busy (admission.py)
            log.warning("realtime: re-select for %s refused: %s", event.type, exc.message)
            return _missed(event, plans, exc.message)
        return await self._build(event, plans, rows)

    def _plans(
        self, event: Event, claims: Claims, subscriptions: Sequence[Subscription]
    ) -> list[_Plan]:
        role = claims.get("role")
        user_event = event.audience == "user"
        if user_event and role == "anon":
            return []
        if event.audience == "admin" and not sees_every_user(claims):
            return []  # admins' messages are for admins (and the service role)
        if (
            user_event
            and not sees_every_user(claims)
            and event.payload.get("user_id") != claims.get("sub")
        ):
            return []  # RLS would return nothing: a bettor sees only their own rows
        plans = []
        for change in changes_for(event):
            table = TABLES[change.table]
            if role == "anon" and not table.public:
                continue
            plan = _Plan(change, table)
            for subscription in subscriptions:
                matched = [
                    b
                    for b in subscription.bindings
                    if b.matches(change.table, change.kind) and _applies(b, change, table)
                ]
                if matched:
                    plan.wanted.append((subscription, matched))
                    for binding in matched:
                        if binding.filter is not None and binding.filter not in plan.filters:
                            plan.filters.append(binding.filter)
            if plan.wanted:
                plans.append(plan)
        return plans

    def _statement(self, plans: list[_Plan]) -> tuple[str, tuple[Any, ...]]:
        branches: list[sql.Composable] = []
        params: list[Any] = []
        for number, plan in enumerate(plans):
            hits: sql.Composable = sql.SQL("'{}'::boolean[]")
            if plan.filters:
                hits = sql.SQL("array[{}]::boolean[]").format(
                    sql.SQL(", ").join(f.expression for f in plan.filters)
                )
                for f in plan.filters:
                    params.extend(f.params)
            change = plan.change
            source: sql.Composable = sql.SQL("{}.{}").format(
                sql.Identifier(SCHEMA), sql.Identifier(plan.table.name)
            )
            order = plan.table.order
            if change.gone is not None:  # a DELETE: the key of the row that is gone
                source, order = change.gone, plan.table.key[0]
                params.extend(change.gone_params)
            branches.append(
                sql.SQL(
                    "select {number}::int as change_no, "
                    "row_number() over (order by v.{order}) as ord, "
                    "to_jsonb(v) as row, {hits} as hits "
                    "from {source} as v where {where}"
                ).format(
                    number=sql.Literal(number),
                    order=sql.Identifier(order),
                    hits=hits,
                    source=source,
                    where=change.where,
                )
            )
            params.extend(change.params)
        statement = sql.SQL(
            "select c.change_no, c.row, c.hits from ({}) as c order by c.change_no, c.ord"
        ).format(sql.SQL(" union all ").join(branches))
        return statement.as_string(), tuple(hashable(p) for p in params)

    async def _shared(
        self,
        event: Event,
        key: Hashable,
        claims: Claims,
        statement: str,
        params: tuple[Any, ...],
    ) -> list[dict[str, Any]]:
        entry = self._recent.get(id(event))
        if entry is None or entry[0] is not event:
            entry = (event, {})
            self._recent[id(event)] = entry
            while len(self._recent) > RECENT_MESSAGES:
                self._recent.popitem(last=False)
        task = entry[1].get(key)
        if task is None:
            task = asyncio.ensure_future(self._reselect(claims, statement, params))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            entry[1][key] = task
        result: list[dict[str, Any]] = await asyncio.shield(task)
        return result

    async def _reselect(
        self, claims: Claims, statement: str, params: tuple[Any, ...]
    ) -> list[dict[str, Any]]:
        values = [list(p) if isinstance(p, tuple) else p for p in params]
        async with self.db.as_caller(claims, read_only=True, lane="live") as conn:
            self.reselects += 1
            cursor = await conn.execute(statement.encode(), values)
            return await cursor.fetchall()

    async def _build(
        self, event: Event, plans: list[_Plan], rows: list[dict[str, Any]]
    ) -> list[ChangeFrame | dict[str, Any]]:
        frames: list[ChangeFrame | dict[str, Any]] = []
        for number, plan in enumerate(plans):
            mine = [row for row in rows if row["change_no"] == number]
            if not mine:
                continue
            # the view's columns, read again if the re-select returned one the cache lacks
            relation = await self.catalog.relation(self.db, plan.table.name, mine[0]["row"])
            columns = list(relation.columns.values())
            for row in mine:
                hits = dict(zip((f.text for f in plan.filters), row["hits"], strict=True))
                for subscription, bindings in plan.wanted:
                    by_select: dict[tuple[str, ...] | None, list[int]] = {}
                    for binding in bindings:
                        if binding.filter is None or hits.get(binding.filter.text):
                            by_select.setdefault(binding.select, []).append(binding.id)
                    for select, ids in by_select.items():
                        data = self._data(event, plan, columns, row, select)
                        frames.append(ChangeFrame(subscription.topic, ids, data))
        return frames

    @staticmethod
    def _data(
        event: Event,
        plan: _Plan,
        columns: list[Column],
        row: dict[str, Any],
        select: tuple[str, ...] | None,
    ) -> Shared:
        """The row's data with these columns, made once per message for every subscriber that
        got this row from the same (shared) re-select: its statement, so its change, is theirs."""
        key = ("postgres_changes", id(row), select)
        found = event.frames.get(key)
        if found is not None and found[0] is row:  # the row itself is kept: its id is not reused
            return found[1]  # type: ignore[no-any-return]
        record = dict(row["row"])
        for name, value in plan.change.overlay:
            if name in record:
                record[name] = value
        shown = [c for c in columns if select is None or c.name in select]
        data: dict[str, Any] = {
            "schema": SCHEMA,
            "table": plan.table.name,
            "commit_timestamp": commit_timestamp(event),
            "type": plan.change.kind,
            "errors": None,
            "columns": [{"name": c.name, "type": c.type_name} for c in shown],
        }
        if plan.change.kind != "DELETE":  # a DELETE has no record, only old_record's key
            data["record"] = {c.name: record.get(c.name) for c in shown}
        if plan.change.kind in ("UPDATE", "DELETE"):
            data["old_record"] = {k: record.get(k) for k in plan.table.key} | dict(plan.change.old)
        shared = Shared(data)
        event.frames[key] = (row, shared)
        return shared
