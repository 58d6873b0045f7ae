"""A market can require two-step settlement (docs/settlement-review.md):
require_settlement_confirmation switches it, a direct settle_market is then refused, the switch is
logged and moves the market's version only when it changes, and only admins switch it, on markets
not yet decided. Persona by persona."""

from tests.db.helpers import balance, make_market, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.review_helpers import last_action, stake, untouched
from tests.pgserver import Connection

# requiring confirmation --------------------------------------------------------------------------


def test_a_market_that_requires_confirmation_refuses_a_direct_settlement(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    service_role: Persona,
) -> None:
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    row = admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    assert row["settlement_requires_confirmation"] is True
    before = untouched(conn, market.id)

    for who in (admin, service_role):
        error = who.refused(
            "settlement_needs_confirmation",
            "settle_market",
            market_id=market.id,
            outcome_id=market.outcomes[0],
        )
        assert error.sqlstate == "PT409"
        assert detail(error) == {
            "market_id": market.id,
            "outcome_id": market.outcomes[0],
            "settlement_requires_confirmation": True,
            "pending_proposal_id": None,
        }
    assert untouched(conn, market.id) == before
    assert bettor.rows("select status from public.markets where id = %s", [market.id]) == [
        ("open",)
    ]

    admin.call("require_settlement_confirmation", market_id=market.id, required=False)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert balance(conn, bettor) == 10500
    assert_invariants(conn)


def test_the_setting_is_logged_when_it_changes_and_only_then(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin, status="draft")
    start = last_action(conn)
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    admin.call("require_settlement_confirmation", market_id=market.id, required=False)
    log = conn.execute(
        """select action, before ->> 'settlement_requires_confirmation',
                  after ->> 'settlement_requires_confirmation', actor
           from app.admin_actions where id > %s order by id""",
        [start],
    ).fetchall()
    assert log == [
        ("require_settlement_confirmation", "false", "true", admin.user_id),
        ("require_settlement_confirmation", "true", "false", admin.user_id),
    ]


def test_the_setting_moves_the_market_version_when_it_changes_and_only_then(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """A new version is how a reader of the markets view knows its row changed."""
    market = make_market(admin)
    stake(bettor, market.id, market.outcomes[0], 1000)
    query = "select version, settlement_requires_confirmation from public.markets where id = %s"
    ((version, _),) = bettor.rows(query, [market.id])
    on = admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    assert on["version"] == version + 1
    assert bettor.rows(query, [market.id]) == [(version + 1, True)]
    again = admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    assert again["version"] == version + 1
    admin.call("require_settlement_confirmation", market_id=market.id, required=False)
    assert bettor.rows(query, [market.id]) == [(version + 2, False)]
    # the outcomes carry the market's version too
    assert bettor.rows(
        "select distinct market_version from public.outcomes where market_id = %s", [market.id]
    ) == [(version + 2,)]


def test_the_setting_is_for_admins_and_markets_not_yet_decided(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    market = make_market(admin)
    bettor.refused(
        "not_admin", "require_settlement_confirmation", market_id=market.id, required=True
    )
    anon.denied("select public.require_settlement_confirmation(%s, true)", [market.id])
    service_role.call("require_settlement_confirmation", market_id=market.id, required=True)
    admin.refused(
        "invalid_argument", "require_settlement_confirmation", market_id=market.id, required=None
    )
    missing = scalar(conn, "select coalesce(max(id), 0) + 1000 from app.markets")
    admin.refused(
        "market_not_found", "require_settlement_confirmation", market_id=missing, required=True
    )
    settled, voided = make_market(admin), make_market(admin)
    admin.call("settle_market", market_id=settled.id, outcome_id=settled.outcomes[0])
    admin.call("void_market", market_id=voided.id, reason="off")
    admin.refused(
        "already_settled", "require_settlement_confirmation", market_id=settled.id, required=True
    )
    admin.refused(
        "invalid_market_state",
        "require_settlement_confirmation",
        market_id=voided.id,
        required=True,
    )
