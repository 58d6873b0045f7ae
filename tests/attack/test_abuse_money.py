"""Money from nowhere (issue 12, finding 4): on play money any bettor may deposit 10,000.00 per
call with nothing behind it, and every sign-up is granted 100.00. Under the real-money profile
(`wagerbase settings profile real-money`, docs/operations.md), over HTTP as an attacker would:
a new sign-up's wallet holds nothing, a deposit of 10,000.00 (and any other) is refused with
`deposits_disabled` (403) and moves nothing; money comes in only by a credit from the operator.
The node is shared with other tests: the profile is put back to play money at the end."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.attack.abuse import sign_up_named
from tests.serving import Node
from wagerbase.operations.cli import main

PASSWORD = "correct horse 1"
TIMEOUT = 120  # argon2 on a busy machine; a deadline, not a measure


@pytest.fixture
def real_money(node: Node, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", node.database_url)
    assert main(["settings", "profile", "real-money"]) == 0
    try:
        yield
    finally:
        assert main(["settings", "profile", "play-money"]) == 0


def signed_up(node: Node, name: str) -> dict[str, str]:
    """A new user made through /auth/v1/signup, signed in: the headers of their requests."""
    email = sign_up_named(node, name)
    token = httpx.post(
        f"{node.url}/auth/v1/token?grant_type=password",
        headers={"apikey": node.anon_key},
        json={"email": email, "password": PASSWORD},
        timeout=TIMEOUT,
    )
    assert token.status_code == 200, token.text
    return {"apikey": node.anon_key, "Authorization": f"Bearer {token.json()['access_token']}"}


def rpc(node: Node, headers: dict[str, str], function: str, **arguments: Any) -> httpx.Response:
    return httpx.post(
        f"{node.url}/rest/v1/rpc/{function}", headers=headers, json=arguments, timeout=TIMEOUT
    )


def test_under_the_real_money_profile_money_does_not_come_from_nowhere(
    node: Node, unique: Callable[[str], str], real_money: None
) -> None:
    bettor = signed_up(node, unique("mallory"))
    wallet = rpc(node, bettor, "get_wallet")
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["balance"] == 0  # no sign-up grant

    for amount, key in ((1000000, "ten-thousand"), (1, "one")):
        refused = rpc(node, bettor, "deposit", amount=amount, idempotency_key=key)
        assert refused.status_code == 403, refused.text
        assert (refused.json()["code"], refused.json()["message"]) == ("PT403", "deposits_disabled")

    mine = httpx.get(f"{node.url}/rest/v1/my_wallet", headers=bettor, timeout=TIMEOUT)
    assert [row["balance"] for row in mine.json()] == [0]
    ledger = httpx.get(f"{node.url}/rest/v1/my_ledger", headers=bettor, timeout=TIMEOUT)
    assert ledger.json() == []

    # what the bettor reads says so, so the web app hides the deposit form
    shown = httpx.get(f"{node.url}/rest/v1/settings", headers=bettor, timeout=TIMEOUT).json()[0]
    assert (shown["initial_balance"], shown["self_service_deposits"]) == (0, False)

    # the operator's payment integration (the service key) is how money comes in
    user_id = wallet.json()["user_id"]
    service = {"apikey": node.anon_key, "Authorization": f"Bearer {node.service_key}"}
    credited = rpc(
        node,
        service,
        "credit_wallet",
        user_id=user_id,
        amount=2500,
        reference="psp payment",
        idempotency_key=unique("psp"),
    )
    assert credited.status_code == 200, credited.text
    assert credited.json()["balance"] == 2500


def test_a_credit_without_its_key_is_refused_never_given_one_that_would_credit_it_twice(
    node: Node, unique: Callable[[str], str]
) -> None:
    """credit_wallet's key is required: over REST a null key is refused, not replaced by a key
    the API makes (a payment integration's retry with a null key would be credited again)."""
    bettor = signed_up(node, unique("nokey"))
    user_id = rpc(node, bettor, "get_wallet").json()["user_id"]
    service = {"apikey": node.anon_key, "Authorization": f"Bearer {node.service_key}"}
    before = rpc(node, bettor, "get_wallet").json()["balance"]
    for _ in range(2):
        refused = rpc(
            node,
            service,
            "credit_wallet",
            user_id=user_id,
            amount=2500,
            reference="psp 42",
            idempotency_key=None,
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["message"] == "invalid_argument"
    missing = rpc(node, service, "credit_wallet", user_id=user_id, amount=2500, reference="psp 42")
    assert missing.status_code == 404, missing.text  # no such function without the key
    assert rpc(node, bettor, "get_wallet").json()["balance"] == before
