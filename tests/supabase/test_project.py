"""The engine as a Supabase project (supabase/, written by `wagerbase supabase`:
wagerbase.operations.supabase_project): the folder is current, its snapshots of the code follow
the rules that keep a linked project's history valid, and its migrations, applied in order as the
Supabase CLI applies them, by a role that is not a superuser, on a database shaped like hosted
Supabase (tests/supabase/supabase_shape.sql: Supabase's roles, its own `auth` schema and helpers,
its default grants), give an engine that takes, settles and balances wagers, grants no client more
than on a Wagerbase server, and leaves Supabase's `auth` as it was.

scripts/test runs this on PostgreSQL 15, what hosted Supabase runs, as well as on 18."""

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.attack.matrix import FUNCTIONS, Outcome, PersonaKind
from tests.db.helpers import make_market
from tests.db.personas import persona, service
from tests.pgserver import Connection, PgServer, unique_name
from tests.serving import REPO
from wagerbase.operations import supabase_project
from wagerbase.operations.invariants import violations

SHAPE = Path(__file__).with_name("supabase_shape.sql")
PROJECT_ROLE = "supabase_project"  # Supabase's `postgres`: no superuser (supabase_shape.sql)


def test_the_supabase_folder_is_current() -> None:
    assert supabase_project.differences(REPO) == [], "run `wagerbase supabase` and commit it"


def _copy(into: Path) -> Path:
    for folder in ("sql", "migrations", "rpc", "policies", "supabase"):
        shutil.copytree(REPO / folder, into / folder)
    return into


def _snapshots(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "supabase" / "migrations").glob("*_wagerbase_code_*"))


def test_a_change_to_the_code_is_a_new_snapshot_and_the_old_one_a_stub(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    *_, before = _snapshots(root)
    earlier = len(_snapshots(root))
    with (root / "rpc" / "01_core.sql").open("a") as rpc:
        rpc.write("\n-- a change\n")

    assert supabase_project.differences(root) != []
    supabase_project.write(root)

    assert supabase_project.differences(root) == []
    snapshots = _snapshots(root)
    assert len(snapshots) == earlier + 1 and snapshots[-2] == before
    assert snapshots[-1][:10] == before[:10]
    assert int(snapshots[-1][10:14]) == int(before[10:14]) + 1
    stub = (root / "supabase" / "migrations" / before).read_text()
    assert "select 1;" in stub and "create" not in stub
    assert "-- a change" in (root / "supabase" / "migrations" / snapshots[-1]).read_text()


def test_a_new_migration_comes_before_the_next_snapshot(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    numbers = sorted(int(p.name[:4]) for p in (root / "migrations").glob("*.sql"))
    (root / "migrations" / f"{numbers[-1] + 1:04d}_next.sql").write_text("select 1;\n")
    supabase_project.write(root)

    names = sorted(p.name for p in (root / "supabase" / "migrations").glob("*.sql"))
    assert names[-2] == f"{numbers[-1] + 1:010d}0000_next.sql"
    assert names[-1].startswith(f"{numbers[-1] + 1:010d}0001_wagerbase_code_")


@pytest.fixture
def supabase_db(pg_server: PgServer) -> Iterator[str]:
    """A database shaped like a Supabase project, with supabase/migrations applied in order, each
    in its own transaction, as the project's role."""
    name = unique_name("wb_supabase")
    url = pg_server.create_database(name, template="template0")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SHAPE.read_text())
        for path in sorted((REPO / "supabase" / "migrations").glob("*.sql")):
            with psycopg.connect(url) as conn:
                conn.execute(f"set role {PROJECT_ROLE}")
                conn.execute(path.read_text())
        yield url
    finally:
        pg_server.drop_database(name)


def test_the_project_deploys_as_a_non_superuser_and_leaves_supabase_s_auth_alone(
    supabase_db: str,
) -> None:
    with psycopg.connect(supabase_db, autocommit=True) as conn:
        owners = conn.execute(
            """select p.proname, pg_catalog.pg_get_userbyid(p.proowner)
               from pg_catalog.pg_proc as p where p.pronamespace = 'auth'::regnamespace
               order by 1"""
        ).fetchall()
        app_owner = conn.execute(
            "select pg_catalog.pg_get_userbyid(nspowner) from pg_catalog.pg_namespace"
            " where nspname = 'app'"
        ).fetchone()
    assert owners == [(name, "supabase_auth_admin") for name in ("email", "jwt", "role", "uid")]
    assert app_owner == (PROJECT_ROLE,)


def test_the_project_leaves_supabase_realtime_s_schema_alone(supabase_db: str) -> None:
    """Supabase Realtime owns `realtime` there (migrations/0022 makes nothing in it): its
    messages table keeps its owner and has no trigger of the engine's, its topic() is its own,
    and the engine's probe of a private channel is refused, so a Wagerbase node in front of the
    project refuses private channels (Supabase Realtime serves them: docs/supabase.md)."""
    with psycopg.connect(supabase_db, autocommit=True) as conn:
        owners = conn.execute(
            """select pg_catalog.pg_get_userbyid(c.relowner),
                      (select count(*) from pg_catalog.pg_trigger as t where t.tgrelid = c.oid),
                      (select pg_catalog.pg_get_userbyid(p.proowner) from pg_catalog.pg_proc as p
                       where p.oid = 'realtime.topic()'::regprocedure)
               from pg_catalog.pg_class as c where c.oid = 'realtime.messages'::regclass"""
        ).fetchone()
        assert owners == ("supabase_realtime_admin", 0, "supabase_realtime_admin")
        engine = conn.execute(
            """select p.proname from pg_catalog.pg_proc as p
               where p.pronamespace = 'realtime'::regnamespace order by 1"""
        ).fetchall()
        assert engine == [("topic",)]
        conn.execute("set role authenticator")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "select server.realtime_probe('room:1', %s)", [[uuid.uuid4(), uuid.uuid4()]]
            )


