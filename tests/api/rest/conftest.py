"""The callers of the /rest/v1 tests over raw HTTP: the service role, the anon key and new bettors,
and a market with one bettor's three wagers (module-scoped, as each module's reads need them)."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.api.rest.callers import Caller
from tests.api.rest.callers import client_for as _client
from tests.serving import Node


@pytest.fixture(scope="module")
def service(node: Node) -> Iterator[Caller]:
    with _client(node, node.service_key) as http:
        yield Caller(http)


@pytest.fixture(scope="module")
def anon(node: Node) -> Iterator[Caller]:
    with _client(node, node.anon_key) as http:
        yield Caller(http)


@pytest.fixture
def bettor(node: Node) -> Iterator[Callable[[], Caller]]:
    opened: list[httpx.Client] = []

    def make() -> Caller:
        email = f"rest_{uuid.uuid4().hex[:10]}@example.test"
        answer = httpx.post(
            f"{node.url}/auth/v1/signup",
            headers={"apikey": node.anon_key},
            json={"email": email, "password": "correct horse 1"},
        )
        assert answer.status_code == 200, answer.text
        session = answer.json()
        http = _client(node, session["access_token"])
        opened.append(http)
        return Caller(http, session["user"]["id"])

    yield make
    for http in opened:
        http.close()


@pytest.fixture(scope="module")
def market(service: Caller) -> dict[str, Any]:
    answer = service.rpc(
        "create_market", {"title": "Grammar Derby", "outcomes": ["Red", "Blue", "Green, Ltd."]}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def wagered(node: Node, market: dict[str, Any]) -> Iterator[tuple[Caller, list[int]]]:
    """One bettor with three wagers on `market` (stakes 100, 200, 300 on the three outcomes)."""
    email = f"rest_{uuid.uuid4().hex[:10]}@example.test"
    session = httpx.post(
        f"{node.url}/auth/v1/signup",
        headers={"apikey": node.anon_key},
        json={"email": email, "password": "correct horse 1"},
    ).json()
    with _client(node, session["access_token"]) as http:
        caller = Caller(http, session["user"]["id"])
        outcomes = [o["outcome_id"] for o in market["outcomes"]]
        for outcome, stake in zip(outcomes, (100, 200, 300), strict=True):
            placed = caller.rpc(
                "place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": stake}
            )
            assert placed.status_code == 200, placed.text
        yield caller, outcomes
