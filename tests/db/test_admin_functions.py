"""Admin functions refuse everyone but admins and the service role: a bettor as not_admin, anonymous
callers by the grants; the service role may call every one. And admin rights follow the user's
row, not the token: an admin demoted (app._set_admin) or deleted loses them at once, before the
token expires, for the admin functions and for the admin-only reads alike (the policies ask
auth.users too)."""

from typing import Any

from psycopg.types.json import Jsonb

from tests.db.helpers import make_market, scalar
from tests.db.personas import Persona
from tests.pgserver import Connection

# admin functions ---------------------------------------------------------------------------------


def admin_calls(admin: Persona, bettor: Persona) -> list[tuple[str, dict[str, Any]]]:
    """One call of every admin function, with arguments that would succeed for an admin."""
    market = make_market(admin, requires_approval=True)
    draft = make_market(admin, status="draft")
    pending = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100
    )
    return [
        ("create_market", {"title": "New", "outcomes": ["a", "b"]}),
        ("open_market", {"market_id": draft.id}),
        ("approve_wager", {"wager_id": pending["id"]}),
        ("reject_wager", {"wager_id": pending["id"], "reason": "no"}),
        ("close_market", {"market_id": market.id}),
        ("void_market", {"market_id": market.id, "reason": "off"}),
        ("settle_market", {"market_id": market.id, "outcome_id": market.outcomes[0]}),
        ("admin_list_pending_wagers", {"market_id": market.id}),
        ("house_summary", {}),
    ]


def test_every_admin_function_refuses_a_bettor_as_not_admin(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    calls = admin_calls(admin, bettor)
    actions = scalar(conn, "select count(*) from app.admin_actions")
    for function, arguments in calls:
        bettor.refused("not_admin", function, **arguments)
    assert scalar(conn, "select count(*) from app.admin_actions") == actions


def test_every_admin_function_is_denied_to_anonymous_callers(
    admin: Persona, bettor: Persona, anon: Persona
) -> None:
    for function, arguments in admin_calls(admin, bettor):
        placeholders = ", ".join(f"{name} => %s" for name in arguments)
        values = [Jsonb(v) if isinstance(v, list) else v for v in arguments.values()]
        anon.denied(f"select public.{function}({placeholders})", values)


def test_the_service_role_may_call_every_admin_function(
    conn: Connection, admin: Persona, bettor: Persona, service_role: Persona
) -> None:
    calls = dict(admin_calls(admin, bettor))
    created = service_role.call("create_market", **calls["create_market"])
    assert created["created_by"] is None
    service_role.call("open_market", **calls["open_market"])
    approved = service_role.call("approve_wager", **calls["approve_wager"])
    assert approved["approval"] == "accepted"
    service_role.call("close_market", **calls["close_market"])
    assert service_role.rows("select count(*) from public.admin_list_pending_wagers()") == [(0,)]
    assert "profit" in service_role.call("house_summary")
    settled = service_role.call("settle_market", **calls["settle_market"])
    assert settled["total_pool"] == 100
    other_market = make_market(service_role, requires_approval=True)
    held = bettor.call(
        "place_wager", market_id=other_market.id, outcome_id=other_market.outcomes[1], stake=50
    )
    assert service_role.call("reject_wager", wager_id=held["id"])["approval"] == "rejected"
    assert (
        service_role.call("void_market", market_id=other_market.id, reason="off")["status"]
        == "void"
    )
    roles = conn.execute(
        "select distinct actor, actor_role from app.admin_actions where actor_role = 'service_role'"
    ).fetchall()
    assert roles == [(None, "service_role")]


def test_a_demoted_admin_loses_admin_rights_before_their_token_expires(
    conn: Connection, admin: Persona
) -> None:
    make_market(admin)
    assert admin.rows("select count(*) from public.admin_actions") != [(0,)]
    conn.execute("select app._set_admin(%s, false)", [str(admin.user_id)])
    admin.refused("not_admin", "create_market", title="After demotion", outcomes=["a", "b"])
    # the admin-only reads go with the calls: the policies ask auth.users too, not the token alone
    assert admin.rows("select app._is_admin()") == [(False,)]
    for view in ("admin_actions", "quote_telemetry", "user_debts", "side_effect_jobs"):
        assert admin.rows(f"select count(*) from public.{view}") == [(0,)], view


def test_a_deleted_admin_reads_nothing_of_the_admins(conn: Connection, admin: Persona) -> None:
    make_market(admin)
    conn.execute("update auth.users set deleted_at = now() where id = %s", [admin.user_id])
    assert admin.rows("select app._is_admin()") == [(False,)]
    assert admin.rows("select count(*) from public.admin_actions") == [(0,)]
