"""postgres_changes for the Supabase Realtime subset: which engine message changes which rows of
which views, the binding filters, and the re-select through which RLS decides who sees a row.

The engine does not stream its WAL: it announces each committed change with a message
(docs/notifications.md). A message names the rows it changed (a wager's id, a wallet's user, a
market's id...), so each one maps to a few candidate changes, one per view:

| message | change |
| --- | --- |
| market `created`, `opened` | INSERT into `markets`, `outcomes` (its rows), `virtual_draws` |
| market `odds`, `settlement_confirmation` | UPDATE of `markets` and `outcomes` |
| market `closed`, `settled`, `voided` | UPDATE of `markets`, `outcomes`, `virtual_draws` |
| market `settled` | also INSERT into `settlements` |
| market `unsettled` | UPDATE of `markets`, `outcomes`; DELETE from `settlements` |
| market `draw_revealed` | UPDATE of `virtual_draws` (the seed and the draw become readable) |
| `wager_placed` | INSERT into `wagers`, `my_wagers` |
| `wager_approved`, `wager_rejected`, `wager_voided` | UPDATE of those wagers |
| `wagers_refunded`, `wagers_settled`, `wagers_unsettled` | UPDATE of those wagers |
| `balance` | `wallets`, `my_wallet`: UPDATE (INSERT for a grant); `ledger`, `my_ledger`: INSERT |
| `withdrawal_requested` | INSERT into `withdrawals`, `my_withdrawals` |
| `withdrawal_approved`, `withdrawal_rejected` | UPDATE of that withdrawal |
| admin `settlement_proposed` | INSERT into `settlement_proposals` |
| admin `settlement_confirmed`, `settlement_cancelled` | UPDATE of `settlement_proposals` |
| admin `settlement_confirmation` (a draft) | UPDATE of `markets` (its confirmation setting) |
| admin `side_effect_failed` | UPDATE of `side_effect_jobs` |

(`virtual_draws` rows exist for virtual markets only: for any other market its re-select finds
nothing and sends nothing.) Admin `profit`, `wager_pending`, `wager_decided`,
`withdrawal_pending` and `withdrawal_decided` map to no change of their own: the house account is
in no view, and the wager's (or withdrawal's) changes already come from its owner's messages
(`wager_placed`, `wager_approved`, `wager_rejected`; `withdrawal_requested`,
`withdrawal_approved`, `withdrawal_rejected`). Nor does admin
`settlement_confirmation` about a market that is not a draft (its `status`): the market's own
`settlement_confirmation` message carries that change, and a draft sends none. Admin messages
reach only the subscribers whose token claims admin (or the service role); RLS still decides each
row.

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
its topic and binding ids around it (`ChangeFrame`, encoded by realtime.py's serializers).

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
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from wagerbase.database import Database
from wagerbase.errors import LOCK_TIMEOUT, STATEMENT_TIMEOUT, ApiError, StatementTimeout
from wagerbase.live.hub import Event
from wagerbase.tokens import Claims, anon_claims

log = logging.getLogger("wagerbase.realtime")

SCHEMA = "public"
EVENTS = frozenset({"*", "INSERT", "UPDATE", "DELETE"})
RECENT_MESSAGES = 256  # messages whose re-selects are shared between the sockets of a node
_STAMP = "commit_timestamp"  # the key of a message's commit_timestamp in its Event.frames


PUBLIC, USERS, ADMINS = "public", "users", "admins"


@dataclass(frozen=True)
class Table:
    """A view that supports postgres_changes. `readers`: PUBLIC when anon reads it and its rows
    depend only on the caller's role and admin flag (so subscribers alike in those share a
    re-select); USERS when a bettor reads their own rows; ADMINS when only admins read it."""

    name: str
    key: tuple[str, ...]
    order: str
    readers: str

    @property
    def public(self) -> bool:
        return self.readers == PUBLIC


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table("markets", ("id",), "id", PUBLIC),
        Table("outcomes", ("id",), "position", PUBLIC),
        Table("settlements", ("market_id",), "market_id", PUBLIC),
        Table("virtual_draws", ("market_id",), "market_id", PUBLIC),
        Table("wagers", ("id",), "id", USERS),
        Table("my_wagers", ("id",), "id", USERS),
        Table("wallets", ("user_id",), "user_id", USERS),
        Table("my_wallet", ("user_id",), "user_id", USERS),
        Table("ledger", ("id",), "id", USERS),
        Table("my_ledger", ("id",), "id", USERS),
        Table("withdrawals", ("id",), "id", USERS),
        Table("my_withdrawals", ("id",), "id", USERS),
        Table("settlement_proposals", ("id",), "id", ADMINS),
        Table("side_effect_jobs", ("id",), "id", ADMINS),
    )
}
USER_TABLES = frozenset(name for name, table in TABLES.items() if table.readers == USERS)
MARKET_TABLES = frozenset(name for name, table in TABLES.items() if table.public)


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the type's name as Realtime reports it: int8, text, numeric, timestamptz...
    sqltype: str  # the type as SQL spells it, for casts: bigint, text, numeric...


class BindingError(ValueError):
    """A postgres_changes binding the server cannot honour; the message says why."""


# filters -----------------------------------------------------------------------------------------

_COMPARISONS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
# Supabase Realtime's operators, and no others: each is an index-friendly comparison whose cost is
# bounded by the row's size (a pattern or a regex is not: `match` can backtrack for hours)
OPERATORS = ("eq", "neq", "lt", "lte", "gt", "gte", "in")
MAX_IN_VALUES = 100  # values of one `in` list, as Supabase Realtime allows
_CLAUSE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(not\.)?([a-z]+)\.(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Clause:
    column: str
    op: str
    negate: bool
    value: str | tuple[str, ...]


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on `sep` outside parentheses and double quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth = max(depth - 1, 0)
        if char == sep and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(item: str) -> str:
    item = item.strip()
    if len(item) >= 2 and item[0] == item[-1] == '"':
        return item[1:-1].replace('\\"', '"')
    return item


def parse_filter(text: str) -> tuple[Clause, ...]:
    """`col=op.value[,col=op.value...]` (ANDed), op optionally prefixed by `not.`."""
    clauses = []
    for part in _split_top_level(text):
        found = _CLAUSE.match(part.strip())
        if found is None:
            raise BindingError(f"filter {part!r} is not col=op.value")
        column, negate, op, value = found.groups()
        if op not in OPERATORS:
            raise BindingError(
                f"filter operator {op!r} is not supported: use one of {', '.join(OPERATORS)} "
                "(the operators of Supabase Realtime)"
            )
        parsed: str | tuple[str, ...] = value
        if op == "in":
            if not (value.startswith("(") and value.endswith(")")):
                raise BindingError(f"filter {part!r}: in needs a list, as in.(1,2)")
            parsed = tuple(_unquote(item) for item in _split_top_level(value[1:-1]) if item.strip())
            if len(parsed) > MAX_IN_VALUES:
                raise BindingError(
                    f"filter {column}=in.(...) has {len(parsed)} values: at most {MAX_IN_VALUES}"
                )
        clauses.append(Clause(column, op, bool(negate), parsed))
    return tuple(clauses)


def _clause_sql(clause: Clause, column: Column) -> tuple[sql.Composable, list[Any]]:
    col = sql.SQL("v.{}").format(sql.Identifier(clause.column))
    typ = sql.SQL(column.sqltype)
    expr: sql.Composable
    params: list[Any] = []
    if clause.op == "in":
        expr = sql.SQL("{} = any(cast(%s::text[] as {}[]))").format(col, typ)
        params.append(list(clause.value))
    else:
        expr = sql.SQL("{} {} cast(%s::text as {})").format(
            col, sql.SQL(_COMPARISONS[clause.op]), typ
        )
        params.append(clause.value)
    if clause.negate:
        expr = sql.SQL("not ({})").format(expr)
    return expr, params


@dataclass(frozen=True)
class Filter:
    text: str
    clauses: tuple[Clause, ...]
    expression: sql.Composable
    params: tuple[Any, ...]


# bindings ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """One postgres_changes binding of a channel, with the id the join reply gave it."""

    id: int
    event: str  # *, INSERT, UPDATE, DELETE
    table: str | None  # None: every supported view
    filter: Filter | None
    select: tuple[str, ...] | None
    echo: dict[str, Any]  # the reply entry: the binding as sent, plus its id

    def matches(self, table: str, kind: str) -> bool:
        return (self.table is None or self.table == table) and self.event in ("*", kind)


class Catalog:
    """The columns of the supported views, read once per node from pg_catalog."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._columns: dict[str, list[Column]] | None = None
        self._lock = asyncio.Lock()

    async def columns(self, table: str) -> list[Column]:
        if self._columns is None:
            async with self._lock:
                if self._columns is None:
                    self._columns = await self._load()
        return self._columns[table]

    async def _load(self) -> dict[str, list[Column]]:
        found: dict[str, list[Column]] = {name: [] for name in TABLES}
        async with self._db.as_server() as conn:  # pg_catalog: readable by the node's own role
            cursor = await conn.execute(
                """
                select c.relname as table, a.attname as name, t.typname as type,
                       pg_catalog.format_type(a.atttypid, a.atttypmod) as sqltype
                from pg_catalog.pg_attribute as a
                join pg_catalog.pg_class as c on c.oid = a.attrelid
                join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
                join pg_catalog.pg_type as t on t.oid = a.atttypid
                where n.nspname = %s and c.relname = any(%s) and a.attnum > 0
                  and not a.attisdropped
                order by c.relname, a.attnum
                """,
                [SCHEMA, list(TABLES)],
            )
            for row in await cursor.fetchall():
                found[row["table"]].append(Column(row["name"], row["type"], row["sqltype"]))
        return found


