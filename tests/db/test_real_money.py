"""Play money or real money (migration 0016, docs/operations.md): the settings an admin changes
with update_settings, the sign-up grant, self-service deposits switched off, credits from the
outside world (credit_wallet) and withdrawals that wait for an admin, persona by persona, the
allowed and the refused paths, each test rolled back."""

import uuid
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tests.db.helpers import balance, scalar
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.pgserver import Connection

PLAY_MONEY = {
    "initial_balance": 10000,
    "max_deposit": 1000000,
    "max_withdrawal": 1000000,
    "self_service_deposits": True,
    "withdrawals_require_approval": False,
    "anonymous_sign_ins": False,
}
REAL_MONEY = {
    "initial_balance": 0,
    "self_service_deposits": False,
    "withdrawals_require_approval": True,
}


def settings(conn: Connection) -> dict[str, Any]:
    row = conn.execute(
        "select initial_balance, max_deposit, max_withdrawal, self_service_deposits,"
        " withdrawals_require_approval, anonymous_sign_ins from app.config"
    ).fetchone()
    assert row is not None
    return dict(zip(PLAY_MONEY, row, strict=True))


def system_balance(conn: Connection, kind: str) -> int:
    return scalar(conn, "select balance from app.accounts where kind = %s", [kind])


def actions(conn: Connection, action: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select actor, actor_role, reason, before, after from app.admin_actions"
        " where action = %s order by id",
        [action],
    ).fetchall()


def real_money(conn: Connection, admin: Persona) -> None:
    admin.call("update_settings", settings=REAL_MONEY)


# settings ----------------------------------------------------------------------------------------


def test_the_defaults_are_play_money_and_everyone_reads_them(
    conn: Connection, anon: Persona, bettor: Persona, admin: Persona, service_role: Persona
) -> None:
    assert settings(conn) == PLAY_MONEY
    for who in (anon, bettor, admin, service_role):
        [(shown,)] = who.rows("select to_jsonb(s) from public.settings as s")
        assert {key: shown[key] for key in PLAY_MONEY} == PLAY_MONEY, who.name


def test_an_admin_changes_settings_and_the_log_keeps_before_and_after(
    conn: Connection, admin: Persona, anon: Persona
) -> None:
    after = admin.call("update_settings", settings={"max_deposit": 5000, **REAL_MONEY})
    expected = {**PLAY_MONEY, **REAL_MONEY, "max_deposit": 5000}
    assert after == expected
    assert settings(conn) == expected
    [(shown,)] = anon.rows("select to_jsonb(s) from public.settings as s")
    assert {key: shown[key] for key in PLAY_MONEY} == expected
    assert actions(conn, "update_settings") == [
        (admin.user_id, "authenticated", None, PLAY_MONEY, expected)
    ]
    # only what is named changes
    assert admin.call("update_settings", settings={"initial_balance": 2500}) == {
        **expected,
        "initial_balance": 2500,
    }


def test_the_service_role_may_change_settings_and_bettors_may_not(
    conn: Connection, bettor: Persona, anon: Persona, service_role: Persona
) -> None:
    bettor.refused("not_admin", "update_settings", settings=REAL_MONEY)
    anon.denied("select public.update_settings('{\"initial_balance\": 0}')")
    assert settings(conn) == PLAY_MONEY
    assert actions(conn, "update_settings") == []
    assert service_role.call("update_settings", settings=REAL_MONEY) == {**PLAY_MONEY, **REAL_MONEY}
    assert actions(conn, "update_settings")[0][:2] == (None, "service_role")


