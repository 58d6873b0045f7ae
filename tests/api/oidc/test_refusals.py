"""What a sign-in with an OpenID Connect provider refuses: a missing or malformed PKCE code, a state
used twice or tampered with, id_tokens that do not check out, a provider that stalls, floods or
cannot be reached, redirect_to outside the allow list, an unknown provider, and an auth code or a
state past its time."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest

from tests.api.oidc.flow import (
    OTHER,
    SITE,
    location,
    redirect_error,
    start,
    through_provider,
)
from tests.serving import Node
from tests.support.gotrue import DATED, auth, error_code
from tests.support.oidc_provider import (
    Provider,
    pkce_pair,
)
from wagerbase.oidc_client import MAX_ANSWER_BYTES, PROVIDER_SECONDS


def test_pkce_exchange_of_a_missing_or_malformed_code_is_refused(node: Node) -> None:
    verifier, _ = pkce_pair()
    for body, refused in (
        ({"auth_code": "x"}, (400, "validation_failed")),
        ({"auth_code": "x" * 5000, "code_verifier": verifier}, (404, "flow_state_not_found")),
        ({"auth_code": "x", "code_verifier": "not a verifier"}, (400, "bad_code_verifier")),
    ):
        answer = auth(node, "POST", "token?grant_type=pkce", json=body, headers=DATED)
        assert (answer.status_code, error_code(answer)) == refused


def test_a_state_is_good_once_and_a_tampered_one_is_refused(node: Node) -> None:
    callback, state = through_provider(node)
    tampered = callback.replace(state, state[:-2] + ("AA" if state[-2:] != "AA" else "BB"))
    refused = location(httpx.get(tampered))
    assert refused.startswith(f"{SITE}?") and "code" not in parse_qs(urlsplit(refused).query)
    assert redirect_error(refused)["error_code"] == "bad_oauth_state"

    assert "access_token=" in location(httpx.get(callback))
    replayed = location(httpx.get(callback))
    assert redirect_error(replayed)["error_code"] == "bad_oauth_state"
    assert "access_token" not in replayed

    missing = location(auth(node, "GET", "callback?code=abc"))
    assert redirect_error(missing)["error_code"] == "bad_oauth_callback"


@pytest.mark.parametrize(
    "tamper",
    [
        {"nonce": "another nonce"},
        {"aud": "someone-else"},
        {"iss": "http://127.0.0.1:1/other-issuer"},
        {"exp": 1_000_000_000, "iat": 999_999_000},
        {"sign_with_other_key": True},
    ],
    ids=["nonce", "audience", "issuer", "expired", "signature"],
)
def test_an_id_token_that_does_not_check_out_signs_nobody_in(
    node: Node, provider: Provider, oidc_database: str, tamper: dict[str, Any]
) -> None:
    provider.sign_with_other_key = bool(tamper.pop("sign_with_other_key", False))
    provider.tamper = tamper
    callback, _ = through_provider(node)
    landed = location(httpx.get(callback))
    assert landed.startswith(f"{SITE}/welcome?")
    assert "access_token" not in landed
    assert redirect_error(landed)["error_code"] == "unexpected_failure"
    with psycopg.connect(oidc_database) as conn:
        found = conn.execute(
            "select count(*) from app.identities where provider_id = %s", [provider.user["sub"]]
        ).fetchone()
    assert found == (0,)


@pytest.mark.parametrize(
    ("delay", "padding"),
    [(PROVIDER_SECONDS + 20, 0), (0, MAX_ANSWER_BYTES)],
    ids=["silent", "too-large"],
)
def test_a_provider_that_stalls_or_floods_is_a_clear_failure(
    node: Node, provider: Provider, delay: float, padding: int
) -> None:
    """The node waits for a provider at most PROVIDER_SECONDS, and reads at most
    MAX_ANSWER_BYTES of it: the user is sent back with an error, no session."""
    provider.token_delay, provider.token_padding = delay, padding
    callback, _ = through_provider(node)
    landed = location(httpx.get(callback, timeout=PROVIDER_SECONDS + 15))
    assert redirect_error(landed)["error_code"] == "unexpected_failure"
    assert "access_token" not in landed


def test_redirect_to_outside_the_allow_list_goes_to_the_site_url(node: Node) -> None:
    _, challenge = pkce_pair()
    for asked, expected in (
        ("https://evil.test/steal", SITE),
        (f"{OTHER}/elsewhere", SITE),
        (f"{OTHER}/callback/app", f"{OTHER}/callback/app"),
        (f"{SITE}/any/path", f"{SITE}/any/path"),
    ):
        callback, _ = through_provider(
            node, redirect_to=asked, code_challenge=challenge, code_challenge_method="s256"
        )
        landed = location(httpx.get(callback))
        assert landed.startswith(f"{expected}?code="), (asked, landed)


def test_an_unknown_provider_is_refused_as_gotrue_refuses_it(node: Node) -> None:
    answer = start(node, provider="nobody")
    assert (answer.status_code, error_code(answer)) == (400, "validation_failed")
    assert answer.json()["msg"] == "Unsupported provider: Provider nobody could not be found"
    bad = start(node, code_challenge="short", code_challenge_method="s256")
    assert (bad.status_code, error_code(bad)) == (400, "validation_failed")
    long = start(node, redirect_to=f"{SITE}/" + "a" * 5000)
    assert (long.status_code, error_code(long)) == (400, "validation_failed")


def test_a_provider_that_cannot_be_reached_is_a_502(node: Node) -> None:
    for _ in range(2):  # the second from the failure the node remembers
        answer = start(node, provider="down")
        assert (answer.status_code, error_code(answer)) == (502, "unexpected_failure")


def test_an_auth_code_or_a_state_past_its_time_is_refused(node: Node, oidc_database: str) -> None:
    verifier, challenge = pkce_pair()
    callback, _ = through_provider(node, code_challenge=challenge, code_challenge_method="s256")
    code = parse_qs(urlsplit(location(httpx.get(callback))).query)["code"][0]
    late_callback, late_state = through_provider(node)
    with psycopg.connect(oidc_database, autocommit=True) as conn:
        conn.execute(
            "update app.oidc_flows set authenticated_at = now() - interval '6 minutes'"
            " where auth_code_digest = encode(sha256(%s::bytea), 'hex')",
            [code.encode()],
        )
        conn.execute(
            "update app.oidc_flows set created_at = now() - interval '11 minutes'"
            " where state_digest = encode(sha256(%s::bytea), 'hex')",
            [late_state.encode()],
        )
    expired = auth(
        node, "POST", "token?grant_type=pkce", json={"auth_code": code, "code_verifier": verifier}
    )
    assert (expired.status_code, error_code(expired)) == (422, "flow_state_expired")
    assert redirect_error(location(httpx.get(late_callback)))["error_code"] == "bad_oauth_state"
