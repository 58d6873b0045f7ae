"""/rest/v1/rpc over raw HTTP: results as scalars and rows, by POST and GET; the bad-input
matrix (every refusal a 4xx with PostgREST's four-key body, nothing written); bad tokens refused
with 401 PGRST301; and the OpenAPI document listing the routes."""

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from tests.api.rest.callers import Caller
from tests.api.rest.callers import refused as _refused
from tests.serving import Node


def test_rpc_results_scalars_rows_and_get(
    wagered: tuple[Caller, list[int]], service: Caller
) -> None:
    caller, _ = wagered
    wallet = caller.rpc("get_wallet")
    assert wallet.status_code == 200
    assert wallet.headers["content-type"] == "application/json; charset=utf-8"
    assert wallet.json()["balance"] == 10000 - 600

    summary = service.http.get("/rest/v1/rpc/house_summary")
    assert summary.status_code == 200 and isinstance(summary.json(), dict)
    headed = service.http.head("/rest/v1/rpc/house_summary")
    assert headed.status_code == 200 and headed.content == b""
    rows = service.http.get(
        "/rest/v1/rpc/admin_list_pending_wagers",
        params={"market_id": "-1", "select": "wager_id", "limit": "5"},
    )
    assert rows.status_code == 200 and rows.json() == []
    _refused(
        service.http.get("/rest/v1/rpc/admin_list_pending_wagers", params={"market_id": "x"}),
        400,
        "22P02",
    )
    # a volatile function cannot be called read only
    body = _refused(caller.http.get("/rest/v1/rpc/get_wallet"), 405, "PGRST101")
    assert body["message"].startswith("The function public.get_wallet is volatile")
    # filters apply to functions that return rows, not to scalars
    _refused(service.http.get("/rest/v1/rpc/house_summary", params={"x": "eq.1"}), 400, "PGRST100")


STAKE_MATRIX: list[tuple[Any, int, str]] = [
    (1.5, 400, "22P02"),
    (-5, 400, "PT400"),
    (0, 400, "PT400"),
    (1e30, 400, "22003"),
    (10**30, 400, "22003"),
    ("abc", 400, "22P02"),
    ("", 400, "22P02"),
    (True, 400, "22P02"),
    ({"minor": 5}, 400, "22P02"),
    ([5], 400, "22P02"),
]


def test_bad_rpc_input_is_refused_and_writes_nothing(
    bettor: Callable[[], Caller], market: dict[str, Any]
) -> None:
    caller = bettor()
    outcome = market["outcomes"][0]["outcome_id"]
    before = caller.rpc("get_wallet").json()["balance"]
    entries = len(caller.get("my_ledger").json())

    def place(stake: Any) -> httpx.Response:
        return caller.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": stake}
        )

    for stake, status, code in STAKE_MATRIX:
        body = _refused(place(stake), status, code)
        if code == "PT400":
            assert body["message"] == "invalid_amount"

    raw = "/rest/v1/rpc/place_wager"
    json_headers = {"Content-Type": "application/json"}
    for text in ("{", "[1, 2]", '"stake"', "null", "12", '{"stake": NaN}', "\xff"):
        content = text.encode("latin-1")
        _refused(caller.http.post(raw, content=content, headers=json_headers), 400, "PGRST102")
    _refused(caller.rpc("place_wager", {"market_id": market["id"]}), 404, "PGRST202")
    _refused(caller.rpc("place_wager", {"stake": 5, "x": 1}), 404, "PGRST202")
    unknown = _refused(caller.rpc("place_wagers", {"stake": 5}), 404, "PGRST202")
    assert (
        unknown["message"]
        == "Could not find the function public.place_wagers(stake) in the schema cache"
    )
    _refused(
        caller.rpc("place_wager", {"market_id": "one", "outcome_id": outcome, "stake": 5}),
        400,
        "22P02",
    )
    _refused(
        caller.rpc(
            "place_wager",
            {"market_id": market["id"], "outcome_id": outcome, "stake": 5, "expected_odds": "x"},
        ),
        400,
        "22P02",
    )
    _refused(caller.rpc("deposit", {"amount": 5, "idempotency_key": "nul\u0000"}), 400, "22P05")
    _refused(caller.rpc("deposit", {"amount": 10**9}), 400, "PT400")
    _refused(
        caller.rpc("deposit", {"amount": 5}, headers={"Content-Profile": "app"}), 406, "PGRST106"
    )

    assert caller.rpc("get_wallet").json()["balance"] == before
    assert caller.get("my_wagers").json() == []
    assert len(caller.get("my_ledger").json()) == entries


def _unsigned(claims: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize("token_for", ["expired", "other_secret", "alg_none", "garbage", "role"])
def test_bad_tokens_are_401_pgrst301(node: Node, token_for: str) -> None:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
    }
    makers: dict[str, Callable[[], str]] = {
        "expired": lambda: jwt.encode({**claims, "exp": now - 10}, node.jwt_secret, "HS256"),
        "other_secret": lambda: jwt.encode(claims, "x" * 48, "HS256"),
        "alg_none": lambda: _unsigned(claims),
        "garbage": lambda: "not.a.token",
        "role": lambda: jwt.encode({**claims, "role": "postgres"}, node.jwt_secret, "HS256"),
    }
    token = makers[token_for]()
    headers = {"apikey": node.anon_key, "Authorization": f"Bearer {token}"}
    for answer in (
        httpx.get(f"{node.url}/rest/v1/markets", headers=headers),
        httpx.post(f"{node.url}/rest/v1/rpc/deposit", headers=headers, json={"amount": 5}),
    ):
        _refused(answer, 401, "PGRST301")
        assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_openapi_lists_the_rest_routes(node: Node) -> None:
    document = httpx.get(f"{node.url}/schema/openapi.json").json()
    view = document["paths"]["/rest/v1/{name}"]
    call = document["paths"]["/rest/v1/rpc/{fn}"]
    assert {"get", "head", "post", "patch", "put", "delete"} <= set(view)
    assert {"get", "head", "post"} <= set(call)
    assert any(p["name"] == "name" and p["in"] == "path" for p in view["get"]["parameters"])
    assert any(p["name"] == "fn" and p["in"] == "path" for p in call["post"]["parameters"])
    schema = call["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
