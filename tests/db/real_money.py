"""What the real-money tests share (migration 0016, docs/operations.md): the two profiles of
settings, the settings as the superuser reads them, a system account's balance, the admin log of
an action, the real-money profile switched on, and a credit from the outside world."""

from typing import Any

from tests.db.helpers import scalar
from tests.db.personas import Persona
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


def credit(who: Persona, user: Persona, amount: int, key: str, reference: str = "psp-1") -> Any:
    return who.call(
        "credit_wallet",
        user_id=user.user_id,
        amount=amount,
        reference=reference,
        idempotency_key=key,
    )
