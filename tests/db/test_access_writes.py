"""Access, writes: no client role (anonymous, a bettor, an admin, the service role) writes any
table, through a view or by any privilege; only the contract functions are executable by client
roles; and the ledger is append-only and balanced even for the superuser."""

from tests.db.helpers import scalar, superuser_refused
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
        "public.update_house_game",
        "public.settle_house_round",
    }
    user_functions = {
        "public.deposit",
        "public.withdraw",
        "public.place_wager",
        "public.set_self_exclusion",
        "public.set_daily_stake_limit",
        "public.set_daily_deposit_limit",
        "public.get_seed",
        "public.rotate_seed",
        "public.play_dice",
        "public.play_limbo",
        "public.play_roulette",
        "public.play_plinko",
        "public.play_keno",
        "public.auto_bet",
        "public.open_mines",
        "public.reveal_mines_cell",
        "public.cashout_mines",
        "public.get_mines_round",
        "public.get_level",
        "public.claim_rakeback",
        "public.get_affiliate",
        "public.set_referrer",
        "public.claim_affiliate_commission",
    }
    # the house games' read side: seeds shown only once revealed (no grant on app.seed_pairs)
    house_readers = {"app._seed_pair_rows", "app._revealed_server_seed", "public.get_revealed_seed"}
    expected = {
        "anon": helpers
        | {
            "public.get_revealed_seed",
            "public.preview_wager",
            "public.get_market_depth",
            "public.verify_draw",
            "public.acts_as_admin",
        },
        "authenticated": helpers
        | admin_functions
        | user_functions
        | house_readers
        | {
            "public.preview_wager",
            "public.get_wallet",
            "public.get_market_depth",
            "public.verify_draw",
            "public.acts_as_admin",
        },
        "service_role": helpers
        | admin_functions
        | house_readers
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
