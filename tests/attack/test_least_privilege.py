"""The API connects as a role that can do only what the API needs (issue 12: it connected as the
schema's owner, so one injection in the PostgREST compiler would have been a full compromise).

A running node's connections all log in as `authenticator`. Logged in as that role, the test
finds it owns nothing, inherits nothing, can switch only to anon, authenticated and service_role,
cannot read or write a table, call a private function, or become the owner; of its own it can
execute exactly the functions of schema `server`, which no client role can. And it does each
thing the API needs: sign-up, sign-in, refresh and sign-out through `server`, the scheduler's
rounds, a REST read as anon and a money call as a user, over SQL and over the node's HTTP API.
"""

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors, sql

from tests.pgserver import Connection
from tests.serving import Node
from wagerbase.authenticator import ROLE
from wagerbase.operations.migrate import migrate

CLIENT_ROLES = ("anon", "authenticated", "service_role")
# what the node opens (conninfo.for_component's application names): the pool, the hub's stream
# reader, the scheduler and the side-effect worker
COMPONENTS = (
    "wagerbase api",
    "wagerbase hub",
    "wagerbase scheduler",
    "wagerbase side-effect worker",
)
WAIT = 20.0  # seconds to wait for a node's connections to be open; never an assertion on speed


@pytest.fixture
def api(node: Node) -> Iterator[Connection]:
    """A connection logged in exactly as the node's API is: its role and password."""
    with psycopg.connect(node.api_database_url, autocommit=True) as conn:
        yield conn


def refused(
    conn: Connection, statement: str | sql.Composed, params: list[Any] | None = None
) -> None:
    """`statement` fails with insufficient_privilege (42501) and changes nothing."""
    with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
        conn.execute(statement, params)


