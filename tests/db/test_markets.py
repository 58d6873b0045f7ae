"""Markets: what create_market accepts and refuses, and the lifecycle draft -> open -> closed ->
settled, or void from any state before settled (void refunds every stake, accepted or pending)."""

from decimal import Decimal
from typing import Any

import pytest

from tests.db.helpers import balance, escrow, make_market, scalar, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.pgserver import Connection

# create_market -----------------------------------------------------------------------------------


def test_a_fixed_odds_market_gets_the_configured_defaults_and_opens_at_once(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, title="  Will it rain?  ")
    row = market.row
    assert row["title"] == "Will it rain?"
    assert row["kind"] == "fixed_odds"
    assert row["category"] == "real"
    assert row["status"] == "open"
    assert row["opened_at"] is not None
    assert row["created_by"] == str(admin.user_id)
    assert (row["virtual_stake"], row["commission_bps"], row["margin"], row["min_cap"]) == (
        10000,
        5000,
        5000,
        1000,
    )
    assert (row["rake_bps"], row["max_payout"], row["requires_approval"]) == (
        500,
        100000000,
        False,
    )
    assert (row["outcome_count"], row["total_pool"], row["version"]) == (2, 0, 1)
    assert [(o["position"], o["label"]) for o in row["outcomes"]] == [(1, "Yes"), (2, "No")]
    assert escrow(conn, market.id) == 0
    assert bettor.rows(
        "select status, total_pool from public.markets where id = %s", [market.id]
    ) == [("open", 0)]


def test_options_set_every_parameter(admin: Persona) -> None:
    market = make_market(
        admin,
        kind="parimutuel",
        outcomes=[
            {"label": "Red", "color": "#ff0000", "abbreviation": "R"},
            {"label": "Blue", "color": "#0000ff", "abbreviation": "B"},
            "Green",
        ],
        description="Three colours",
        category="virtual",
        closes_at="2999-01-01T00:00:00Z",
        requires_approval=True,
        virtual_stake=20000,
        commission_bps=2500,
        margin=0,
        min_cap=1,
        rake_bps=2500,
        max_payout=123456,
    )
    row = market.row
    assert (row["kind"], row["category"], row["description"]) == (
        "parimutuel",
        "virtual",
        "Three colours",
    )
    assert row["closes_at"].startswith("2999-01-01")
    assert row["requires_approval"] is True
    assert (row["virtual_stake"], row["commission_bps"], row["margin"], row["min_cap"]) == (
        20000,
        2500,
        0,
        1,
    )
    assert (row["rake_bps"], row["max_payout"], row["outcome_count"]) == (2500, 123456, 3)
    assert [(o["label"], o["color"], o["abbreviation"]) for o in row["outcomes"]] == [
        ("Red", "#ff0000", "R"),
        ("Blue", "#0000ff", "B"),
        ("Green", None, None),
    ]


def test_n_outcome_fixed_odds_share_the_virtual_stakes(admin: Persona, bettor: Persona) -> None:
    """Three outcomes, nothing staked: 1 + (2 * V) / V * (1 - c) = 2.0 each."""
    market = make_market(admin, outcomes=["A", "B", "C"])
    assert (
        bettor.rows(
            "select odds, cap from public.outcomes where market_id = %s order by position",
            [market.id],
        )
        == [(Decimal("2.0000"), 5000)] * 3
    )


def test_thirty_two_outcomes_and_a_two_hundred_character_title_are_allowed(
    admin: Persona,
) -> None:
    market = make_market(admin, title="t" * 200, outcomes=[f"o{i}" for i in range(32)])
    assert len(market.outcomes) == 32


def test_a_draft_opens_only_when_asked(admin: Persona, bettor: Persona) -> None:
    market = make_market(admin, status="draft")
    assert (market.row["status"], market.row["opened_at"]) == ("draft", None)
    assert bettor.rows("select id from public.markets where id = %s", [market.id]) == []


