"""The web app shows plinko's and keno's payout tables before a bet (web/src/casino/games/
tables.ts): they are the engine's, bucket for bucket and hit count for hit count, so that what a
player is shown is what a bet pays."""

import re

from tests.pgserver import Connection
from tests.serving import REPO
from tests.support.house_tables import KENO_RISKS, PLINKO_RISKS, PLINKO_ROWS

TABLES = REPO / "web" / "src" / "casino" / "games" / "tables.ts"
_CONSTANT = re.compile(r"export const (\w+)\b[^=]*= \{(.*?)\n\}", re.S)
_RISK = re.compile(r"^  (\w+): \{(.*?)^  \},", re.S | re.M)
_ROW = re.compile(r"^    (\d+): \[([\d, ]*)\],", re.M)


def web_tables() -> dict[str, dict[str, dict[int, list[int]]]]:
    """Each constant of tables.ts: risk -> rows (or picks) -> hundredths."""
    found: dict[str, dict[str, dict[int, list[int]]]] = {}
    for name, body in _CONSTANT.findall(TABLES.read_text()):
        found[name] = {
            risk: {int(n): [int(v) for v in values.split(",")] for n, values in _ROW.findall(rows)}
            for risk, rows in _RISK.findall(body)
        }
    return found


def engine_table(conn: Connection, function: str, n: int, risk: str) -> list[int]:
    row = conn.execute(f"select app.{function}(%s, %s)", [n, risk]).fetchone()
    assert row is not None
    return list(row[0])


def test_the_web_app_shows_plinko_s_tables_as_the_engine_pays_them(conn: Connection) -> None:
    shown = web_tables()["PLINKO"]
    assert set(shown) == set(PLINKO_RISKS)
    for risk in PLINKO_RISKS:
        assert set(shown[risk]) == set(PLINKO_ROWS), risk
        for rows in PLINKO_ROWS:
            assert shown[risk][rows] == engine_table(conn, "_plinko_multipliers", rows, risk)


def test_the_web_app_shows_keno_s_tables_as_the_engine_pays_them(conn: Connection) -> None:
    shown = web_tables()["KENO"]
    assert set(shown) == set(KENO_RISKS)
    for risk in KENO_RISKS:
        assert set(shown[risk]) == set(range(1, 11)), risk
        for picks in range(1, 11):
            assert shown[risk][picks] == engine_table(conn, "_keno_multipliers", picks, risk)