async def parse_bindings(
    raw: Any, catalog: Catalog, db: Database, ids: Iterator[int]
) -> list[Binding]:
    """The join's `config.postgres_changes`, checked, each with the next id of `ids` (non-zero).
    Raises BindingError with a reason a developer can act on."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BindingError("config.postgres_changes must be a list")
    bindings = []
    probes: list[tuple[sql.Composed, list[Any]]] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise BindingError("each postgres_changes binding must be an object")
        event = entry.get("event")
        if not isinstance(event, str) or event.upper() not in EVENTS:
            raise BindingError(f"binding event {event!r} is not one of *, INSERT, UPDATE, DELETE")
        schema = entry.get("schema") or SCHEMA
        if schema != SCHEMA:
            raise BindingError(f"only schema {SCHEMA!r} has postgres_changes, not {schema!r}")
        table = entry.get("table")
        if table in (None, "", "*"):
            table = None
        elif table not in TABLES:
            raise BindingError(
                f"postgres_changes are not available for table {table!r}; "
                f"they are for {', '.join(TABLES)}"
            )
        text = entry.get("filter")
        columns = {c.name: c for c in await catalog.columns(table)} if table else {}
        parsed_filter = None
        if text not in (None, ""):
            if not isinstance(text, str):
                raise BindingError("a binding filter must be a string")
            if table is None:
                raise BindingError("a filter needs a table")
            clauses = parse_filter(text)
            parts, params = [], []
            for clause in clauses:
                if clause.column not in columns:
                    raise BindingError(f"table {table!r} has no column {clause.column!r}")
                expr, values = _clause_sql(clause, columns[clause.column])
                parts.append(expr)
                params.extend(values)
                probes.append(_probe(clause, columns[clause.column]))
            parsed_filter = Filter(
                text,
                clauses,
                sql.SQL("coalesce(({}), false)").format(sql.SQL(") and (").join(parts)),
                tuple(_hashable(p) for p in params),
            )
        select = entry.get("select")
        if select is not None:
            if not isinstance(select, list) or not all(isinstance(c, str) for c in select):
                raise BindingError("a binding select must be a list of column names")
            if table is None:
                raise BindingError("a select needs a table")
            unknown = [c for c in select if c not in columns]
            if unknown:
                raise BindingError(f"table {table!r} has no column {unknown[0]!r}")
        binding_id = next(ids)
        echo = {**entry, "schema": entry.get("schema") or SCHEMA, "id": binding_id}
        bindings.append(
            Binding(
                binding_id,
                event.upper(),
                table,
                parsed_filter,
                tuple(select) if select else None,
                echo,
            )
        )
    await _check_values(db, probes)
    return bindings


def _probe(clause: Clause, column: Column) -> tuple[sql.Composed, list[Any]]:
    """A statement that fails when a filter value does not fit its column."""
    typ = sql.SQL(column.sqltype)
    if clause.op == "in":
        return sql.SQL("select cast(%s::text[] as {}[])").format(typ), [list(clause.value)]
    return sql.SQL("select cast(%s::text as {})").format(typ), [clause.value]


async def _check_values(db: Database, probes: list[tuple[sql.Composed, list[Any]]]) -> None:
    if not probes:
        return
    # casts that read nothing: a caller's transaction, as anon, on the live lane
    async with db.as_caller(anon_claims(), read_only=True, lane="live") as conn:
        for statement, params in probes:
            try:
                async with conn.transaction():
                    await conn.execute(statement, params)
            except psycopg.errors.DataError as exc:
                raise BindingError(
                    f"bad filter value {params[0]!r}: {exc.diag.message_primary}"
                ) from exc


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


# engine messages -> candidate changes ----------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """Rows of `table` that the message changed: `where` selects them from the view `v`. A DELETE
    selects from `gone` instead, a one-row relation `v` of the deleted row's key (its values in
    `gone_params`), and `where` says whether the caller may still see what the row belonged to."""

    table: str
    kind: str  # INSERT | UPDATE | DELETE
    where: sql.Composable
    params: tuple[Any, ...]
    overlay: tuple[tuple[str, Any], ...] = ()  # values from the message, exact for that moment
    old: tuple[tuple[str, Any], ...] = ()  # what old_record adds to the key
    gone: sql.Composable | None = None
    gone_params: tuple[Any, ...] = ()


_BY_ID = sql.SQL("v.id = %s")
_BY_MARKET = sql.SQL("v.market_id = %s")
_BY_IDS = sql.SQL("v.id = any(cast(%s as bigint[]))")
_BY_USER = sql.SQL("v.user_id = cast(%s as uuid)")
_USERS_WAGERS = sql.SQL(
    "v.user_id = cast(%s as uuid) and v.market_id = %s and v.approval = 'accepted'"
)
_REFUNDED_WAGERS = sql.SQL(
    "v.user_id = cast(%s as uuid) and v.market_id = %s and v.settlement = 'void'"
)
_LEDGER_ENTRY = sql.SQL("v.transaction_id = %s and v.user_id = cast(%s as uuid)")
_GONE_SETTLEMENT = sql.SQL("(select cast(%s as bigint) as market_id)")
_MARKET_VISIBLE = sql.SQL("exists (select 1 from public.markets as m where m.id = v.market_id)")
_MARKET_INSERTS = frozenset({"created", "opened"})
_MARKET_UPDATES = frozenset(
    {"odds", "closed", "settled", "voided", "unsettled", "settlement_confirmation"}
)
_DRAW_UPDATES = frozenset({"closed", "settled", "voided", "draw_revealed"})  # never unsettled
_WAGERS = ("wagers", "my_wagers")
# admin message -> (view, change, the payload field holding the changed row's key)
_ADMIN_CHANGES: dict[str, tuple[str, str, str]] = {
    "settlement_proposed": ("settlement_proposals", "INSERT", "proposal_id"),
    "settlement_confirmed": ("settlement_proposals", "UPDATE", "proposal_id"),
    "settlement_cancelled": ("settlement_proposals", "UPDATE", "proposal_id"),
    "settlement_confirmation": ("markets", "UPDATE", "market_id"),
    "side_effect_failed": ("side_effect_jobs", "UPDATE", "job_id"),
}
# admin messages that change a market row only while it is a draft (payload `status`): a market
# that is not a draft sends its own market message for the same change
_ADMIN_DRAFTS_ONLY = frozenset({"settlement_confirmation"})
# the views admin messages change: a socket asks the hub for admin messages only when an admin
# (or the service role) binds to one of these, or joins the admin topic
ADMIN_MESSAGE_TABLES = frozenset(table for table, _, _ in _ADMIN_CHANGES.values())


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _market_changes(kind: str, market_id: int) -> list[Change]:
    found = []
    if kind in _MARKET_INSERTS | _MARKET_UPDATES:
        change = "INSERT" if kind in _MARKET_INSERTS else "UPDATE"
        found += [
            Change("markets", change, _BY_ID, (market_id,)),
            Change("outcomes", change, _BY_MARKET, (market_id,)),
        ]
    if kind in _MARKET_INSERTS:
        found.append(Change("virtual_draws", "INSERT", _BY_MARKET, (market_id,)))
    elif kind in _DRAW_UPDATES:
        found.append(Change("virtual_draws", "UPDATE", _BY_MARKET, (market_id,)))
    if kind == "settled":
        found.append(Change("settlements", "INSERT", _BY_MARKET, (market_id,)))
    elif kind == "unsettled":  # the settlements row moved to the history
        found.append(
            Change(
                "settlements",
                "DELETE",
                _MARKET_VISIBLE,
                (),
                gone=_GONE_SETTLEMENT,
                gone_params=(market_id,),
            )
        )
    return found


def _wager_changes(kind: str, user_id: str, payload: dict[str, Any]) -> list[Change]:
    if kind in ("wager_placed", "wager_approved", "wager_voided"):
        wager_id = _int(payload.get("wager_id" if kind == "wager_voided" else "id"))
        if wager_id is None:
            return []
        change = "INSERT" if kind == "wager_placed" else "UPDATE"
        return [Change(t, change, _BY_ID, (wager_id,)) for t in _WAGERS]
    market_id = _int(payload.get("market_id"))
    if kind in ("wager_rejected", "wagers_refunded"):
        ids = payload.get("wager_ids")
        if isinstance(ids, list) and ids and all(_int(i) is not None for i in ids):
            return [Change(t, "UPDATE", _BY_IDS, (tuple(ids),)) for t in _WAGERS]
        # over 100 wagers the message carries no ids: every void wager of the user in the market
        if market_id is None:
            return []
        return [Change(t, "UPDATE", _REFUNDED_WAGERS, (user_id, market_id)) for t in _WAGERS]
    if kind in ("wagers_settled", "wagers_unsettled"):
        # every accepted wager of the user in the market: settled, or open again (those voided
        # one by one stay void, and come as they are)
        if market_id is None:
            return []
        return [Change(t, "UPDATE", _USERS_WAGERS, (user_id, market_id)) for t in _WAGERS]
    return []


def _balance_changes(user_id: str, payload: dict[str, Any]) -> list[Change]:
    balance, version = _int(payload.get("balance")), _int(payload.get("version"))
    delta, transaction_id = _int(payload.get("delta")), _int(payload.get("transaction_id"))
    if balance is None or version is None:
        return []
    first = payload.get("reason") == "grant"
    overlay = (("balance", balance), ("version", version))
    old: tuple[tuple[str, Any], ...] = ()
    if not first and delta is not None:
        old = (("balance", balance - delta), ("version", version - 1))
    found = [
        Change(t, "INSERT" if first else "UPDATE", _BY_USER, (user_id,), overlay, old)
        for t in ("wallets", "my_wallet")
    ]
    if transaction_id is not None:
        found += [
            Change(t, "INSERT", _LEDGER_ENTRY, (transaction_id, user_id))
            for t in ("ledger", "my_ledger")
        ]
    return found


_WITHDRAWALS = ("withdrawals", "my_withdrawals")
_WITHDRAWAL_CHANGES = {
    "withdrawal_requested": "INSERT",
    "withdrawal_approved": "UPDATE",
    "withdrawal_rejected": "UPDATE",
}


def _withdrawal_changes(kind: str, payload: dict[str, Any]) -> list[Change]:
    withdrawal_id = _int(payload.get("withdrawal_id"))
    if withdrawal_id is None:
        return []
    change = _WITHDRAWAL_CHANGES[kind]
    return [Change(t, change, _BY_ID, (withdrawal_id,)) for t in _WITHDRAWALS]


def changes_for(event: Event) -> list[Change]:
    """The candidate changes an engine message stands for (none for messages it does not map)."""
    payload = event.payload
    kind = event.type
    if event.audience == "market":
        market_id = _int(payload.get("market_id"))
        return [] if market_id is None else _market_changes(kind, market_id)
    if event.audience == "admin":
        if kind not in _ADMIN_CHANGES:
            return []
        if kind in _ADMIN_DRAFTS_ONLY and payload.get("status") != "draft":
            return []
        table, change, field_name = _ADMIN_CHANGES[kind]
        row_id = _int(payload.get(field_name))
        return [] if row_id is None else [Change(table, change, _BY_ID, (row_id,))]
    if event.audience != "user" or not isinstance(payload.get("user_id"), str):
        return []
    user_id: str = payload["user_id"]
    if kind == "balance":
        return _balance_changes(user_id, payload)
    if kind in _WITHDRAWAL_CHANGES:
        return _withdrawal_changes(kind, payload)
    return _wager_changes(kind, user_id, payload)


# the re-select -----------------------------------------------------------------------------------


@dataclass
class Subscription:
    """One joined channel of a socket: its topic and bindings (all under one token)."""

    topic: str
    bindings: list[Binding]


@dataclass
class _Plan:
    change: Change
    table: Table
    wanted: list[tuple[Subscription, list[Binding]]] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)


def is_admin(claims: Claims) -> bool:
    app_metadata = claims.get("app_metadata")
    return isinstance(app_metadata, dict) and app_metadata.get("role") == "admin"


def sees_every_user(claims: Claims) -> bool:
    """Whether RLS may show this caller other users' rows (service role, admins)."""
    return claims.get("role") == "service_role" or is_admin(claims)


