"""postgres_changes for every engine message (docs/notifications.md): each type maps to the view
changes it stands for, or is said to change none, and docs/live.md shows that mapping. Against a
running node: test_realtime_changes_live.py."""

import re
import uuid
from pathlib import Path

from tests.serving import REPO
from wagerbase.live.hub import Event
from wagerbase.surfaces.realtime.changes import changes_for

DELETE = "DELETE"
WAGERS = {("wagers", "UPDATE"), ("my_wagers", "UPDATE")}
MARKET_ROWS = {("markets", "UPDATE"), ("outcomes", "UPDATE")}
NEW_MARKET = {("markets", "INSERT"), ("outcomes", "INSERT"), ("virtual_draws", "INSERT")}
# every documented message: the view changes it stands for (an empty set: it changes no view)
EXPECTED: dict[tuple[str, str], set[tuple[str, str]]] = {
    ("market", "created"): {
        ("markets", "INSERT"),
        ("outcomes", "INSERT"),
        ("virtual_draws", "INSERT"),
    },
    ("market", "opened"): {
        ("markets", "INSERT"),
        ("outcomes", "INSERT"),
        ("virtual_draws", "INSERT"),
    },
    ("market", "odds"): MARKET_ROWS,
    ("market", "closed"): MARKET_ROWS | {("virtual_draws", "UPDATE")},
    ("market", "settled"): MARKET_ROWS | {("virtual_draws", "UPDATE"), ("settlements", "INSERT")},
    ("market", "voided"): MARKET_ROWS | {("virtual_draws", "UPDATE")},
    ("market", "unsettled"): MARKET_ROWS | {("settlements", DELETE)},
    ("market", "draw_revealed"): {("virtual_draws", "UPDATE")},
    ("market", "settlement_confirmation"): MARKET_ROWS,
    ("user", "balance"): {
        ("wallets", "UPDATE"),
        ("my_wallet", "UPDATE"),
        ("ledger", "INSERT"),
        ("my_ledger", "INSERT"),
    },
    ("user", "wager_placed"): {("wagers", "INSERT"), ("my_wagers", "INSERT")},
    ("user", "wager_approved"): WAGERS,
    ("user", "wager_rejected"): WAGERS,
    ("user", "wagers_refunded"): WAGERS,
    ("user", "wagers_settled"): WAGERS,
    ("user", "wagers_unsettled"): WAGERS,
    ("user", "wager_voided"): WAGERS,
    ("user", "withdrawal_requested"): {("withdrawals", "INSERT"), ("my_withdrawals", "INSERT")},
    ("user", "withdrawal_approved"): {("withdrawals", "UPDATE"), ("my_withdrawals", "UPDATE")},
    ("user", "withdrawal_rejected"): {("withdrawals", "UPDATE"), ("my_withdrawals", "UPDATE")},
    ("user", "session_ended"): set(),  # no view changes: the sockets close the session's channels
    ("admin", "profit"): set(),  # the house account is in no view
    ("admin", "wager_pending"): set(),  # the owner's wager_placed carries the change
    ("admin", "wager_decided"): set(),  # the owner's wager_approved / wager_rejected do
    ("admin", "settlement_proposed"): {("settlement_proposals", "INSERT")},
    ("admin", "settlement_confirmed"): {("settlement_proposals", "UPDATE")},
    ("admin", "settlement_cancelled"): {("settlement_proposals", "UPDATE")},
    ("admin", "settlement_confirmation"): {("markets", "UPDATE")},  # a draft's (SAMPLE)
    ("admin", "side_effect_failed"): {("side_effect_jobs", "UPDATE")},
    ("admin", "withdrawal_pending"): set(),  # the owner's withdrawal_requested carries the change
    ("admin", "withdrawal_decided"): set(),  # the owner's withdrawal_approved / _rejected do
}

# every field any message may carry to name its rows
SAMPLE = {
    "market_id": 1,
    "id": 2,
    "wager_id": 2,
    "wager_ids": [2],
    "user_id": str(uuid.uuid4()),
    "balance": 100,
    "version": 2,
    "delta": 10,
    "transaction_id": 3,
    "reason": "deposit",
    "proposal_id": 4,
    "job_id": 5,
    "withdrawal_id": 6,
    "status": "draft",
}

CHANNELS = {"wagerbase_market": "market", "wagerbase_user": "user", "wagerbase_admin": "admin"}


def documented_types() -> set[tuple[str, str]]:
    """(audience, type) of every row of the three tables of docs/notifications.md."""
    found: set[tuple[str, str]] = set()
    audience = None
    for line in (REPO / "docs" / "notifications.md").read_text().splitlines():
        heading = re.match(r"^## `(wagerbase_\w+)`", line)
        if heading:
            audience = CHANNELS[heading.group(1)]
        row = re.match(r"^\| `(\w+)` \|", line)
        if row and audience:
            found.add((audience, row.group(1)))
    return found


def test_every_documented_engine_message_maps_to_the_view_changes_it_stands_for() -> None:
    assert documented_types() == set(EXPECTED)
    for (audience, kind), expected in EXPECTED.items():
        changes = changes_for(Event(audience, {**SAMPLE, "type": kind}))
        assert {(c.table, c.kind) for c in changes} == expected, kind
        # nothing but the documented audience maps it
        for other in {"market", "user", "admin"} - {audience}:
            stray = {(c.table, c.kind) for c in changes_for(Event(other, {**SAMPLE, "type": kind}))}
            assert stray == EXPECTED.get((other, kind), set()), (other, kind)


def test_a_switch_on_a_market_that_is_not_a_draft_is_its_market_messages_change() -> None:
    """One UPDATE of the market per switch: admins hear of a draft's (it sends no market
    message); an open or closed market's comes with its public `settlement_confirmation`."""
    for status in ("open", "closed"):
        switched = {**SAMPLE, "type": "settlement_confirmation", "status": status}
        assert changes_for(Event("admin", switched)) == []
        public = {(c.table, c.kind) for c in changes_for(Event("market", switched))}
        assert public == MARKET_ROWS


def test_a_first_grant_is_an_insert_into_the_wallet_views() -> None:
    grant = changes_for(Event("user", {**SAMPLE, "type": "balance", "reason": "grant"}))
    assert {(c.table, c.kind) for c in grant if "wallet" in c.table} == {
        ("wallets", "INSERT"),
        ("my_wallet", "INSERT"),
    }


def test_the_documented_mapping_is_the_one_docs_live_md_shows() -> None:
    """docs/live.md's postgres_changes table names every mapped message."""
    text = Path(REPO / "docs" / "live.md").read_text()
    section = text[text.index("### postgres_changes") : text.index("### Resync")]
    for (_, kind), changes in EXPECTED.items():
        if changes:
            assert f"`{kind}`" in section, kind
