"""Reads cannot starve money calls, sign-in or /health: the node's pool is split into lanes, each a
reserved share, and within the read lane anonymous callers, and any one client, hold only part of
it. Every wait for a place is bounded: past it, a clear 429 with Retry-After on every surface (the
report: a 504 after 30 s, then /health 503 and sign-in down).

The node here has tiny lanes (two read places, one of them for anonymous callers, one per client;
one place for the server's own work; a wait of one second); a read is held for as long as the test
wants by a lock of the test's (anon has no lock_timeout or statement_timeout in this database)."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.attack.abuse import (
    WAIT,
    anon,
    bearer,
    eventually,
    holding,
    http,
    role_settings,
    sign_in,
    signed_up,
    waiting_on_a_lock,
)
from tests.serving import Node
from tests.support.gotrue import error_code

NODE_ENV = {
    "WAGERBASE_POOL_READS": "2",
    "WAGERBASE_ANON_READS": "1",
    "WAGERBASE_CLIENT_READS": "1",
    "WAGERBASE_POOL_SERVER": "1",
    "WAGERBASE_POOL_WAIT": "1",
}


@pytest.fixture(scope="module")
def node(own: Node) -> Node:
    return own


def too_busy(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["retry-after"] == "1"


def test_anonymous_reads_cannot_take_the_node(node: Node) -> None:
    email, token = signed_up(node)

    def held_read() -> httpx.Response:
        with http(node) as client:
            return client.get("/rest/v1/settlements", headers=anon(node))

    with (
        role_settings(node, "anon", statement_timeout="0", lock_timeout="0"),
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        # settlements: what the bettor does below never reads them
        with holding(node, "lock table app.settlements in access exclusive mode"):
            held = pool.submit(held_read)
            eventually(lambda: waiting_on_a_lock(node, "settlements") == 1, "a read held")
            with http(node) as same, http(node, "127.0.0.2") as other:
                # the same client: its one place is taken
                again = same.get("/rest/v1/settlements", headers=anon(node))
                too_busy(again)
                assert again.json()["code"] == "PT429"
                assert "from this client" in again.json()["message"]
                # another anonymous client: the anonymous share is taken
                crowd = other.get("/rest/v1/settlements", headers=anon(node))
                too_busy(crowd)
                assert "anonymous" in crowd.json()["message"]
                games = other.get("/api/games")
                too_busy(games)
                assert "anonymous" in games.json()["error"]
                # a signed-in bettor reads, signs in again and deposits; /health answers
                wallet = same.get("/rest/v1/my_wallet", headers=bearer(node, token))
                assert wallet.status_code == 200, wallet.text
                assert sign_in(node, email)
                deposit = same.post(
                    "/rest/v1/rpc/deposit", headers=bearer(node, token), json={"amount": 100}
                )
                assert deposit.status_code == 200, deposit.text
                health = same.get("/health")
                assert health.status_code == 200
                reads = health.json()["pool"]["reads"]
                assert reads["in_use"] == 1 and reads["refused"] >= 3, reads
        assert held.result(timeout=WAIT).status_code == 200


def test_the_server_s_own_lane_refuses_past_its_wait_in_gotrue_s_words(node: Node) -> None:
    """One sign-in held by a lock holds the server's one place: another is refused (429,
    over_request_rate_limit) after the wait, while /health still answers."""
    email, _ = signed_up(node)

    def held_sign_in() -> httpx.Response:
        with http(node) as client:
            return client.post(
                "/auth/v1/token?grant_type=password",
                headers=anon(node),
                json={"email": email, "password": "correct horse 1"},
            )

    with ThreadPoolExecutor(max_workers=1) as pool:
        with holding(node, "lock table app.sign_in_attempts in access exclusive mode"):
            held = pool.submit(held_sign_in)
            eventually(lambda: waiting_on_a_lock(node, "begin_sign_in") == 1, "a sign-in held")
            with http(node) as client:
                refused = client.post(
                    "/auth/v1/token?grant_type=password",
                    headers=anon(node),
                    json={"email": email, "password": "correct horse 1"},
                )
                too_busy(refused)
                assert error_code(refused) == "over_request_rate_limit"
                assert client.get("/health").status_code == 200
        assert held.result(timeout=WAIT).status_code == 200
