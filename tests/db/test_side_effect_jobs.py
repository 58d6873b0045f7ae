"""Side effects after settlement (docs/side-effects.md), the outbox: a settlement writes one job per
handler in its own transaction, voiding an unsettled market writes none; bettors read their own
statistics, admins read the jobs, anonymous callers nothing. Persona by persona."""

import psycopg
import pytest

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.db.side_effects import assert_side_effects_match, bet, drain, jobs
from tests.pgserver import Connection

HANDLERS = {"user_stats", "leaderboard", "big_wins", "market_stats"}


# the outbox --------------------------------------------------------------------------------------


def test_a_settlement_writes_one_job_per_handler_in_its_own_transaction(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 500)
    assert jobs(conn, market.id) == []

    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    written = jobs(conn, market.id)
    assert {j["handler"] for j in written} == HANDLERS and len(written) == 4
    assert {(j["event"], j["status"], j["attempts"]) for j in written} == {
        ("settled", "pending", 0)
    }

    # a refused settlement rolls back with everything it would have written
    admin.refused(
        "already_settled", "settle_market", market_id=market.id, outcome_id=market.outcomes[1]
    )
    assert len(jobs(conn, market.id)) == 4


def test_voiding_an_unsettled_market_counts_nothing_and_writes_no_job(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 500)
    admin.call("void_market", market_id=market.id, reason="called off")
    assert jobs(conn, market.id) == []
    assert_side_effects_match(conn)


# who sees what -----------------------------------------------------------------------------------


def test_bettors_read_their_own_statistics_and_admins_read_the_jobs(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    other: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    market = make_market(admin)
    bet(bettor, market.id, market.outcomes[0], 500)
    bet(other, market.id, market.outcomes[1], 500)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    drain(conn)

    assert bettor.rows("select user_id from public.user_stats") == [(bettor.user_id,)]
    assert other.rows("select user_id from public.user_stats") == [(other.user_id,)]
    assert len(admin.rows("select user_id from public.user_stats")) == 2
    assert (
        len(admin.rows("select id from public.side_effect_jobs where market_id = %s", [market.id]))
        == 4
    )
    assert len(service_role.rows("select id from public.side_effect_jobs")) >= 4
    assert bettor.rows("select id from public.side_effect_jobs") == []
    anon.denied("select * from public.user_stats")
    anon.denied("select * from public.side_effect_jobs")
    for who in (anon, bettor, admin):
        who.denied("select app.work_side_effect()")
    assert (
        len(
            anon.rows("select market_id from public.market_stats where market_id = %s", [market.id])
        )
        == 1
    )
    bettor.refused("not_admin", "retry_side_effects")
    with pytest.raises(psycopg.Error) as caught, conn.transaction():
        anon.call("retry_side_effects")
    assert caught.value.sqlstate == "42501"  # not granted to anon at all
