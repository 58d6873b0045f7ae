"""Access: no client role writes any table; the ledger is append-only and balanced even for the
superuser; each bettor reads only their own money; drafts, telemetry and the audit log are for
admins; admin functions refuse everyone but admins and the service role."""

from typing import Any

import pytest
from psycopg.types.json import Jsonb

from tests.db.helpers import make_market, scalar, superuser_refused
from tests.db.personas import Persona, anonymous, persona, service
from tests.pgserver import Connection

CLIENT_ROLES = ("anon", "authenticated", "service_role")


def client_personas(conn: Connection) -> list[Persona]:
    """Every kind of caller a request can be: anonymous, a bettor, an admin, the service role."""
    return [
        anonymous(conn),
        persona(conn, "writer"),
        persona(conn, "writer_admin", admin=True),
        service(conn),
    ]


def relations(conn: Connection, kinds: tuple[str, ...], schemas: tuple[str, ...]) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            """select format('%%I.%%I', n.nspname, c.relname)
               from pg_catalog.pg_class as c
               join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
               where n.nspname = any(%s) and c.relkind = any(%s)
               order by 1""",
            [list(schemas), list(kinds)],
        ).fetchall()
    ]


def first_column(conn: Connection, relation: str) -> str:
    """The first column an UPDATE may name: not an identity (nor a view's column named id, which
    is one underneath) and not generated."""
    row = conn.execute(
        """select quote_ident(attname) from pg_catalog.pg_attribute
           where attrelid = %s::regclass and attnum > 0 and not attisdropped
             and attidentity = '' and attgenerated = '' and attname <> 'id'
           order by attnum limit 1""",
        [relation],
    ).fetchone()
    assert row is not None
    return str(row[0])


def writes(conn: Connection, relation: str) -> list[str]:
    column = first_column(conn, relation)
    return [
        f"insert into {relation} default values",
        f"update {relation} set {column} = {column}",
        f"delete from {relation}",
    ]


# writes ------------------------------------------------------------------------------------------


def test_every_private_table_has_row_level_security_on(conn: Connection) -> None:
    off = conn.execute(
        """select c.relname from pg_catalog.pg_class as c
           join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
           where n.nspname = 'app' and c.relkind in ('r', 'p') and not c.relrowsecurity"""
    ).fetchall()
    assert off == []


def test_no_client_role_can_insert_update_or_delete_any_table(conn: Connection) -> None:
    tables = [*relations(conn, ("r", "p"), ("app",)), "auth.users"]
    assert len(tables) >= 13
    for who in client_personas(conn):
        for table in tables:
            for statement in [*writes(conn, table), f"truncate {table}"]:
                who.denied(statement)


def test_no_client_role_can_write_through_a_view(conn: Connection) -> None:
    """Simple views (public.wallets, ...) are automatically updatable by PostgreSQL; none of them
    is writable by a client role. The others cannot take a write at all."""
    views = [
        view
        for view in relations(conn, ("v",), ("public", "app"))
        if scalar(conn, "select pg_relation_is_updatable(%s::regclass, false)", [view]) > 0
    ]
    assert {"public.wallets", "public.my_wallet", "public.ledger"} <= set(views)
    for who in client_personas(conn):
        for view in views:
            for statement in writes(conn, view):
                who.denied(statement)


def test_no_client_role_holds_a_write_privilege_anywhere(conn: Connection) -> None:
    """Anywhere but realtime.messages, whose insert the Realtime checks of a private channel need
    (as the caller, under its RLS policies, rolled back); it never keeps a row (below)."""
    granted = conn.execute(
        """select r.rolname, n.nspname, c.relname, p.privilege
           from pg_catalog.pg_class as c
           join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
           cross join unnest(%s::text[]) as r (rolname)
           cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                                   'TRIGGER']) as p (privilege)
           where n.nspname in ('app', 'auth', 'public', 'console', 'wagerbase_meta', 'realtime')
             and c.relkind in ('r', 'p', 'v', 'm', 'f')
             and has_table_privilege(r.rolname, c.oid, p.privilege)
           order by 1, 2, 3, 4""",
        [list(CLIENT_ROLES)],
    ).fetchall()
    assert granted == [(role, "realtime", "messages", "INSERT") for role in sorted(CLIENT_ROLES)]


