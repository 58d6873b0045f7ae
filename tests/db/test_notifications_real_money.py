"""Live messages of the real-money profile (docs/notifications.md): a credit sends the balance
message a deposit sends, and a withdrawal waiting for an admin is announced, and so is its fate.

Events are read from the stream as a node's relay reads them (tests.db.stream), after a commit, so
these tests commit, each in its own fresh database (the `live` and `people` fixtures,
tests/db/conftest.py)."""

from tests.db.personas import Persona
from tests.db.stream import Live, kinds, one

# real money: credits and withdrawals that wait for an admin ---------------------------------------


def test_a_credit_sends_the_balance_message_a_deposit_sends(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    bettor.call("get_wallet")
    live.commit_and_read()
    credited = admin.call(
        "credit_wallet", user_id=bettor.user_id, amount=2500, reference="psp", idempotency_key="p1"
    )
    messages = live.commit_and_read()
    assert kinds(messages) == [("wagerbase_user", "balance")]
    message = one(messages, "wagerbase_user", "balance")
    assert (message["reason"], message["delta"], message["balance"], message["version"]) == (
        "deposit",
        2500,
        12500,
        2,
    )
    assert message["transaction_id"] == credited["transaction_id"]


def test_a_withdrawal_waiting_for_an_admin_is_announced_and_so_is_its_fate(
    live: Live, people: tuple[Persona, Persona, Persona]
) -> None:
    admin, bettor, _ = people
    admin.call("update_settings", settings={"withdrawals_require_approval": True})
    bettor.call("get_wallet")
    live.commit_and_read()

    asked = bettor.call("withdraw", amount=3000)
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "withdrawal_pending"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "withdrawal_requested"),
    ]
    pending = one(messages, "wagerbase_admin", "withdrawal_pending")
    assert (pending["withdrawal_id"], pending["user_id"], pending["amount"]) == (
        asked["withdrawal_id"],
        str(bettor.user_id),
        3000,
    )
    assert one(messages, "wagerbase_user", "withdrawal_requested")["status"] == "pending"
    debit = one(messages, "wagerbase_user", "balance")
    assert (debit["reason"], debit["delta"], debit["balance"]) == (
        "withdrawal_request",
        -3000,
        7000,
    )

    admin.call("approve_withdrawal", withdrawal_id=asked["withdrawal_id"])
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "withdrawal_decided"),
        ("wagerbase_user", "withdrawal_approved"),
    ]
    assert one(messages, "wagerbase_admin", "withdrawal_decided")["status"] == "approved"

    second = bettor.call("withdraw", amount=1000)
    live.commit_and_read()
    admin.call("reject_withdrawal", withdrawal_id=second["withdrawal_id"], reason="checks")
    messages = live.commit_and_read()
    assert kinds(messages) == [
        ("wagerbase_admin", "withdrawal_decided"),
        ("wagerbase_user", "balance"),
        ("wagerbase_user", "withdrawal_rejected"),
    ]
    rejected = one(messages, "wagerbase_user", "withdrawal_rejected")
    assert (rejected["status"], rejected["reason"]) == ("rejected", "checks")
    refund = one(messages, "wagerbase_user", "balance")
    assert (refund["reason"], refund["delta"], refund["balance"]) == (
        "withdrawal_rejection",
        1000,
        7000,
    )
    assert refund["version"] == live.wallet(bettor)[1]