@pytest.mark.parametrize(
    ("title", "kind", "outcomes", "argument"),
    [
        (None, "fixed_odds", ["a", "b"], "title"),
        ("", "fixed_odds", ["a", "b"], "title"),
        ("   ", "fixed_odds", ["a", "b"], "title"),
        ("t" * 201, "fixed_odds", ["a", "b"], "title"),
        ("ok", "tote", ["a", "b"], "kind"),
        ("ok", None, ["a", "b"], "kind"),
        ("ok", "fixed_odds", None, "outcomes"),
        ("ok", "fixed_odds", {"a": "b"}, "outcomes"),
        ("ok", "fixed_odds", [], "outcomes"),
        ("ok", "fixed_odds", ["only one"], "outcomes"),
        ("ok", "fixed_odds", [f"o{i}" for i in range(33)], "outcomes"),
        ("ok", "fixed_odds", ["Yes", "yes"], "outcomes"),
        ("ok", "fixed_odds", ["Yes", " Yes "], "outcomes"),
        ("ok", "fixed_odds", ["Yes", ""], "outcomes"),
        ("ok", "fixed_odds", ["Yes", "n" * 101], "outcomes"),
        ("ok", "fixed_odds", ["Yes", {"color": "red"}], "outcomes"),
        ("ok", "fixed_odds", ["Yes", 7], "outcomes"),
    ],
)
def test_create_market_refuses_a_bad_title_kind_or_outcomes(
    admin: Persona, title: str | None, kind: str | None, outcomes: Any, argument: str
) -> None:
    error = admin.refused(
        "invalid_argument", "create_market", title=title, outcomes=outcomes, kind=kind
    )
    assert detail(error)["argument"] == argument


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"colour": "red"}, "colour"),
        ({"rake_bps": 2501}, "rake_bps"),
        ({"rake_bps": -1}, "rake_bps"),
        ({"rake_bps": 2.5}, "rake_bps"),
        ({"rake_bps": "500"}, "rake_bps"),
        ({"commission_bps": 10000}, "commission_bps"),
        ({"virtual_stake": 0}, "virtual_stake"),
        ({"min_cap": 0}, "min_cap"),
        ({"margin": -1}, "margin"),
        ({"max_payout": 0}, "max_payout"),
        ({"max_payout": True}, "max_payout"),
        ({"status": "closed"}, "status"),
        ({"status": 1}, "status"),
        ({"category": "fantasy"}, "category"),
        ({"description": 5}, "description"),
        ({"requires_approval": "yes"}, "requires_approval"),
        ({"closes_at": "2000-01-01T00:00:00Z"}, "closes_at"),
        ({"closes_at": "not a date"}, "closes_at"),
        ({"closes_at": 12345}, "closes_at"),
        ([], None),
    ],
)
def test_create_market_refuses_an_unknown_or_out_of_range_option(
    admin: Persona, options: Any, option: str | None
) -> None:
    error = admin.refused(
        "invalid_option", "create_market", title="ok", outcomes=["a", "b"], options=options
    )
    assert detail(error)["option"] == option


def test_create_market_accepts_the_edges_of_each_range(admin: Persona) -> None:
    market = make_market(admin, kind="parimutuel", rake_bps=0, commission_bps=9999, margin=0)
    assert (market.row["rake_bps"], market.row["commission_bps"]) == (0, 9999)
    assert make_market(admin, kind="parimutuel", rake_bps=2500).row["rake_bps"] == 2500


# open_market, close_market -----------------------------------------------------------------------


def test_open_market_opens_a_draft_once(conn: Connection, admin: Persona, bettor: Persona) -> None:
    market = make_market(admin, status="draft")
    opened = admin.call("open_market", market_id=market.id)
    assert (opened["status"], opened["version"]) == ("open", 2)
    assert opened["opened_at"] is not None
    assert bettor.rows("select status from public.markets where id = %s", [market.id]) == [
        ("open",)
    ]
    error = admin.refused("invalid_market_state", "open_market", market_id=market.id)
    assert (detail(error)["status"], detail(error)["allowed"]) == ("open", ["draft"])


def test_a_draft_whose_closing_time_passed_cannot_open(conn: Connection, admin: Persona) -> None:
    market = make_market(admin, status="draft", closes_at="2999-01-01T00:00:00Z")
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 minute' where id = %s",
        [market.id],
    )
    error = admin.refused("invalid_market_state", "open_market", market_id=market.id)
    assert detail(error)["reason"] == "closes_at has passed"