def test_no_role_keeps_a_row_of_realtime_messages(conn: Connection) -> None:
    """The insert a private channel's check makes never commits: a constraint trigger refuses,
    at commit, any transaction that inserted a row, the superuser's too (tests/db/
    test_realtime_rooms.py commits one); and with RLS on and no policy, a client role may not even
    insert one."""
    row = conn.execute(
        """select c.relrowsecurity, t.tgdeferrable, t.tginitdeferred
           from pg_catalog.pg_class as c
           join pg_catalog.pg_trigger as t on t.tgrelid = c.oid
           where c.oid = 'realtime.messages'::regclass and t.tgname = 'messages_never_kept'"""
    ).fetchone()
    assert row == (True, True, True)
    for who in client_personas(conn)[:3]:
        who.denied("insert into realtime.messages (topic, extension) values ('room', 'broadcast')")
        who.denied("update realtime.messages set topic = topic")
        who.denied("delete from realtime.messages")


def test_only_the_contract_functions_are_executable_by_client_roles(conn: Connection) -> None:
    """No function is executable by everyone by default: each role reaches exactly the functions
    granted to it (the odds helpers are granted because the security-invoker views call them)."""
    helpers = {
        "app._cap",
        "app._fixed_cap",
        "app._fixed_odds",
        "app._odds",
        "app._pari_odds",
        "app._share",
        "app._virtual_draw_rows",
        "app._accepting_wagers",
        "app._betmarket_game",
        "auth.email",
        "app._is_admin",
        "auth.jwt",
        "auth.role",
        "auth.uid",
        "realtime.topic",  # what a policy on realtime.messages asks about (Supabase's)
    }
    admin_functions = {
        "public.admin_list_pending_wagers",
        "public.approve_wager",
        "public.close_market",
        "public.create_market",
        "public.house_summary",
        "public.open_market",
        "public.reject_wager",
        "public.settle_market",
        "public.void_market",
        "public.preview_settlement",
        "public.require_settlement_confirmation",
        "public.propose_settlement",
        "public.confirm_settlement",
        "public.cancel_settlement_proposal",
        "public.unsettle_market",
        "public.resettle_market",
        "public.void_wager",
        "public.retry_side_effects",
        "public.create_virtual_market",
        "public.update_settings",
        "public.credit_wallet",
        "public.admin_list_pending_withdrawals",
        "public.approve_withdrawal",
        "public.reject_withdrawal",
        "public.revoke_sessions",
    }
    user_functions = {
        "public.deposit",
        "public.withdraw",
        "public.place_wager",
        "public.set_self_exclusion",
        "public.set_daily_stake_limit",
        "public.set_daily_deposit_limit",
    }
    expected = {
        "anon": helpers
        | {
            "public.preview_wager",
            "public.get_market_depth",
            "public.verify_draw",
            "public.acts_as_admin",
        },
        "authenticated": helpers
        | admin_functions
        | user_functions
        | {
            "public.preview_wager",
            "public.get_wallet",
            "public.get_market_depth",
            "public.verify_draw",
            "public.acts_as_admin",
        },
        "service_role": helpers
        | admin_functions
        | {
            "public.preview_wager",
            "public.get_wallet",
            "public.get_market_depth",
            "public.verify_draw",
            "public.acts_as_admin",
        },
    }
    for role in CLIENT_ROLES:
        executable = {
            name
            for (name,) in conn.execute(
                """select n.nspname || '.' || p.proname
                   from pg_catalog.pg_proc as p
                   join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
                   where n.nspname in ('app', 'auth', 'public', 'console', 'wagerbase_meta',
                                       'server', 'realtime')
                     and not exists (select 1 from pg_catalog.pg_depend as d
                                     where d.objid = p.oid and d.deptype = 'e')
                     and has_function_privilege(%s, p.oid, 'execute')""",
                [role],
            ).fetchall()
        }
        assert executable == expected[role], role


