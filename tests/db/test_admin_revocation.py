"""Admin rights follow the user's row, not the token: an admin demoted (app._set_admin) or deleted
loses them at once, before the token expires, for the admin functions and for the admin-only
reads alike (the policies ask auth.users too)."""

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.pgserver import Connection


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
