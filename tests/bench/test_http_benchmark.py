"""The HTTP benchmark (bench/over_http.py), run tiny: it places wagers through both surfaces with
several client processes, counts every answer, and checks the books against those answers.

A smoke test of the benchmark's machinery, not a measurement: it asserts what the report holds
and that every answer was a 2xx whose wager the database has, never how fast anything was. It runs
on the suite's server (BENCH_DATABASE_URL) and in this process, so that its node logs in as
authenticator with the password every node of the suite uses (tests/serving.py).
"""

import json
from pathlib import Path

import pytest

from bench import over_http
from tests.pgserver import PgServer

TINY = [
    "-c", "2", "-j", "1", "-T", "1", "-s", "1",
    "--users", "12", "--markets", "4",
    "--http-clients", "3", "--http-duration", "1", "--warmup", "0.3",
    "--client-processes", "2", "--workers", "1", "--seed", "7",
    "--label", "smoke",
]  # fmt: skip


def test_every_answer_is_counted_and_every_2xx_is_a_wager(
    pg_server: PgServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_DATABASE_URL", pg_server.url)

    code = over_http.main([*TINY, "--results-dir", str(tmp_path)])

    (path,) = tmp_path.glob("*-smoke.json")
    result = json.loads(path.read_text())
    assert code == 0, result["problems"]
    assert result["ok"] and result["problems"] == []
    assert result["ledger_check_failures"] == {}
    for key in ("tpcb", "place_wager", "ratios", "engine", "machine", "server", "node", "client"):
        assert key in result
    # the house games' runs: every call left its bets (bench/house.py checks it), 100 an auto-bet
    assert result["house"]["auto_bet"]["bets_per_call"] == 100
    assert result["place_wager"]["spread"]["transactions"] > 0
    scenarios = {item["scenario"]: item for item in result["http"]}
    assert set(scenarios) == {
        f"{surface}-c3-{markets}"
        for surface in ("rest", "betmarket")
        for markets in ("spread", "hot")
    }
    for name, item in scenarios.items():
        two_xx = "200" if item["surface"] == "rest" else "201"
        assert list(item["statuses"]) == [two_xx], (name, item["non_2xx_samples"])
        assert item["errors"] == {}, name
        assert item["answers"] == item["requests_sent"] > 0, name
        assert item["wagers_placed"] == item["statuses"][two_xx], name
        assert item["wagers_not_accepted"] == 0, name
        assert item["connections"] == 3, name
        for figure in ("tps", "ratio_to_in_database_spread", "client_cpu_us_per_request"):
            assert figure in item, (name, figure)
        assert set(item["latency_ms"]) >= {"p50", "p90", "p99", "max"}, name
        assert item["problems"] == [], name