# the ledger, even for the superuser --------------------------------------------------------------


def test_the_ledger_is_append_only_even_for_the_superuser(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("deposit", amount=100)
    before = conn.execute("select * from app.ledger_entries order by id").fetchall()
    for table in ("app.ledger_entries", "app.ledger_transactions"):
        superuser_refused(conn, "ledger_append_only", f"update {table} set created_at = now()")
        superuser_refused(conn, "ledger_append_only", f"delete from {table}")
    superuser_refused(
        conn,
        "ledger_append_only",
        "update app.ledger_entries set amount = amount + 1 where user_id = %s",
        [bettor.user_id],
    )
    assert conn.execute("select * from app.ledger_entries order by id").fetchall() == before


def test_an_unbalanced_ledger_insert_is_refused_even_for_the_superuser(
    conn: Connection, bettor: Persona
) -> None:
    bettor.call("get_wallet")
    entries_before = scalar(conn, "select count(*) from app.ledger_entries")
    row = conn.execute(
        "insert into app.ledger_transactions (kind) values ('deposit') returning id"
    ).fetchone()
    assert row is not None
    tx = row[0]
    wallet = scalar(conn, "select id from app.accounts where user_id = %s", [bettor.user_id])
    world = scalar(conn, "select id from app.accounts where kind = 'world'")
    insert = """insert into app.ledger_entries
                    (transaction_id, account_id, kind, amount, balance_before, balance_after,
                     account_version)
                values (%(tx)s, %(wallet)s, 'deposit', 100, 10000, 10100, 1000),
                       (%(tx)s, %(world)s, 'deposit', -99, 0, -99, 1000)"""
    superuser_refused(
        conn, "ledger_unbalanced", insert, {"tx": tx, "wallet": wallet, "world": world}
    )
    superuser_refused(
        conn,
        "ledger_unbalanced",
        """insert into app.ledger_entries
               (transaction_id, account_id, kind, amount, balance_before, balance_after,
                account_version)
           values (%s, %s, 'deposit', 100, 10000, 10100, 1000)""",
        [tx, wallet],
    )
    assert scalar(conn, "select count(*) from app.ledger_entries") == entries_before


# reads -------------------------------------------------------------------------------------------

OWN_ROWS = {
    "public.my_wallet": "user_id",
    "public.my_wagers": "user_id",
    "public.my_ledger": "user_id",
    "public.wallets": "user_id",
    "public.wagers": "user_id",
    "public.wager_results": "user_id",
    "public.ledger": "user_id",
    "app.accounts": "user_id",
    "app.wagers": "user_id",
    "app.ledger_entries": "user_id",
    "app.profiles": "user_id",
}


@pytest.fixture
def two_bettors_with_money(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    for who, amount in ((bettor, 1000), (other, 2000)):
        who.call("deposit", amount=amount)
        who.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=amount)
        who.call("withdraw", amount=1)
    # both lose: a result each, and no ledger entry of theirs
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[1])