def test_supabase_s_default_grants_give_no_client_more_than_the_engine_grants(
    supabase_db: str,
) -> None:
    with psycopg.connect(supabase_db, autocommit=True) as conn:
        writable = conn.execute(
            """select r.rolname, n.nspname, c.relname
               from pg_catalog.pg_class as c
               join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
               cross join unnest(array['anon', 'authenticated', 'service_role']) as r (rolname)
               cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) as p (privilege)
               where n.nspname in ('app', 'public')
                 and c.relkind in ('r', 'p', 'v', 'm')
                 and has_table_privilege(r.rolname, c.oid, p.privilege)"""
        ).fetchall()
        anon_calls = conn.execute(
            """select p.proname from pg_catalog.pg_proc as p
               where p.pronamespace = 'public'::regnamespace
                 and has_function_privilege('anon', p.oid, 'execute')
               order by 1"""
        ).fetchall()
    assert writable == []
    # exactly what anon may call on a Wagerbase server: the attack matrix's rows for anonymous
    granted = sorted(
        f.name for f in FUNCTIONS if f.outcome(PersonaKind.ANONYMOUS) is not Outcome.DENIED
    )
    assert [name for (name,) in anon_calls] == granted


def test_the_deployed_engine_takes_settles_and_balances_wagers(supabase_db: str) -> None:
    conn: Connection
    with psycopg.connect(supabase_db) as conn:
        admin = persona(conn, "house", admin=True)  # as Supabase Auth writes auth.users
        bettor = persona(conn, "punter")
        assert admin.call("acts_as_admin") is True
        assert bettor.call("acts_as_admin") is False
        assert service(conn).call("acts_as_admin") is True

        market = make_market(admin)
        start = bettor.call("get_wallet")["balance"]
        bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=1000)
        admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
        assert bettor.call("get_wallet")["balance"] == start - 1000 + 1500  # 1000 at 1.5
        bettor.refused("not_admin", "settle_market", market_id=market.id, outcome_id=1)
        conn.commit()

        assert violations(conn) == {}
