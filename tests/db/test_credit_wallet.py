"""credit_wallet (migration 0016, docs/operations.md): admins and the service role credit a wallet
from the outside world in one balanced transaction, once per key whoever sends it again, never
their own wallet, refusing what they cannot credit and keeping the bettor's responsible-play
rules. Persona by persona, each test rolled back."""

import uuid

from tests.db.helpers import balance
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.real_money import actions, credit, real_money, system_balance
from tests.pgserver import Connection

# credit_wallet ------------------------------------------------------------------------------------


def test_an_admin_credits_a_wallet_from_the_world_in_one_balanced_transaction(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    real_money(conn, admin)
    world = system_balance(conn, "world")
    result = credit(admin, bettor, 250000, "pay-1", " bank transfer 42 ")
    assert {k: result[k] for k in ("user_id", "amount", "balance", "version", "reference")} == {
        "user_id": str(bettor.user_id),
        "amount": 250000,
        "balance": 250000,
        "version": 1,
        "reference": "bank transfer 42",
    }
    assert result["replayed"] is False
    assert system_balance(conn, "world") == world - 250000
    tx = conn.execute(
        "select kind, actor, memo from app.ledger_transactions where id = %s",
        [result["transaction_id"]],
    ).fetchone()
    assert tx == (
        "deposit",
        admin.user_id,
        {
            "source": "credit_wallet",
            "reference": "bank transfer 42",
            "idempotency_key": "pay-1",
            "credited_by": str(admin.user_id),
        },
    )
    [(actor, role, reason, before, after)] = actions(conn, "credit_wallet")
    assert (actor, role, reason, before) == (
        admin.user_id,
        "authenticated",
        "bank transfer 42",
        None,
    )
    assert after["transaction_id"] == result["transaction_id"]
    assert after["idempotency_key"] == "pay-1"
    # the bettor sees it as a deposit in their ledger
    assert bettor.rows("select kind, amount from public.my_ledger") == [("deposit", 250000)]
    assert_invariants(conn)


def test_a_credit_is_sent_once_whoever_sends_its_key_again(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, service_role: Persona
) -> None:
    first = credit(service_role, bettor, 700, "psp-evt-1")
    again = credit(admin, bettor, 700, "psp-evt-1")
    assert (again["replayed"], again["transaction_id"]) == (True, first["transaction_id"])
    assert balance(conn, bettor) == 10700
    for user, amount, reference in (
        (other, 700, "psp-1"),
        (bettor, 701, "psp-1"),
        (bettor, 700, "another"),
    ):
        error = admin.refused(
            "idempotency_conflict",
            "credit_wallet",
            user_id=user.user_id,
            amount=amount,
            reference=reference,
            idempotency_key="psp-evt-1",
        )
        assert detail(error)["operation"] == "credit_wallet"
    # a bettor's own keys live apart from the credits'
    assert bettor.call("deposit", amount=100, idempotency_key="psp-evt-1")["replayed"] is False
    assert (balance(conn, bettor), balance(conn, other)) == (10800, 0)
    assert len(actions(conn, "credit_wallet")) == 1


def test_only_admins_and_the_service_role_credit_wallets(
    conn: Connection, bettor: Persona, other: Persona, anon: Persona
) -> None:
    bettor.refused(
        "not_admin",
        "credit_wallet",
        user_id=bettor.user_id,
        amount=1000000,
        reference="me",
        idempotency_key="mine",
    )
    other.refused(
        "not_admin",
        "credit_wallet",
        user_id=bettor.user_id,
        amount=100,
        reference="gift",
        idempotency_key="gift",
    )
    anon.denied("select public.credit_wallet(%s, 100, 'x', 'y')", [bettor.user_id])
    assert (balance(conn, bettor), balance(conn, other)) == (0, 0)
    assert actions(conn, "credit_wallet") == []


def test_an_admin_never_credits_their_own_wallet(
    conn: Connection, admin: Persona, service_role: Persona
) -> None:
    """Four eyes, as for withdrawals: money from the world into an admin's own wallet needs
    another admin, or the payment integration (the service role)."""
    before = admin.call("get_wallet")["balance"]
    error = admin.refused(
        "own_credit",
        "credit_wallet",
        user_id=admin.user_id,
        amount=1000000,
        reference="to myself",
        idempotency_key="self-credit",
    )
    assert detail(error) == {"user_id": str(admin.user_id)}
    assert balance(conn, admin) == before
    assert actions(conn, "credit_wallet") == []
    credited = service_role.call(
        "credit_wallet",
        user_id=admin.user_id,
        amount=500,
        reference="salary",
        idempotency_key="self-credit",
    )
    assert credited["balance"] == before + 500
    assert_invariants(conn)


def test_credit_wallet_refuses_what_it_cannot_credit(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    ghost = uuid.uuid4()
    error = admin.refused(
        "user_not_found",
        "credit_wallet",
        user_id=ghost,
        amount=100,
        reference="r",
        idempotency_key="k1",
    )
    assert detail(error) == {"user_id": str(ghost)}
    for reference in (None, "", "   ", "x" * 201):
        error = admin.refused(
            "invalid_argument",
            "credit_wallet",
            user_id=bettor.user_id,
            amount=100,
            reference=reference,
            idempotency_key="k2",
        )
        assert detail(error)["argument"] == "reference"
    error = admin.refused(
        "invalid_argument",
        "credit_wallet",
        user_id=bettor.user_id,
        amount=100,
        reference="r",
        idempotency_key=None,
    )
    assert detail(error)["argument"] == "idempotency_key"
    admin.refused(
        "invalid_idempotency_key",
        "credit_wallet",
        user_id=bettor.user_id,
        amount=100,
        reference="r",
        idempotency_key="",
    )
    for amount in (0, -5, None):
        admin.refused(
            "invalid_amount",
            "credit_wallet",
            user_id=bettor.user_id,
            amount=amount,
            reference="r",
            idempotency_key="k3",
        )
    error = admin.refused(
        "amount_above_maximum",
        "credit_wallet",
        user_id=bettor.user_id,
        amount=1000001,
        reference="r",
        idempotency_key="k4",
    )
    assert detail(error) == {"amount": 1000001, "maximum": 1000000}
    conn.execute("update auth.users set deleted_at = now() where id = %s", [bettor.user_id])
    admin.refused(
        "user_not_found",
        "credit_wallet",
        user_id=bettor.user_id,
        amount=100,
        reference="r",
        idempotency_key="k5",
    )
    assert balance(conn, bettor) == 0
    assert actions(conn, "credit_wallet") == []


def test_a_credit_keeps_the_bettor_s_responsible_play_rules(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    """A credit is the bettor's money coming in: their daily deposit limit counts it and bounds
    it, and a self-exclusion refuses it (docs/operations.md says why)."""
    real_money(conn, admin)
    bettor.call("set_daily_deposit_limit", amount=1000)
    credit(admin, bettor, 600, "c1")
    error = admin.refused(
        "daily_deposit_limit_reached",
        "credit_wallet",
        user_id=bettor.user_id,
        amount=401,
        reference="r",
        idempotency_key="c2",
    )
    assert detail(error) == {"limit": 1000, "used": 600, "amount": 401}
    credit(admin, bettor, 400, "c2", "r")
    [(used,)] = bettor.rows("select deposit_used from public.my_play_limits")
    assert used == 1000

    other.call("set_self_exclusion", until="infinity")
    admin.refused(
        "self_excluded",
        "credit_wallet",
        user_id=other.user_id,
        amount=100,
        reference="r",
        idempotency_key="c3",
    )
    assert (balance(conn, bettor), balance(conn, other)) == (1000, 0)