@pytest.mark.usefixtures("two_bettors_with_money")
def test_a_bettor_reads_only_their_own_wallet_wagers_and_ledger(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    for relation, column in OWN_ROWS.items():
        for me, them in ((bettor, other), (other, bettor)):
            owners = [owner for (owner,) in me.rows(f"select {column} from {relation}")]
            assert owners, relation
            assert set(owners) == {me.user_id}, relation
            assert me.rows(f"select 1 from {relation} where {column} = %s", [them.user_id]) == []
    assert bettor.rows("select count(*) from public.my_ledger") == [(4,)]
    assert bettor.rows("select balance from public.my_wallet") == [(10000 + 1000 - 1000 - 1,)]
    assert bettor.rows("select id from app.ledger_transactions") == []
    bettor.denied("select * from app.idempotency_keys")


@pytest.mark.usefixtures("two_bettors_with_money")
def test_anonymous_callers_read_no_money_at_all(anon: Persona) -> None:
    for relation in (
        "public.my_wallet",
        "public.my_wagers",
        "public.my_ledger",
        "public.wallets",
        "public.wagers",
        "public.wager_results",
        "public.ledger",
        "public.admin_actions",
        "public.quote_telemetry",
        "app.accounts",
        "app.wagers",
        "app.ledger_entries",
        "app.ledger_transactions",
        "app.idempotency_keys",
        "auth.users",
    ):
        anon.denied(f"select * from {relation}")


@pytest.mark.usefixtures("two_bettors_with_money")
def test_admins_read_every_wallet_wager_and_ledger_entry(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    for relation, superuser_query in (
        ("public.wallets", "select user_id from app.accounts where kind = 'user'"),
        ("public.wagers", "select user_id from app.wagers"),
        (
            "public.wager_results",
            "select user_id from app.wagers where settlement in ('won', 'lost')",
        ),
        ("public.ledger", "select user_id from app.ledger_entries where user_id is not null"),
    ):
        seen = sorted(str(u) for (u,) in admin.rows(f"select user_id from {relation}"))
        assert seen == sorted(str(u) for (u,) in conn.execute(superuser_query).fetchall())
        assert {str(bettor.user_id), str(other.user_id)} <= set(seen)
    assert admin.rows("select user_id from public.my_wallet") == []


def test_drafts_are_invisible_to_everyone_but_admins(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    draft = make_market(admin, status="draft")
    shown = make_market(admin)
    for market in (draft, shown):
        conn.execute("select app._snapshot_market(%s, 'interval')", [market.id])
    for who in (bettor, anon):
        for market, count in ((draft, 0), (shown, 2)):
            assert who.rows(
                "select count(*) from public.pool_snapshots where market_id = %s", [market.id]
            ) == [(count,)]
        assert who.rows(
            "select id from public.markets where id = any(%s)", [[draft.id, shown.id]]
        ) == [(shown.id,)]
        assert who.rows(
            "select count(*) from public.outcomes where market_id = %s", [draft.id]
        ) == [(0,)]
        assert who.rows(
            "select count(*) from public.outcomes where market_id = %s", [shown.id]
        ) == [(2,)]
    assert admin.rows("select status from public.markets where id = %s", [draft.id]) == [("draft",)]
    assert admin.rows("select count(*) from public.outcomes where market_id = %s", [draft.id]) == [
        (2,)
    ]
    assert admin.rows(
        "select count(*) from public.pool_snapshots where market_id = %s", [draft.id]
    ) == [(2,)]


def test_settlement_records_and_open_markets_are_public(
    admin: Persona, anon: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert anon.rows(
        "select winning_outcome_id from public.settlements where market_id = %s", [market.id]
    ) == [(market.outcomes[0],)]
    assert anon.rows("select status from public.markets where id = %s", [market.id]) == [
        ("settled",)
    ]


def test_telemetry_and_the_admin_log_are_for_admins_only(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("preview_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100)
    assert bettor.rows("select count(*) from public.quote_telemetry") == [(0,)]
    assert bettor.rows("select count(*) from public.admin_actions") == [(0,)]
    assert bettor.rows("select count(*) from app.quote_telemetry") == [(0,)]
    assert admin.rows(
        "select user_id from public.quote_telemetry where market_id = %s", [market.id]
    ) == [(bettor.user_id,)]
    assert admin.rows(
        "select action from public.admin_actions where market_id = %s", [market.id]
    ) == [("create_market",)]


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
