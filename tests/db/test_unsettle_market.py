"""unsettle_market (docs/corrections.md): every payout reversed and the market closed again; only
admins correct, each refusal with its key; a reversal happens once only (not even the superuser
repeats it); a market settled without wagers unsettles with no money moved.

Each final balance is compared with the same market settled directly with the right winner (in a
savepoint that is rolled back), and the ledger stays balanced. Persona by persona."""

import psycopg

from tests.db.corrections import money, stake
from tests.db.helpers import balance, escrow, make_market, scalar, superuser_refused, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.pgserver import Connection

# unsettle ----------------------------------------------------------------------------------------


def test_unsettle_reverses_every_payout_and_returns_the_market_to_closed(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, anon: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w1, w2 = stake(bettor, market.id, x, 500), stake(bettor, market.id, x, 300)
    w3 = stake(other, market.id, y, 700)
    before = money(conn, market.id, [bettor, other])
    version = scalar(conn, "select version from app.markets where id = %s", [market.id])
    settled = admin.call("settle_market", market_id=market.id, outcome_id=x)
    assert balance(conn, bettor) > before["users"]["bettor"]

    result = admin.call("unsettle_market", market_id=market.id, reason="wrong result")

    assert money(conn, market.id, [bettor, other]) == before
    assert escrow(conn, market.id) == 1500
    assert result["reverses_transaction_id"] == settled["ledger_transaction_id"]
    assert result["reversed"] == settled["total_paid"] and result["debt"] == 0
    row = conn.execute(
        "select status, winning_outcome_id, version from app.markets where id = %s", [market.id]
    ).fetchone()
    # settle_market closed it (+1) and settled it (+1); unsettle_market bumps it once more
    assert row == ("closed", None, version + 3)
    for wager_id in (w1, w2, w3):
        assert (wager(conn, wager_id)["settlement"], wager(conn, wager_id)["payout"]) == (
            "open",
            None,
        )
    assert anon.rows("select * from public.settlements where market_id = %s", [market.id]) == []
    history = conn.execute(
        "select winning_outcome_id, total_paid, ledger_transaction_id from app.settlement_history"
        " where market_id = %s",
        [market.id],
    ).fetchall()
    assert history == [(x, settled["total_paid"], settled["ledger_transaction_id"])]
    link = conn.execute(
        "select kind, original_transaction_id, reversal_transaction_id from app.ledger_reversals"
        " where market_id = %s",
        [market.id],
    ).fetchall()
    assert link == [
        ("unsettle_market", settled["ledger_transaction_id"], result["ledger_transaction_id"])
    ]
    assert (
        scalar(
            conn,
            "select count(*) from app.admin_actions where action = 'unsettle_market'"
            " and market_id = %s and reason = 'wrong result'",
            [market.id],
        )
        == 1
    )
    assert_invariants(conn)

    # settled again afterwards, like any closed market
    admin.call("settle_market", market_id=market.id, outcome_id=y)
    assert_invariants(conn)


def test_only_admins_correct_and_each_refusal_has_its_key(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona, service_role: Persona
) -> None:
    market = make_market(admin)
    x, y = market.outcomes
    w = stake(bettor, market.id, x, 500)
    for function, arguments in (
        ("unsettle_market", {"market_id": market.id, "reason": "r"}),
        ("resettle_market", {"market_id": market.id, "outcome_id": y, "reason": "r"}),
        ("void_wager", {"wager_id": w, "reason": "r"}),
    ):
        bettor.refused("not_admin", function, **arguments)
        anon.denied(
            f"select public.{function}({', '.join(f'{k} => %s' for k in arguments)})",
            list(arguments.values()),
        )

    admin.refused("not_settled", "unsettle_market", market_id=market.id, reason="r")
    admin.refused("not_settled", "resettle_market", market_id=market.id, outcome_id=y, reason="r")
    admin.refused("market_not_found", "unsettle_market", market_id=-1, reason="r")
    admin.refused("wager_not_found", "void_wager", wager_id=-1, reason="r")
    admin.refused("invalid_argument", "void_wager", wager_id=w, reason="  ")

    admin.call("settle_market", market_id=market.id, outcome_id=x)
    admin.refused("invalid_argument", "unsettle_market", market_id=market.id, reason=None)
    admin.refused(
        "invalid_argument",
        "resettle_market",
        market_id=market.id,
        outcome_id=x,
        reason="same winner",
    )
    elsewhere = make_market(admin)
    admin.refused(
        "outcome_not_found",
        "resettle_market",
        market_id=market.id,
        outcome_id=elsewhere.outcomes[0],
        reason="r",
    )
    admin.refused("wager_not_voidable", "void_wager", wager_id=w, reason="settled")

    service_role.call("resettle_market", market_id=market.id, outcome_id=y, reason="by service")
    assert wager(conn, w)["settlement"] == "lost"
    assert_invariants(conn)


# once only ---------------------------------------------------------------------------------------


def test_a_reversal_happens_once_only(conn: Connection, admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    x, _ = market.outcomes
    stake(bettor, market.id, x, 500)
    settled = admin.call("settle_market", market_id=market.id, outcome_id=x)
    admin.call("unsettle_market", market_id=market.id, reason="first")
    admin.refused("not_settled", "unsettle_market", market_id=market.id, reason="second")
    # even below the functions, the same transaction cannot be reversed twice
    superuser_refused(
        conn,
        "already_reversed",
        "select app._record_reversal('unsettle_market', %s, %s, null, 'again')",
        [settled["ledger_transaction_id"], market.id],
    )
    with conn.transaction(), conn.cursor() as cursor:
        try:
            with conn.transaction():
                cursor.execute(
                    "insert into app.ledger_reversals (kind, original_transaction_id, market_id,"
                    " reason) values ('unsettle_market', %s, %s, 'raw')",
                    [settled["ledger_transaction_id"], market.id],
                )
            raise AssertionError("a second reversal was accepted")
        except psycopg.errors.UniqueViolation:
            pass
    assert_invariants(conn)


def test_a_market_settled_without_wagers_unsettles_with_no_money_moved(
    conn: Connection, admin: Persona
) -> None:
    market = make_market(admin)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    result = admin.call("unsettle_market", market_id=market.id, reason="wrong market")
    assert result["ledger_transaction_id"] is None and result["reverses_transaction_id"] is None
    assert (
        scalar(conn, "select count(*) from app.ledger_reversals where market_id = %s", [market.id])
        == 1
    )
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[1])
    assert_invariants(conn)