def owner_of_app(conn: Connection) -> str:
    row = conn.execute(
        "select nspowner::regrole::text from pg_catalog.pg_namespace where nspname = 'app'"
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_the_running_node_logs_in_as_authenticator(node: Node) -> None:
    assert httpx.get(f"{node.url}/health").status_code == 200
    with psycopg.connect(node.database_url, autocommit=True) as owner:
        deadline = time.monotonic() + WAIT
        while True:
            rows = owner.execute(
                """select application_name, usename from pg_catalog.pg_stat_activity
                   where datname = current_database() and application_name = any(%s)""",
                [list(COMPONENTS)],
            ).fetchall()
            if {name for name, _ in rows} == set(COMPONENTS) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert {name for name, _ in rows} == set(COMPONENTS), rows
    assert {user for _, user in rows} == {ROLE}, rows


def test_the_role_is_no_superuser_and_can_become_only_the_three_client_roles(
    api: Connection,
) -> None:
    row = api.execute(
        """select session_user, current_user, r.rolsuper, r.rolinherit, r.rolcreaterole,
                  r.rolcreatedb, r.rolreplication, r.rolbypassrls
           from pg_catalog.pg_roles as r where r.rolname = session_user"""
    ).fetchone()
    assert row == (ROLE, ROLE, False, False, False, False, False, False)
    reachable = {
        name
        for (name,) in api.execute(
            """select rolname from pg_catalog.pg_roles
               where pg_catalog.pg_has_role(session_user, oid, 'member')"""
        )
    }
    assert reachable == {ROLE, *CLIENT_ROLES}

    owner = owner_of_app(api)
    for target in (owner, "postgres", "pg_read_all_data", "pg_write_server_files"):
        refused(api, sql.SQL("set role {}").format(sql.Identifier(target)))
        refused(api, sql.SQL("set session authorization {}").format(sql.Identifier(target)))
    for client in CLIENT_ROLES:  # from a client role, not further either
        with pytest.raises(errors.InsufficientPrivilege), api.transaction():
            api.execute(sql.SQL("set local role {}").format(sql.Identifier(client)))
            api.execute(sql.SQL("set local role {}").format(sql.Identifier(owner)))
    api.execute("set role service_role")
    api.execute("reset role")
    assert api.execute("select current_user").fetchone() == (ROLE,)


def test_the_role_owns_nothing(api: Connection) -> None:
    owned = api.execute(
        """select count(*) from pg_catalog.pg_shdepend
           where refclassid = 'pg_catalog.pg_authid'::regclass
             and refobjid = pg_catalog.to_regrole(session_user) and deptype = 'o'"""
    ).fetchone()
    assert owned == (0,)
    for catalog, column in (
        ("pg_database", "datdba"),
        ("pg_namespace", "nspowner"),
        ("pg_class", "relowner"),
        ("pg_proc", "proowner"),
        ("pg_type", "typowner"),
    ):
        count = api.execute(
            sql.SQL(
                "select count(*) from pg_catalog.{} where {} = pg_catalog.to_regrole(session_user)"
            ).format(sql.Identifier(catalog), sql.Identifier(column))
        ).fetchone()
        assert count == (0,), catalog


def test_of_its_own_the_role_may_execute_only_schema_server(api: Connection) -> None:
    relations = api.execute(
        """select c.oid, n.nspname || '.' || c.relname, c.relkind = 'S'
           from pg_catalog.pg_class as c
           join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
           where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
             and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')"""
    ).fetchall()
    assert len(relations) > 50  # every table, view and sequence of app, auth, public, ...
    for oid, relation, sequence in relations:
        check = (
            "select pg_catalog.has_sequence_privilege(session_user, %(r)s, 'usage, select, update')"
            if sequence
            else """select pg_catalog.has_table_privilege(session_user, %(r)s,
                        'select, insert, update, delete, truncate, references, trigger')
                    or pg_catalog.has_any_column_privilege(session_user, %(r)s,
                        'select, insert, update, references')"""
        )
        assert api.execute(check, {"r": oid}).fetchone() == (False,), relation
    functions = api.execute(
        """select n.nspname, p.oid::regprocedure::text,
                  pg_catalog.has_function_privilege(session_user, p.oid, 'execute')
           from pg_catalog.pg_proc as p
           join pg_catalog.pg_namespace as n on n.oid = p.pronamespace
           where n.nspname not in ('pg_catalog', 'information_schema')"""
    ).fetchall()
    executable = sorted(name for _, name, may in functions if may)
    in_server = sorted(name for schema, name, _ in functions if schema == "server")
    assert in_server and executable == in_server
    schemas = {
        name: (usage, create)
        for name, usage, create in api.execute(
            """select nspname,
                      pg_catalog.has_schema_privilege(session_user, oid, 'usage'),
                      pg_catalog.has_schema_privilege(session_user, oid, 'create')
               from pg_catalog.pg_namespace
               where nspname not like 'pg\\_%' and nspname <> 'information_schema'"""
        )
    }
    assert schemas["server"] == (True, False)
    assert schemas["public"] == (True, False)
    for private in ("app", "auth", "console", "wagerbase_meta"):
        assert schemas[private] == (False, False), private


def test_no_client_role_can_reach_schema_server(api: Connection) -> None:
    for role in (*CLIENT_ROLES, "public"):
        row = api.execute(
            """select pg_catalog.has_schema_privilege(%s, 'server', 'usage'),
                      coalesce(bool_or(pg_catalog.has_function_privilege(%s, p.oid, 'execute')),
                               false)
               from pg_catalog.pg_proc as p where p.pronamespace = 'server'::regnamespace""",
            [role, role],
        ).fetchone()
        assert row == (False, False), role
    for client in CLIENT_ROLES:  # the API's role, switched to a caller's, loses it too
        with pytest.raises(errors.InsufficientPrivilege), api.transaction():
            api.execute(sql.SQL("set local role {}").format(sql.Identifier(client)))
            api.execute("select server.user_json(%s)", [uuid.uuid4()])


def test_every_security_definer_function_the_role_may_call_pins_its_search_path(
    api: Connection,
) -> None:
    """A security definer function runs with its owner's rights; one that took the caller's
    search_path could be made to run the caller's objects with them (STYLE.md, SQL rule 3)."""
    rows = api.execute(
        """select p.oid::regprocedure::text, p.proconfig
           from pg_catalog.pg_proc as p
           where p.prosecdef
             and pg_catalog.has_function_privilege(session_user, p.oid, 'execute')"""
    ).fetchall()
    assert rows
    for name, config in rows:
        assert 'search_path=""' in (config or []), name


def test_the_role_cannot_read_or_write_a_table_or_call_a_private_function(
    api: Connection,
) -> None:
    for statement in (
        "select * from app.accounts",
        "select * from app.ledger_entries",
        "select * from auth.users",
        "select * from app.sessions",
        "select * from public.markets",  # a view, for client roles only
        "insert into app.ledger_transactions default values",
        "update app.markets set title = 'mine'",
        "delete from app.refresh_tokens",
        "truncate app.wagers",
        "select app._create_user('x@example.test', null, 'x', '{\"role\": \"admin\"}')",
        "select app._set_admin('admin', true)",
        "select app.scheduler_tick()",
        "select * from app.events",
        "insert into app.events (channel, payload) values ('wagerbase_admin', '{}')",
        "select app._read_events(null, 10)",
        "select app._notify('wagerbase_admin', '{}')",
        "select app._start_session(gen_random_uuid(), gen_random_uuid(), 'x')",
        "select public.deposit(100000, 'mine')",  # a client function, without a client's role
        "select console.act_as('admin')",
        "create table public.mine (id int)",
        "create function server.mine() returns int language sql as 'select 1'",
    ):
        refused(api, statement)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_the_role_does_what_the_api_needs_through_server(
    api: Connection, unique: Callable[[str], str]
) -> None:
    email = f"{unique('least')}@example.test"
    row = api.execute("select server.create_user(%s, null, 'argon2-hash')", [email]).fetchone()
    assert row is not None
    user_id = row[0]
    session_id, refresh = uuid.uuid4(), secrets.token_urlsafe(16)
    row = api.execute(
        "select server.start_session(%s, %s, %s)", [user_id, session_id, digest(refresh)]
    ).fetchone()
    assert row is not None and row[0]["email"] == email
    assert api.execute(
        "select * from server.begin_sign_in('192.0.2.1', %s, 10)", [email]
    ).fetchone() == (0, None, user_id, "argon2-hash")
    row = api.execute(
        "select server.refresh_session(%s, %s)", [digest(refresh), digest("next")]
    ).fetchone()
    assert row is not None and row[0]["status"] == "ok"
    row = api.execute("select server.user_json(%s)", [user_id]).fetchone()
    assert row is not None and row[0]["id"] == str(user_id)
    row = api.execute("select server.scheduler_tick()").fetchone()
    assert row is not None and "locked" in row[0]
    api.execute("select server.work_side_effect()")  # null when no job is due
    row = api.execute("select server.read_events(null, 10)").fetchone()  # the hub's relay
    assert row is not None and row[0]["events"] == [] and "snapshot" in row[0]["cursor"]

    # a REST read as anon and a money call as the user, as a request runs them
    with api.transaction():
        api.execute("select set_config('role', 'anon', true)")
        assert api.execute("select count(*) >= 0 from public.markets").fetchone() == (True,)
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "session_id": str(session_id),
    }
    with api.transaction():
        api.execute(
            "select set_config('role', 'authenticated', true),"
            " set_config('request.jwt.claims', %s, true)",
            [json.dumps(claims)],
        )
        row = api.execute("select public.deposit(2500, %s)", [unique("key")]).fetchone()
        assert row is not None
        wallet = api.execute("select balance from public.my_wallet").fetchone()
        assert wallet is not None and wallet[0] >= 2500
    assert api.execute("select current_user").fetchone() == (ROLE,)

    ended = api.execute("select server.end_sessions(%s, %s, 'global')", [user_id, session_id])
    assert ended.fetchone() == (1,)


