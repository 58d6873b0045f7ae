"""Wallets: created on first touch with the initial balance, deposits and withdrawals within
bounds, never negative, and idempotent under a key."""

import uuid

from tests.db.helpers import balance, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, claims_for, detail
from tests.pgserver import Connection


def ledger_entries_of(conn: Connection, who: Persona) -> list[tuple[str, int, int, int, int]]:
    return [
        (kind, amount, before, after, version)
        for kind, amount, before, after, version in conn.execute(
            """select kind, amount, balance_before, balance_after, account_version
               from app.ledger_entries where user_id = %s order by id""",
            [who.user_id],
        ).fetchall()
    ]


# get_wallet ---------------------------------------------------------------------------------------


def test_first_touch_creates_the_wallet_with_the_initial_balance_from_grants(
    conn: Connection, bettor: Persona
) -> None:
    grants_before = scalar(conn, "select balance from app.accounts where kind = 'grants'")
    wallet = bettor.call("get_wallet")
    assert wallet == {"user_id": str(bettor.user_id), "balance": 10000, "version": 1}
    assert ledger_entries_of(conn, bettor) == [("grant", 10000, 0, 10000, 1)]
    assert scalar(conn, "select balance from app.accounts where kind = 'grants'") == (
        grants_before - 10000
    )
    assert_invariants(conn)


def test_a_second_get_wallet_grants_nothing_more(conn: Connection, bettor: Persona) -> None:
    bettor.call("get_wallet")
    assert bettor.call("get_wallet") == {
        "user_id": str(bettor.user_id),
        "balance": 10000,
        "version": 1,
    }
    assert len(ledger_entries_of(conn, bettor)) == 1


def test_the_initial_balance_comes_from_config(conn: Connection, bettor: Persona) -> None:
    conn.execute("update app.config set initial_balance = 2500")
    assert bettor.call("get_wallet")["balance"] == 2500


def test_get_wallet_needs_a_signed_in_user(
    conn: Connection, anon: Persona, service_role: Persona
) -> None:
    anon.denied("select public.get_wallet()")
    service_role.refused("not_authenticated", "get_wallet")
    no_subject = Persona(conn, "no subject", None, {"role": "authenticated"})
    no_subject.refused("not_authenticated", "get_wallet")


def test_get_wallet_refuses_a_token_for_a_user_that_does_not_exist_or_was_deleted(
    conn: Connection, bettor: Persona
) -> None:
    ghost_id = uuid.uuid4()
    ghost = Persona(conn, "ghost", ghost_id, claims_for(ghost_id))
    assert detail(ghost.refused("unknown_user", "get_wallet")) == {"user_id": str(ghost_id)}

    conn.execute("update auth.users set deleted_at = now() where id = %s", [bettor.user_id])
    bettor.refused("unknown_user", "get_wallet")
    assert scalar(conn, "select count(*) from app.accounts where user_id = %s", [ghost_id]) == 0
    assert balance(conn, bettor) == 0


