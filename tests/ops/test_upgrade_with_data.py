"""An upgrade over real data: a database migrated with the SQL of an earlier main, holding what
players and admins made there (house bets of every game, a rotated seed pair, wagers and a
settled market), migrates with this tree's SQL, keeps every row, passes the engine's invariant
checks, and takes the new games at once.

A migration that adds a check or runs an update is tried by the other tests only on an empty
database; this one gives it rows. The earlier SQL is read from git (`git archive`): the test is
skipped in a checkout without that commit (a shallow clone)."""

import subprocess
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import psycopg
import pytest

from tests.db.helpers import make_market
from tests.db.personas import Persona, persona
from tests.pgserver import PgServer, unique_name
from tests.serving import REPO
from wagerbase.operations.invariants import violations
from wagerbase.operations.migrate import migrate

# main when the house games' first three were all it had (issue 18), before auth by mail and
# OIDC, plinko, keno, mines, auto-bet and the house side effects (migrations 0024-0030)
EARLIER = "d4ff742"
SQL_FOLDERS = ("migrations", "rpc", "policies", "sql")


@pytest.fixture
def earlier_sql(tmp_path: Path) -> Path:
    archive = subprocess.run(
        ["git", "archive", "--format=tar", EARLIER, *SQL_FOLDERS],
        cwd=REPO,
        capture_output=True,
    )
    if archive.returncode != 0:
        pytest.skip(f"this checkout lacks {EARLIER}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path


@pytest.fixture
def database(pg_server: PgServer) -> Iterator[str]:
    name = unique_name("wb_upgrade")
    yield pg_server.create_database(name, template="template0")
    pg_server.drop_database(name)


def play_there(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """What the earlier engine's players and admins did: every game it had, a rotation, wagers
    and a settlement."""
    boss = persona(conn, "boss", admin=True)
    players: list[Persona] = [persona(conn, "anna"), persona(conn, "bobby")]
    for who in players:
        who.call("deposit", amount=100_000)
        for _ in range(4):
            who.call("play_dice", stake=100, target=5000, over=True)
            who.call("play_limbo", stake=100, target_multiplier=200)
            who.call("play_roulette", stake=100, bet="red")
        who.call("rotate_seed")
        who.call("play_dice", stake=100, target=5000, over=False)
    market = make_market(boss)
    players[0].call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=500)
    players[1].call("place_wager", market_id=market.id, outcome_id=market.outcomes[1], stake=700)
    boss.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    conn.commit()


def counts(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[object, ...]:
    row = conn.execute(
        """select (select count(*) from app.house_bets), (select count(*) from app.seed_pairs),
                  (select count(*) from app.wagers), (select count(*) from app.ledger_entries),
                  (select sum(balance) from app.accounts)"""
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_database_of_an_earlier_main_migrates_with_its_rows_and_its_books(
    earlier_sql: Path, database: str
) -> None:
    migrate(database, root=earlier_sql)
    with psycopg.connect(database) as conn:
        play_there(conn)
        before = counts(conn)

    result = migrate(database)

    assert result.applied[-1] == sorted((REPO / "migrations").glob("*.sql"))[-1].name
    with psycopg.connect(database) as conn:
        assert counts(conn) == before
        settled = conn.execute(
            "select count(*) from app.house_bets where ggr is distinct from stake - payout"
        ).fetchone()
        assert settled == (0,)  # every earlier bet got its GGR (migration 0030)
        assert {k: v for k, v in violations(conn).items() if v} == {}
        newcomer = persona(conn, "carla")
        newcomer.call("deposit", amount=10_000)
        assert newcomer.call("play_plinko", stake=100, rows=8, risk="low")["status"] == "settled"
        assert newcomer.call("open_mines", stake=100, mines=3)["status"] == "created"
        conn.commit()
