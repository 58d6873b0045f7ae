"""The review's rules kept twice (docs/settlement-review.md): the proposals table itself refuses a
second pending proposal and a self-confirmation, no settlement row gets past the gate without a
confirmation (not even the superuser's), and the review functions and view are granted to admin
roles only."""

import psycopg
import pytest

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.pgserver import Connection

REVIEW_FUNCTIONS = {
    "preview_settlement": "bigint, bigint",
    "require_settlement_confirmation": "bigint, boolean",
    "propose_settlement": "bigint, bigint, text",
    "confirm_settlement": "bigint, bigint",
    "cancel_settlement_proposal": "bigint, text",
}
LONG = frozenset({"preview_settlement", "propose_settlement", "confirm_settlement"})


# the rules kept twice ----------------------------------------------------------------------------


def test_the_table_itself_refuses_a_second_pending_proposal_and_a_self_confirmation(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin)
    proposed = admin.call("propose_settlement", market_id=market.id, outcome_id=market.outcomes[0])
    with pytest.raises(psycopg.errors.UniqueViolation) as caught, conn.transaction():
        conn.execute(
            """insert into app.settlement_proposals (market_id, outcome_id, preview, market_version)
               values (%s, %s, '{}', 1)""",
            [market.id, market.outcomes[1]],
        )
    assert caught.value.diag.constraint_name == "settlement_proposals_one_pending"
    with pytest.raises(psycopg.errors.CheckViolation) as checked, conn.transaction():
        conn.execute(
            """update app.settlement_proposals
               set status = 'confirmed', decided_by = proposed_by, decided_at = now(),
                   confirmed_xact = pg_current_xact_id()
               where id = %s""",
            [proposed["id"]],
        )
    assert checked.value.diag.constraint_name == "settlement_proposals_four_eyes"


def test_no_settlement_row_gets_past_the_gate_without_a_confirmation(
    conn: Connection, admin: Persona
) -> None:
    """Even the superuser, writing app.settlements by hand, meets the gate."""
    market = make_market(admin)
    admin.call("require_settlement_confirmation", market_id=market.id, required=True)
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        conn.execute(
            """insert into app.settlements (market_id, winning_outcome_id, kind, total_pool, rake,
                   net_pool, winning_pool, total_paid, dust, house_result, refunded,
                   winners_count, losers_count, winning_users)
               values (%s, %s, 'fixed_odds', 0, 0, 0, 0, 0, 0, 0, false, 0, 0, 0)""",
            [market.id, market.outcomes[0]],
        )
    assert caught.value.diag.message_primary == "settlement_needs_confirmation"


def test_the_review_functions_and_view_are_granted_to_admin_roles_only(conn: Connection) -> None:
    for function, arguments in REVIEW_FUNCTIONS.items():
        signature = f"public.{function}({arguments})"
        granted = conn.execute(
            """select r.rolname, has_function_privilege(r.rolname, %s, 'execute')
               from unnest(array['anon', 'authenticated', 'service_role']) as r (rolname)""",
            [signature],
        ).fetchall()
        assert granted == [("anon", False), ("authenticated", True), ("service_role", True)]
        # the ones whose work grows with the market's wagers may run up to 5 minutes
        config = ['search_path=""'] + (["statement_timeout=5min"] if function in LONG else [])
        assert conn.execute(
            "select prosecdef, proconfig from pg_catalog.pg_proc where oid = %s::regprocedure",
            [signature],
        ).fetchone() == (True, config)
    assert conn.execute(
        """select r.rolname, has_table_privilege(r.rolname, 'public.settlement_proposals', p)
           from unnest(array['anon', 'authenticated', 'service_role']) as r (rolname)
           cross join unnest(array['select', 'insert', 'update', 'delete']) as p
           where has_table_privilege(r.rolname, 'public.settlement_proposals', p)"""
    ).fetchall() == [("authenticated", True), ("service_role", True)]
