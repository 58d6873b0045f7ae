"""/api/balance: the caller's balance (the wallet is made on the first call, with the sign-up
grant if any), and a deposit into it (bounded per call; recorded in the ledger)."""

from typing import Any

from litestar import HttpMethod, Request, Response, get, post, route

from wagerbase.money_calls import MoneyCalls
from wagerbase.money_calls import idempotency_key as new_key
from wagerbase.surfaces.betmarket.answers import (
    BUSY,
    SIGNED_IN,
    UNKNOWN,
    Balance,
    Deposited,
    major,
    spec,
)
from wagerbase.surfaces.betmarket.auth import requires_sign_in
from wagerbase.surfaces.betmarket.bodies import DepositRequest, minor_units
from wagerbase.surfaces.betmarket.calls import (
    IDEMPOTENCY_KEY,
    SQL_DEPOSIT,
    SQL_WALLET,
    change,
    replayed_header,
)
from wagerbase.tokens import Claims


@route(
    "/balance",
    http_method=[HttpMethod.OPTIONS],
    include_in_schema=False,
    sync_to_thread=False,
)
def balance_options() -> Response[None]:
    """OPTIONS /api/balance. Litestar's automatic answer lists the methods of only one of the
    handlers of a path, so this path of two handlers answers for itself."""
    return Response(None, status_code=204, headers={"Allow": "GET, OPTIONS, POST"})


@get(
    "/balance",
    guards=[requires_sign_in],
    summary="My balance (the wallet is made on the first call, with the sign-up grant if any)",
    responses={**SIGNED_IN, **BUSY},
)
async def get_balance(
    request: Request[Any, Any, Any], money_calls: MoneyCalls, claims: Claims
) -> Balance:
    # a money call: the first call makes the wallet and credits its grant, a commit like any other
    wallet = await change(
        money_calls,
        request,
        claims,
        "get_wallet",
        SQL_WALLET,
        {},
        check="read your balance (GET /api/balance)",
    )
    return Balance(user_id=str(wallet["user_id"]), balance=major(wallet["balance"]))


@post(
    "/balance",
    status_code=200,
    guards=[requires_sign_in],
    summary="Deposit into my balance (bounded per call; recorded in the ledger)",
    responses={
        **BUSY,
        **SIGNED_IN,
        400: spec("Malformed amount, not positive, or above the per-call maximum"),
        409: spec("The Idempotency-Key was used for another amount"),
        **UNKNOWN,
    },
)
async def deposit(
    request: Request[Any, Any, Any],
    data: DepositRequest,
    claims: Claims,
    money_calls: MoneyCalls,
    idempotency_key: str | None = IDEMPOTENCY_KEY,
) -> Response[Deposited]:
    params: dict[str, Any] = {"amount": minor_units(data.amount)}
    params["idempotency_key"], source = new_key(idempotency_key)
    result = await change(
        money_calls, request, claims, "deposit", SQL_DEPOSIT, params, key_source=source
    )
    deposited = Deposited(
        user_id=str(result["user_id"]),
        amount_added=major(result["amount"]),
        new_balance=major(result["balance"]),
    )
    return Response(deposited, status_code=200, headers=replayed_header(result))
