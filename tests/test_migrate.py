"""The migrator, on a throw-away repository root with tiny migrations (not the real SQL)."""

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.pgserver import PgServer, unique_name
from wagerbase.operations.migrate import MigrateResult, MigrationError, migrate

MIGRATION_1 = """\
create table applied_log (what text not null);
insert into applied_log values ('0001');
create table accounts (id bigint primary key, balance bigint not null);
select pg_sleep(0.3); -- keeps concurrent migrators overlapping
"""

MIGRATION_2 = """\
insert into applied_log values ('0002');
alter table accounts add column note text not null default '100%';
"""

# `%` in plain SQL and inside a dollar-quoted PL/pgSQL body must reach PostgreSQL untouched.
RPC = """\
create or replace function describe_account(v_id bigint) returns text
language plpgsql stable
as $$
begin
    raise notice 'account % is 100%% here', v_id;
    return format('%s: %s%%', v_id, 50);
end
$$;

create or replace view percent_check as
select 'a%s%%b' as literal, 'x%y' like '%\\%%' escape '\\' as matched;
"""

POLICIES = "insert into applied_log values ('policies');\n"


def write_repo(root: Path, roles_sql: str = "select 1;\n") -> Path:
    for folder in ("sql", "migrations", "rpc", "policies"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "sql" / "roles.sql").write_text(roles_sql)
    (root / "sql" / "auth.sql").write_text("create schema if not exists auth;\n")
    (root / "migrations" / "0001_accounts.sql").write_text(MIGRATION_1)
    (root / "migrations" / "0002_note.sql").write_text(MIGRATION_2)
    (root / "rpc" / "accounts.sql").write_text(RPC)
    (root / "policies" / "grants.sql").write_text(POLICIES)
    return root


def log_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select what, count(*) from applied_log group by what").fetchall()
    return {str(what): int(count) for what, count in rows}


@pytest.fixture
def empty_db(pg_server: PgServer) -> Iterator[Callable[[], str]]:
    """A factory of new, empty databases (copies of template0)."""
    created: list[str] = []

    def make() -> str:
        name = unique_name("wb_migrate")
        created.append(name)
        return pg_server.create_database(name, template="template0")

    yield make
    for name in created:
        pg_server.drop_database(name)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_repo(tmp_path / "repo")


def test_second_run_applies_nothing(empty_db: Callable[[], str], repo: Path) -> None:
    url = empty_db()

    first = migrate(url, root=repo)
    second = migrate(url, root=repo)

    assert first.applied == ["0001_accounts.sql", "0002_note.sql"]
    assert first.layers_applied
    assert second.applied == []
    assert not second.layers_applied
    assert log_counts(url) == {"0001": 1, "0002": 1, "policies": 1}
    with psycopg.connect(url) as conn:
        versions = conn.execute("select version from wagerbase_meta.migrations order by 1")
        assert [row[0] for row in versions] == ["0001", "0002"]
        assert conn.execute("select describe_account(7)").fetchone() == ("7: 50%",)
        assert conn.execute("select * from percent_check").fetchone() == ("a%s%%b", True)


def test_layers_reapply_when_changed_or_after_a_migration(
    empty_db: Callable[[], str], repo: Path
) -> None:
    url = empty_db()
    migrate(url, root=repo)

    (repo / "rpc" / "accounts.sql").write_text(RPC + "\n-- a comment changes the checksum\n")
    changed = migrate(url, root=repo)
    (repo / "migrations" / "0003_more.sql").write_text("insert into applied_log values ('0003');\n")
    migrated = migrate(url, root=repo)

    assert (changed.applied, changed.layers_applied) == ([], True)
    assert (migrated.applied, migrated.layers_applied) == (["0003_more.sql"], True)
    assert log_counts(url) == {"0001": 1, "0002": 1, "0003": 1, "policies": 3}


def test_edited_migration_is_refused(empty_db: Callable[[], str], repo: Path) -> None:
    url = empty_db()
    migrate(url, root=repo)
    (repo / "migrations" / "0002_note.sql").write_text(MIGRATION_2 + "-- edited\n")
    (repo / "migrations" / "0003_more.sql").write_text("insert into applied_log values ('0003');\n")

    with pytest.raises(MigrationError, match="edited after it was applied") as raised:
        migrate(url, root=repo)

    assert raised.value.file == "migrations/0002_note.sql"
    assert log_counts(url) == {"0001": 1, "0002": 1, "policies": 1}  # 0003 rolled back


def test_missing_recorded_migration_is_refused(empty_db: Callable[[], str], repo: Path) -> None:
    url = empty_db()
    migrate(url, root=repo)
    (repo / "migrations" / "0002_note.sql").unlink()

    with pytest.raises(MigrationError, match="0002_note is recorded"):
        migrate(url, root=repo)


def test_failing_file_is_reported_with_its_line(empty_db: Callable[[], str], repo: Path) -> None:
    url = empty_db()
    (repo / "migrations" / "0003_broken.sql").write_text(
        "insert into applied_log values ('0003');\n\nselect 1 frum accounts;\n"
    )

    with pytest.raises(MigrationError) as raised:
        migrate(url, root=repo)

    error = raised.value
    assert (error.file, error.sqlstate, error.line) == ("migrations/0003_broken.sql", "42601", 3)
    assert "select 1 frum accounts;" in str(error)
    with psycopg.connect(url) as conn:  # everything rolled back, even 0001 and 0002
        assert conn.execute("select to_regclass('applied_log')").fetchone() == (None,)


def test_concurrent_migrators_apply_each_migration_once(
    empty_db: Callable[[], str], repo: Path
) -> None:
    url = empty_db()
    results = run_concurrently([(url, repo), (url, repo)])

    applied = sorted(len(result.applied) for result in results)
    assert applied == [0, 2]
    assert log_counts(url) == {"0001": 1, "0002": 1, "policies": 1}


def test_concurrent_migrations_of_two_databases_share_roles(
    empty_db: Callable[[], str], pg_server: PgServer, tmp_path: Path
) -> None:
    """Roles belong to the cluster: two databases migrating at once both create the same role."""
    role = unique_name("wb_role")
    roles_sql = f"""\
do $roles$
begin
    if not exists (select from pg_catalog.pg_roles where rolname = '{role}') then
        perform pg_sleep(0.5);
        create role {role} nologin;
    end if;
end
$roles$;
"""
    repo_a = write_repo(tmp_path / "a", roles_sql)
    repo_b = write_repo(tmp_path / "b", roles_sql)
    url_a, url_b = empty_db(), empty_db()
    try:
        results = run_concurrently([(url_a, repo_a), (url_b, repo_b)])
        assert [len(result.applied) for result in results] == [2, 2]
    finally:
        with pg_server.admin() as admin:
            admin.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def run_concurrently(jobs: list[tuple[str, Path]]) -> list[MigrateResult]:
    """Start one migrator per job at the same moment; re-raise the first failure."""
    barrier = threading.Barrier(len(jobs))
    results: list[MigrateResult | None] = [None] * len(jobs)
    failures: list[BaseException] = []

    def run(index: int, url: str, root: Path) -> None:
        try:
            barrier.wait()
            results[index] = migrate(url, root=root)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(index, url, root))
        for index, (url, root) in enumerate(jobs)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if failures:
        raise failures[0]
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]