def test_update_settings_refuses_unknown_keys_and_wrong_values_and_changes_nothing(
    conn: Connection, admin: Persona
) -> None:
    wrong: list[tuple[Any, str]] = [
        ({"odds_tolerance": 0.5}, "odds_tolerance"),  # not one of the money settings
        ({"initial_balance": 0, "free_money": True}, "free_money"),
        ({"initial_balance": "100"}, "initial_balance"),  # a string is never converted
        ({"initial_balance": "0x10"}, "initial_balance"),
        ({"initial_balance": -1}, "initial_balance"),
        ({"initial_balance": 10.5}, "initial_balance"),
        ({"initial_balance": None}, "initial_balance"),
        ({"max_deposit": 0}, "max_deposit"),
        ({"max_withdrawal": 10**15 + 1}, "max_withdrawal"),
        ({"self_service_deposits": "false"}, "self_service_deposits"),
        ({"withdrawals_require_approval": 1}, "withdrawals_require_approval"),
        ({"anonymous_sign_ins": "true"}, "anonymous_sign_ins"),
        ({}, "settings"),
        ([{"initial_balance": 0}], "settings"),
        (Jsonb("real-money"), "settings"),  # a JSON string, not an object
        (Jsonb(5), "settings"),
    ]
    for value, argument in wrong:
        error = admin.refused("invalid_argument", "update_settings", settings=value)
        assert detail(error)["argument"] == argument, value
    error = admin.refused("invalid_argument", "update_settings", settings=None)
    assert detail(error)["argument"] == "settings"
    assert settings(conn) == PLAY_MONEY
    assert actions(conn, "update_settings") == []
    # the edges are accepted
    admin.call("update_settings", settings={"initial_balance": 0, "max_deposit": 10**15})
    admin.call("update_settings", settings={"max_withdrawal": 1})
    assert settings(conn)["max_withdrawal"] == 1
    # a whole number written with a fraction is that number (JSON does not tell 100 from 100.0)
    assert admin.call("update_settings", settings={"max_deposit": 100.0})["max_deposit"] == 100
    assert settings(conn)["max_deposit"] == 100


def test_the_two_profiles_are_what_the_docs_say(conn: Connection, admin: Persona) -> None:
    real = conn.execute("select app.settings_profile('real-money')").fetchone()
    play = conn.execute("select app.settings_profile('play-money')").fetchone()
    assert real == (REAL_MONEY,)
    assert play == ({key: PLAY_MONEY[key] for key in REAL_MONEY},)
    admin.call("update_settings", settings=REAL_MONEY)
    admin.call("update_settings", settings=play[0])
    assert settings(conn) == PLAY_MONEY


# the sign-up grant --------------------------------------------------------------------------------


def test_under_the_real_money_profile_a_new_wallet_gets_nothing(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    grants = system_balance(conn, "grants")
    real_money(conn, admin)
    assert bettor.call("get_wallet") == {"user_id": str(bettor.user_id), "balance": 0, "version": 0}
    assert (
        scalar(conn, "select count(*) from app.ledger_entries where user_id = %s", [bettor.user_id])
        == 0
    )
    assert system_balance(conn, "grants") == grants
    assert_invariants(conn)


# self-service deposits ----------------------------------------------------------------------------


def test_with_self_service_deposits_off_a_bettor_s_deposit_is_refused(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("deposit", amount=500, idempotency_key="before")
    admin.call("update_settings", settings={"self_service_deposits": False})
    error = bettor.refused("deposits_disabled", "deposit", amount=1000000, idempotency_key="after")
    assert error.sqlstate == "PT403"
    assert detail(error) == {"amount": 1000000}
    assert balance(conn, bettor) == 10500
    # a deposit accepted before the switch replays; the refused call left its key free
    assert bettor.call("deposit", amount=500, idempotency_key="before")["replayed"] is True
    admin.call("update_settings", settings={"self_service_deposits": True})
    assert bettor.call("deposit", amount=1000000, idempotency_key="after")["replayed"] is False
    assert balance(conn, bettor) == 1010500
    assert_invariants(conn)


def test_withdrawals_stay_open_when_deposits_are_off(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    admin.call("update_settings", settings={"self_service_deposits": False})
    assert bettor.call("withdraw", amount=400)["balance"] == 9600


# credit_wallet ------------------------------------------------------------------------------------


def credit(who: Persona, user: Persona, amount: int, key: str, reference: str = "psp-1") -> Any:
    return who.call(
        "credit_wallet",
        user_id=user.user_id,
        amount=amount,
        reference=reference,
        idempotency_key=key,
    )


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