def test_close_market_stops_an_open_market_once(admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    closed = admin.call("close_market", market_id=market.id)
    assert (closed["status"], closed["version"]) == ("closed", 2)
    assert closed["closed_at"] is not None
    bettor.refused(
        "market_not_open",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=100,
    )
    error = admin.refused("invalid_market_state", "close_market", market_id=market.id)
    assert (detail(error)["status"], detail(error)["allowed"]) == ("closed", ["open"])
    admin.refused("invalid_market_state", "open_market", market_id=market.id)


def test_a_draft_cannot_be_closed_or_settled(admin: Persona) -> None:
    market = make_market(admin, status="draft")
    admin.refused("invalid_market_state", "close_market", market_id=market.id)
    admin.refused(
        "invalid_market_state", "settle_market", market_id=market.id, outcome_id=market.outcomes[0]
    )


def test_a_settled_market_refuses_every_transition_as_already_settled(admin: Persona) -> None:
    market = make_market(admin)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    admin.refused("already_settled", "open_market", market_id=market.id)
    admin.refused("already_settled", "close_market", market_id=market.id)
    admin.refused("already_settled", "void_market", market_id=market.id, reason="too late")
    admin.refused(
        "already_settled", "settle_market", market_id=market.id, outcome_id=market.outcomes[1]
    )


def test_a_void_market_refuses_every_transition(admin: Persona) -> None:
    market = make_market(admin)
    admin.call("void_market", market_id=market.id, reason="abandoned")
    admin.refused("invalid_market_state", "open_market", market_id=market.id)
    admin.refused("invalid_market_state", "close_market", market_id=market.id)
    admin.refused("invalid_market_state", "void_market", market_id=market.id, reason="again")
    admin.refused(
        "invalid_market_state", "settle_market", market_id=market.id, outcome_id=market.outcomes[0]
    )


def test_every_lifecycle_function_refuses_a_market_that_does_not_exist(admin: Persona) -> None:
    missing = 2**62
    for function, arguments in (
        ("open_market", {}),
        ("close_market", {}),
        ("void_market", {"reason": "gone"}),
        ("settle_market", {"outcome_id": 1}),
    ):
        error = admin.refused("market_not_found", function, market_id=missing, **arguments)
        assert detail(error) == {"market_id": missing}


# void_market -------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", [None, "", "   ", "r" * 501])
def test_void_needs_a_reason_of_one_to_five_hundred_characters(
    admin: Persona, reason: str | None
) -> None:
    market = make_market(admin)
    error = admin.refused("invalid_argument", "void_market", market_id=market.id, reason=reason)
    assert detail(error)["argument"] == "reason"


def test_void_refunds_every_accepted_and_pending_stake_exactly(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin, requires_approval=True)
    yes, no = market.outcomes
    approved = bettor.call("place_wager", market_id=market.id, outcome_id=yes, stake=1501)
    admin.call("approve_wager", wager_id=approved["id"])
    pending = bettor.call("place_wager", market_id=market.id, outcome_id=no, stake=733)
    theirs = other.call("place_wager", market_id=market.id, outcome_id=no, stake=2309)
    admin.call("approve_wager", wager_id=theirs["id"])
    assert (balance(conn, bettor), balance(conn, other)) == (10000 - 1501 - 733, 10000 - 2309)
    assert escrow(conn, market.id) == 1501 + 733 + 2309

    voided = admin.call("void_market", market_id=market.id, reason="  Match abandoned  ")

    assert voided["refunded"] == {"wagers": 3, "amount": 4543}
    assert (voided["status"], voided["void_reason"]) == ("void", "Match abandoned")
    assert voided["voided_at"] is not None
    assert (balance(conn, bettor), balance(conn, other)) == (10000, 10000)
    assert escrow(conn, market.id) == 0
    for placed in (approved, theirs):
        row = wager(conn, placed["id"])
        assert (row["approval"], row["settlement"], row["payout"]) == (
            "accepted",
            "void",
            placed["stake"],
        )
    held = wager(conn, pending["id"])
    assert (held["approval"], held["settlement"], held["payout"], held["reject_reason"]) == (
        "rejected",
        "void",
        733,
        "market_void",
    )
    entries = conn.execute(
        """select e.user_id, e.amount from app.ledger_entries as e
           join app.ledger_transactions as t on t.id = e.transaction_id
           where t.kind = 'void' and t.market_id = %s order by e.amount""",
        [market.id],
    ).fetchall()
    assert entries == [(None, -4543), (bettor.user_id, 2234), (other.user_id, 2309)]
    bettor.refused("market_not_open", "place_wager", market_id=market.id, outcome_id=yes, stake=100)
    assert_invariants(conn)


def test_a_void_refunds_a_user_with_thousands_of_wagers_on_the_market(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """One refund message per user used to list every wager id; 1,500 of them passed NOTIFY's
    8000-byte limit and the error undid the void, leaving every stake stuck in escrow."""
    market = make_market(admin, margin=10**9)
    with bettor.acting():
        conn.execute(
            "select public.place_wager(market_id => %s, outcome_id => %s, stake => 1)"
            " from generate_series(1, 1500)",
            [market.id, market.outcomes[0]],
        )
    before = balance(conn, bettor)
    refunded = admin.call("void_market", market_id=market.id, reason="called off")
    assert refunded["refunded"] == {"wagers": 1500, "amount": 1500}
    assert balance(conn, bettor) == before + 1500
    assert_invariants(conn)


def test_void_works_on_draft_and_closed_markets(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    draft = make_market(admin, status="draft")
    assert admin.call("void_market", market_id=draft.id, reason="never mind")["refunded"] == {
        "wagers": 0,
        "amount": 0,
    }
    market = make_market(admin)
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=999)
    admin.call("close_market", market_id=market.id)
    voided = admin.call("void_market", market_id=market.id, reason="result unknown")
    assert voided["refunded"] == {"wagers": 1, "amount": 999}
    assert balance(conn, bettor) == 10000
    assert (
        scalar(conn, "select count(*) from app.settlements where market_id = %s", [market.id]) == 0
    )
    assert_invariants(conn)
