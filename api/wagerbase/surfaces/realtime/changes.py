"""postgres_changes, part one: which views support them, and which rows of which views an engine
message changed.

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
"""

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from wagerbase.live.hub import Event
from wagerbase.tokens import Claims

SCHEMA = "public"
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


def is_admin(claims: Claims) -> bool:
    app_metadata = claims.get("app_metadata")
    return isinstance(app_metadata, dict) and app_metadata.get("role") == "admin"


def sees_every_user(claims: Claims) -> bool:
    """Whether RLS may show this caller other users' rows (service role, admins)."""
    return claims.get("role") == "service_role" or is_admin(claims)


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