# Whether the caller acts as an admin now: the engine's rule, which app._require_admin enforces
_CURRENT_ADMIN = "select public.acts_as_admin() as admin"


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


def dumps(value: Any) -> str:
    """Compact JSON, as Phoenix frames are written."""
    return json.dumps(value, separators=(",", ":"))


class Shared:
    """JSON made once for every socket of the node that sends it (a row's `data`)."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.value = value
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = dumps(self.value)
        return self._text


@dataclass(frozen=True)
class ChangeFrame:
    """A postgres_changes push to `topic` for the bindings `ids`, around a row's shared `data`
    (realtime.py's serializers encode it; `as_dict` is the frame as any other)."""

    topic: str
    ids: list[int]
    data: Shared

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "postgres_changes",
            "topic": self.topic,
            "ref": None,
            "payload": {"ids": self.ids, "data": self.data.value},
        }


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
        self.catalog = Catalog(db)
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
            rows = await self._shared(event, who, claims, _CURRENT_ADMIN, ())
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
        return statement.as_string(), tuple(_hashable(p) for p in params)

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
            columns = await self.catalog.columns(plan.table.name)
            for row in rows:
                if row["change_no"] != number:
                    continue
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
            "columns": [{"name": c.name, "type": c.type} for c in shown],
        }
        if plan.change.kind != "DELETE":  # a DELETE has no record, only old_record's key
            data["record"] = {c.name: record.get(c.name) for c in shown}
        if plan.change.kind in ("UPDATE", "DELETE"):
            data["old_record"] = {k: record.get(k) for k in plan.table.key} | dict(plan.change.old)
        shared = Shared(data)
        event.frames[key] = (row, shared)
        return shared