def test_the_node_serves_accounts_reads_and_money_as_that_role(
    node: Node, unique: Callable[[str], str]
) -> None:
    with httpx.Client(base_url=node.url, headers={"apikey": node.anon_key}) as http:
        email, password = f"{unique('least')}@example.test", "correct horse 1"
        signed_up = http.post("/auth/v1/signup", json={"email": email, "password": password})
        assert signed_up.status_code == 200, signed_up.text
        signed_in = http.post(
            "/auth/v1/token",
            params={"grant_type": "password"},
            json={"email": email, "password": password},
        )
        assert signed_in.status_code == 200, signed_in.text
        refreshed = http.post(
            "/auth/v1/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": signed_in.json()["refresh_token"]},
        )
        assert refreshed.status_code == 200, refreshed.text
        bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}

        markets = http.get("/rest/v1/markets", params={"select": "id,title"})
        assert markets.status_code == 200 and isinstance(markets.json(), list)
        deposit = http.post("/rest/v1/rpc/deposit", json={"amount": 2500}, headers=bearer)
        assert deposit.status_code == 200, deposit.text
        wallet = http.get("/rest/v1/my_wallet", params={"select": "balance"}, headers=bearer)
        assert wallet.status_code == 200 and wallet.json()[0]["balance"] >= 2500

        logout = http.post("/auth/v1/logout", headers=bearer)
        assert logout.status_code == 204, logout.text
        again = http.post(
            "/auth/v1/token",
            params={"grant_type": "refresh_token"},
            json={"refresh_token": refreshed.json()["refresh_token"]},
        )
        assert again.status_code == 400  # the session ended


def test_a_function_added_to_server_later_needs_no_grant_of_its_own(
    fresh_db: Callable[[], str],
) -> None:
    """Another engineer's new `server` function, created after the grants ran, is the API's to
    call at once (default privileges) and after every migrate, and nobody else's."""
    url = fresh_db()
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(
            """create function server.added_later() returns integer
               language sql security definer set search_path = '' as 'select 1'"""
        )

        def who_may() -> list[str]:
            rows = owner.execute(
                """select r.rolname from pg_catalog.pg_roles as r
                   where pg_catalog.has_function_privilege(
                       r.oid, 'server.added_later()'::regprocedure, 'execute')
                     and not r.rolsuper and r.rolname not like 'pg\\_%'"""
            ).fetchall()
            return sorted(name for (name,) in rows)

        assert who_may() == [ROLE]  # the default privileges, at once
        assert owner.execute(
            "select pg_catalog.has_function_privilege('public', 'server.added_later()', 'execute')"
        ).fetchone() == (False,)

        # the grant re-applied by every migrate covers it too (here without the default)
        owner.execute("revoke execute on function server.added_later() from authenticator")
        owner.execute("grant execute on function server.added_later() to anon")
        assert who_may() == ["anon"]
        owner.execute("delete from wagerbase_meta.layers")  # as if rpc/ or policies/ changed
        assert migrate(url).layers_applied
        assert who_may() == [ROLE]
