"""Withdrawals that wait for an admin (migration 0016, docs/operations.md): with approval on, a
withdrawal leaves the wallet at once and waits; an admin approves it once (the money leaves) or
rejects it with a reason (it comes back), never their own; admins list the pending ones oldest
first; turning approval off leaves them to be decided; the pending-withdrawals account cannot go
negative. Persona by persona, each test rolled back."""

from typing import Any

import psycopg

from tests.db.helpers import balance, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.db.real_money import actions, credit, real_money, system_balance
from tests.pgserver import Connection

# withdrawals that wait for an admin ---------------------------------------------------------------


def request(bettor: Persona, amount: int, key: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = bettor.call("withdraw", amount=amount, idempotency_key=key)
    return result


def withdrawal(conn: Connection, withdrawal_id: int) -> tuple[Any, ...]:
    row = conn.execute(
        "select status, amount, reason, decided_by from app.withdrawals where id = %s",
        [withdrawal_id],
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_with_approval_on_a_withdrawal_leaves_the_wallet_at_once_and_waits(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    admin.call("update_settings", settings={"withdrawals_require_approval": True})
    world = system_balance(conn, "world")
    result = request(bettor, 2500, "w-1")
    assert {k: result[k] for k in ("amount", "balance", "version", "status", "replayed")} == {
        "amount": 2500,
        "balance": 7500,
        "version": 2,
        "status": "pending",
        "replayed": False,
    }
    assert withdrawal(conn, result["withdrawal_id"]) == ("pending", 2500, None, None)
    assert system_balance(conn, "withdrawals_pending") == 2500
    assert system_balance(conn, "world") == world
    kind = conn.execute(
        "select kind from app.ledger_transactions where id = %s", [result["transaction_id"]]
    ).fetchone()
    assert kind == ("withdrawal_request",)

    query = "select id, user_id, amount, status from public.my_withdrawals"
    mine = [(result["withdrawal_id"], bettor.user_id, 2500, "pending")]
    assert bettor.rows(query) == mine
    assert bettor.rows(query.replace("my_withdrawals", "withdrawals")) == mine
    assert other.rows(query.replace("my_withdrawals", "withdrawals")) == []
    assert admin.rows(query.replace("my_withdrawals", "withdrawals")) == mine
    assert admin.rows(query) == []
    assert_invariants(conn)

    # a replay is the same withdrawal, once; the wallet never goes below zero
    again = request(bettor, 2500, "w-1")
    assert (again["replayed"], again["withdrawal_id"]) == (True, result["withdrawal_id"])
    error = bettor.refused("insufficient_funds", "withdraw", amount=7501)
    assert detail(error) == {"balance": 7500, "amount": 7501}
    assert scalar(conn, "select count(*) from app.withdrawals") == 1
    assert balance(conn, bettor) == 7500


def test_an_admin_approves_a_withdrawal_once_and_the_money_leaves(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    real_money(conn, admin)
    credit(admin, bettor, 5000, "in")
    pending = request(bettor, 3000)
    world = system_balance(conn, "world")
    approved = admin.call("approve_withdrawal", withdrawal_id=pending["withdrawal_id"])
    assert (approved["status"], approved["amount"], approved["user_id"]) == (
        "approved",
        3000,
        str(bettor.user_id),
    )
    assert withdrawal(conn, pending["withdrawal_id"]) == ("approved", 3000, None, admin.user_id)
    assert system_balance(conn, "world") == world + 3000
    assert system_balance(conn, "withdrawals_pending") == 0
    assert balance(conn, bettor) == 2000
    [(actor, _, _, before, after)] = actions(conn, "approve_withdrawal")
    assert (actor, before["status"], after["status"]) == (admin.user_id, "pending", "approved")

    for function, arguments in (
        ("approve_withdrawal", {}),
        ("reject_withdrawal", {"reason": "too late"}),
    ):
        error = admin.refused(
            "withdrawal_not_pending", function, withdrawal_id=pending["withdrawal_id"], **arguments
        )
        assert detail(error) == {"withdrawal_id": pending["withdrawal_id"], "status": "approved"}
    assert balance(conn, bettor) == 2000
    assert_invariants(conn)


def test_an_admin_rejects_a_withdrawal_with_a_reason_and_the_money_comes_back(
    conn: Connection, admin: Persona, bettor: Persona, service_role: Persona
) -> None:
    admin.call("update_settings", settings={"withdrawals_require_approval": True})
    pending = request(bettor, 4000)
    for reason in (None, "", "  ", "x" * 501):
        admin.refused(
            "invalid_argument",
            "reject_withdrawal",
            withdrawal_id=pending["withdrawal_id"],
            reason=reason,
        )
    rejected = service_role.call(
        "reject_withdrawal", withdrawal_id=pending["withdrawal_id"], reason=" documents missing "
    )
    assert (rejected["status"], rejected["reason"]) == ("rejected", "documents missing")
    assert balance(conn, bettor) == 10000
    assert system_balance(conn, "withdrawals_pending") == 0
    assert bettor.rows("select kind, amount from public.my_ledger order by id") == [
        ("grant", 10000),
        ("withdrawal_request", -4000),
        ("withdrawal_rejection", 4000),
    ]
    assert bettor.rows("select status, reason from public.my_withdrawals") == [
        ("rejected", "documents missing")
    ]
    service_role.refused(
        "withdrawal_not_pending", "approve_withdrawal", withdrawal_id=pending["withdrawal_id"]
    )
    assert_invariants(conn)


def test_only_admins_decide_withdrawals_and_never_their_own_approval(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    other: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    admin.call("update_settings", settings={"withdrawals_require_approval": True})
    pending = request(bettor, 1000)["withdrawal_id"]
    for who in (bettor, other):
        who.refused("not_admin", "approve_withdrawal", withdrawal_id=pending)
        who.refused("not_admin", "reject_withdrawal", withdrawal_id=pending, reason="no")
        who.refused("not_admin", "admin_list_pending_withdrawals")
    anon.denied("select public.approve_withdrawal(%s)", [pending])
    anon.denied("select public.reject_withdrawal(%s, 'no')", [pending])
    anon.denied("select * from public.admin_list_pending_withdrawals()")
    assert withdrawal(conn, pending) == ("pending", 1000, None, None)

    # an admin's own withdrawal needs another admin (or the service role) to approve it
    own = request(admin, 500)["withdrawal_id"]
    error = admin.refused("own_withdrawal", "approve_withdrawal", withdrawal_id=own)
    assert detail(error) == {"withdrawal_id": own, "user_id": str(admin.user_id)}
    assert service_role.call("approve_withdrawal", withdrawal_id=own)["status"] == "approved"
    error = admin.refused("withdrawal_not_found", "approve_withdrawal", withdrawal_id=own + 1000)
    assert detail(error) == {"withdrawal_id": own + 1000}
    admin.refused("withdrawal_not_found", "reject_withdrawal", withdrawal_id=-1, reason="x")
    assert_invariants(conn)


def test_admins_list_the_pending_withdrawals_oldest_first(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, service_role: Persona
) -> None:
    admin.call("update_settings", settings={"withdrawals_require_approval": True})
    first = request(bettor, 100)["withdrawal_id"]
    second = request(other, 200)["withdrawal_id"]
    third = request(bettor, 300)["withdrawal_id"]
    admin.call("approve_withdrawal", withdrawal_id=second)
    query = (
        "select withdrawal_id, username, amount, wallet_balance"
        " from public.admin_list_pending_withdrawals()"
    )
    expected = [(first, "bettor", 100, 9600), (third, "bettor", 300, 9600)]
    assert admin.rows(query) == expected
    assert service_role.rows(query) == expected
    summary = admin.call("house_summary")
    assert (summary["withdrawals_pending"], summary["pending_withdrawals"]) == (400, 2)


def test_turning_approval_off_leaves_pending_withdrawals_to_be_decided(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    admin.call("update_settings", settings={"withdrawals_require_approval": True})
    pending = request(bettor, 1500)["withdrawal_id"]
    admin.call("update_settings", settings={"withdrawals_require_approval": False})
    direct = request(bettor, 500)
    assert "withdrawal_id" not in direct
    assert direct["balance"] == 8000
    assert system_balance(conn, "withdrawals_pending") == 1500
    admin.call("reject_withdrawal", withdrawal_id=pending, reason="closed account")
    assert balance(conn, bettor) == 9500
    assert_invariants(conn)


def test_with_approval_off_withdraw_answers_as_it_always_did(
    conn: Connection, bettor: Persona
) -> None:
    result = request(bettor, 2501)
    assert set(result) == {"transaction_id", "user_id", "amount", "balance", "version", "replayed"}
    assert scalar(conn, "select count(*) from app.withdrawals") == 0
    assert system_balance(conn, "withdrawals_pending") == 0


def test_the_pending_withdrawals_account_cannot_go_negative(conn: Connection) -> None:
    """Invariant kept twice: the functions move only what a pending withdrawal holds, and the
    named check refuses a negative balance of the account."""
    account = scalar(conn, "select id from app.accounts where kind = 'withdrawals_pending'")
    world = scalar(conn, "select id from app.accounts where kind = 'world'")
    error = None
    try:
        with conn.transaction():
            conn.execute(
                "select app._post_transaction('withdrawal_approval', %s, array[-1, 1]::bigint[])",
                [[account, world]],
            )
    except psycopg.Error as caught:
        error = caught
    assert error is not None and "accounts_balance_non_negative" in str(error)
