"""A lock wait is bounded by the role's lock_timeout (anon 1 s, authenticated 2 s): past it, the
request is refused with a 429 and Retry-After, on every surface, and nothing was done, so the same
money call with the same idempotency key goes through once the lock is gone. Before, a request
behind a lock waited as long as the lock was held, holding its connection."""

import uuid

import httpx
import pytest

from tests.attack.abuse import anon, bearer, holding, http, signed_up, superuser
from tests.serving import Node


@pytest.fixture(scope="module")
def node(own: Node) -> Node:
    return own


def refused_for_now(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["retry-after"] == "1"


def test_a_read_behind_a_lock_is_refused_for_now_on_every_surface(node: Node) -> None:
    with holding(node, "lock table app.markets in access exclusive mode"), http(node) as client:
        rest = client.get("/rest/v1/markets", headers=anon(node))
        games = client.get("/api/games")
    refused_for_now(rest)
    assert rest.json()["code"] == "55P03"
    assert "lock_timeout" in rest.json()["hint"]
    refused_for_now(games)
    assert games.json()["error"].startswith("Busy: ")


def test_a_money_call_behind_a_lock_is_refused_then_goes_through_once(node: Node) -> None:
    email, token = signed_up(node)
    first = httpx.post(  # the wallet is made on first use: now it exists, to be locked
        f"{node.url}/rest/v1/rpc/deposit", headers=bearer(node, token), json={"amount": 1}
    )
    assert first.status_code == 200, first.text
    with superuser(node) as conn:
        row = conn.execute("select app._find_user(%s)::text", [email]).fetchone()
    assert row is not None
    user_id = row[0]
    key = f"deposit-{uuid.uuid4()}"
    deposit = {"amount": 500, "idempotency_key": key}
    with (
        holding(node, "select 1 from app.accounts where user_id = %s for update", [user_id]),
        http(node) as client,
    ):
        rest = client.post("/rest/v1/rpc/deposit", headers=bearer(node, token), json=deposit)
        api = client.post(
            "/api/balance", headers={"Authorization": f"Bearer {token}"}, json={"amount": 1}
        )
    refused_for_now(rest)
    assert rest.json()["code"] == "55P03"
    refused_for_now(api)
    assert api.json()["error"].startswith("Busy: ")
    with http(node) as client:
        again = client.post("/rest/v1/rpc/deposit", headers=bearer(node, token), json=deposit)
        replay = client.post("/rest/v1/rpc/deposit", headers=bearer(node, token), json=deposit)
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is False
    assert replay.json()["replayed"] is True
    with superuser(node) as conn:
        deposits = conn.execute(
            "select count(*) from app.idempotency_keys where key = %s", [key]
        ).fetchone()
    assert deposits == (1,)