def test_a_deleted_user_with_a_wallet_can_no_longer_use_it(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    """unknown_user: "the token names a user that does not exist or was deleted". A token
    issued before the deletion must not keep moving the wallet's money."""
    market = admin.call("create_market", title="After deletion", outcomes=["Yes", "No"])
    bettor.call("get_wallet")
    conn.execute("update auth.users set deleted_at = now() where id = %s", [bettor.user_id])
    bettor.refused("unknown_user", "get_wallet")
    bettor.refused("unknown_user", "deposit", amount=100)
    bettor.refused("unknown_user", "withdraw", amount=100)
    bettor.refused(
        "unknown_user",
        "place_wager",
        market_id=market["id"],
        outcome_id=market["outcomes"][0]["outcome_id"],
        stake=100,
    )
    assert balance(conn, bettor) == 10000


# deposit -----------------------------------------------------------------------------------------


def test_deposit_moves_money_from_the_world_into_the_wallet(
    conn: Connection, bettor: Persona
) -> None:
    world_before = scalar(conn, "select balance from app.accounts where kind = 'world'")
    result = bettor.call("deposit", amount=2550)
    assert result["amount"] == 2550
    assert result["balance"] == 12550
    assert result["version"] == 2
    assert result["user_id"] == str(bettor.user_id)
    assert result["replayed"] is False
    assert ledger_entries_of(conn, bettor) == [
        ("grant", 10000, 0, 10000, 1),
        ("deposit", 2550, 10000, 12550, 2),
    ]
    assert scalar(conn, "select balance from app.accounts where kind = 'world'") == (
        world_before - 2550
    )
    tx = conn.execute(
        "select kind, actor from app.ledger_transactions where id = %s", [result["transaction_id"]]
    ).fetchone()
    assert tx == ("deposit", bettor.user_id)
    assert_invariants(conn)


def test_deposit_refuses_zero_negative_and_missing_amounts(
    conn: Connection, bettor: Persona
) -> None:
    for amount in (0, -1, -10000, None):
        assert detail(bettor.refused("invalid_amount", "deposit", amount=amount)) == {
            "amount": amount
        }
    assert balance(conn, bettor) == 0


def test_deposit_up_to_the_configured_maximum_and_not_one_unit_more(
    conn: Connection, bettor: Persona
) -> None:
    conn.execute("update app.config set max_deposit = 50000")
    error = bettor.refused("amount_above_maximum", "deposit", amount=50001)
    assert detail(error) == {"amount": 50001, "maximum": 50000}
    assert bettor.call("deposit", amount=50000)["balance"] == 60000


def test_the_default_deposit_maximum_is_ten_thousand_units(bettor: Persona) -> None:
    bettor.refused("amount_above_maximum", "deposit", amount=1000001)
    assert bettor.call("deposit", amount=1000000)["balance"] == 1010000


def test_deposit_and_withdraw_are_for_signed_in_users_only(
    anon: Persona, service_role: Persona
) -> None:
    for function in ("deposit", "withdraw"):
        anon.denied(f"select public.{function}(amount => 100)")
        service_role.denied(f"select public.{function}(amount => 100)")


# withdraw ----------------------------------------------------------------------------------------


def test_withdraw_moves_money_from_the_wallet_to_the_world(
    conn: Connection, bettor: Persona
) -> None:
    result = bettor.call("withdraw", amount=2501)
    assert (result["amount"], result["balance"], result["version"]) == (2501, 7499, 2)
    assert ledger_entries_of(conn, bettor)[-1] == ("withdrawal", -2501, 10000, 7499, 2)
    assert_invariants(conn)


def test_withdraw_can_empty_the_wallet_but_never_overdraw_it(
    conn: Connection, bettor: Persona
) -> None:
    error = bettor.refused("insufficient_funds", "withdraw", amount=10001)
    assert detail(error) == {"balance": 10000, "amount": 10001}
    assert bettor.call("withdraw", amount=10000)["balance"] == 0
    assert detail(bettor.refused("insufficient_funds", "withdraw", amount=1)) == {
        "balance": 0,
        "amount": 1,
    }
    assert balance(conn, bettor) == 0
    assert_invariants(conn)


def test_withdraw_refuses_zero_negative_and_missing_amounts(bettor: Persona) -> None:
    for amount in (0, -1, None):
        bettor.refused("invalid_amount", "withdraw", amount=amount)


def test_withdraw_up_to_its_own_configured_maximum(conn: Connection, bettor: Persona) -> None:
    conn.execute("update app.config set max_withdrawal = 500, max_deposit = 1000000")
    assert detail(bettor.refused("amount_above_maximum", "withdraw", amount=501)) == {
        "amount": 501,
        "maximum": 500,
    }
    assert bettor.call("withdraw", amount=500)["balance"] == 9500
    assert bettor.call("deposit", amount=501)["balance"] == 10001


# idempotency -------------------------------------------------------------------------------------


def test_a_replayed_deposit_returns_the_same_transaction_and_moves_money_once(
    conn: Connection, bettor: Persona
) -> None:
    first = bettor.call("deposit", amount=700, idempotency_key="dep-1")
    again = bettor.call("deposit", amount=700, idempotency_key="dep-1")
    assert first["replayed"] is False
    assert again["replayed"] is True
    assert again["transaction_id"] == first["transaction_id"]
    assert {k: v for k, v in again.items() if k != "replayed"} == {
        k: v for k, v in first.items() if k != "replayed"
    }
    assert balance(conn, bettor) == 10700
    assert [e[0] for e in ledger_entries_of(conn, bettor)] == ["grant", "deposit"]
    assert_invariants(conn)


def test_a_replayed_withdrawal_moves_money_once(conn: Connection, bettor: Persona) -> None:
    first = bettor.call("withdraw", amount=300, idempotency_key="wd-1")
    again = bettor.call("withdraw", amount=300, idempotency_key="wd-1")
    assert (again["transaction_id"], again["replayed"]) == (first["transaction_id"], True)
    assert balance(conn, bettor) == 9700


def test_a_key_reused_with_other_arguments_is_refused(conn: Connection, bettor: Persona) -> None:
    bettor.call("deposit", amount=700, idempotency_key="k")
    error = bettor.refused("idempotency_conflict", "deposit", amount=701, idempotency_key="k")
    assert detail(error)["idempotency_key"] == "k"
    assert detail(error)["arguments"] == {"amount": 700}
    bettor.refused("idempotency_conflict", "withdraw", amount=700, idempotency_key="k")
    assert balance(conn, bettor) == 10700


def test_keys_belong_to_one_user(conn: Connection, bettor: Persona, other: Persona) -> None:
    mine = bettor.call("deposit", amount=100, idempotency_key="same")
    theirs = other.call("deposit", amount=200, idempotency_key="same")
    assert theirs["replayed"] is False
    assert theirs["transaction_id"] != mine["transaction_id"]
    assert (balance(conn, bettor), balance(conn, other)) == (10100, 10200)


def test_a_refused_call_leaves_its_key_free(conn: Connection, bettor: Persona) -> None:
    bettor.refused("insufficient_funds", "withdraw", amount=20000, idempotency_key="retry")
    bettor.call("deposit", amount=10000)
    result = bettor.call("withdraw", amount=20000, idempotency_key="retry")
    assert (result["replayed"], result["balance"]) == (False, 0)


def test_an_empty_or_overlong_key_is_refused(conn: Connection, bettor: Persona) -> None:
    assert detail(
        bettor.refused("invalid_idempotency_key", "deposit", amount=100, idempotency_key="")
    ) == {"length": 0}
    bettor.refused("invalid_idempotency_key", "deposit", amount=100, idempotency_key="x" * 201)
    assert bettor.call("deposit", amount=100, idempotency_key="x" * 200)["replayed"] is False
    assert balance(conn, bettor) == 10100
