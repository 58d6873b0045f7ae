"""Sign-in with an OpenID Connect provider (GoTrue's external providers) against a real
provider the tests run on 127.0.0.1 (tests/support/oidc_provider.py), through a real API node:
the PKCE flow supabase-js's signInWithOAuth takes and the implicit one, every redirect followed
by hand; states, nonces and id_tokens that must be refused; redirect_to outside the allow list;
an unknown provider; a second sign-in finds the same user, a verified email links to its user;
and admin rights come from the database, never from the provider's claims."""

import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from tests.pgserver import PgServer
from tests.serving import Node, free_port, new_secret, serving
from tests.support.gotrue import DATED, PASSWORD, auth, error_code
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    pkce_pair,
    running_provider,
)
from tests.support.supabase_js import run_script
from wagerbase.oidc_client import MAX_ANSWER_BYTES, PROVIDER_SECONDS

SITE = "http://app.test"
OTHER = "http://other.test"


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as started:
        yield started


@pytest.fixture(scope="module")
def oidc_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_oidc") as url:
        yield url


@pytest.fixture(scope="module")
def node(
    provider: Provider, oidc_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    env = {
        "WAGERBASE_OIDC_PROVIDERS": "corp,down",
        "WAGERBASE_OIDC_CORP_ISSUER": provider.issuer,
        "WAGERBASE_OIDC_CORP_CLIENT_ID": CLIENT_ID,
        "WAGERBASE_OIDC_CORP_SECRET": CLIENT_SECRET,
        # a provider nobody answers for
        "WAGERBASE_OIDC_DOWN_ISSUER": f"http://127.0.0.1:{free_port()}",
        "WAGERBASE_OIDC_DOWN_CLIENT_ID": CLIENT_ID,
        "WAGERBASE_OIDC_DOWN_SECRET": CLIENT_SECRET,
        "WAGERBASE_SITE_URL": SITE,
        "WAGERBASE_ADDITIONAL_REDIRECT_URLS": f"{OTHER}/callback/**",
    }
    log = tmp_path_factory.mktemp("oidc-node") / "serve.log"
    with serving(Node(oidc_database, new_secret(), log, env=env)) as started:
        yield started


@pytest.fixture(autouse=True)
def fresh_user(provider: Provider) -> None:
    """Each test signs in a user of its own, and the provider signs its tokens honestly."""
    name = secrets.token_hex(6)
    provider.user = {"sub": f"sub-{name}", "email": f"{name}@example.test", "email_verified": True}
    provider.tamper = {}
    provider.sign_with_other_key = False
    provider.token_delay = 0.0
    provider.token_padding = 0


def _location(answer: httpx.Response) -> str:
    assert answer.status_code == 302, (answer.status_code, answer.text)
    return answer.headers["location"]


def start(node: Node, **params: str) -> httpx.Response:
    """GET /auth/v1/authorize, as the browser supabase-js sends there does."""
    query = {"provider": "corp", "redirect_to": f"{SITE}/welcome", **params}
    answer: httpx.Response = auth(node, "GET", f"authorize?{urlencode(query)}")
    return answer


def through_provider(node: Node, **params: str) -> tuple[str, str]:
    """/authorize, then the provider (which approves at once): the node's callback URL the
    provider sends the browser to, and the state in it."""
    to_provider = _location(start(node, **params))
    back = _location(httpx.get(to_provider))
    assert back.startswith(f"{node.url}/auth/v1/callback?")
    return back, parse_qs(urlsplit(back).query)["state"][0]


def sign_in_pkce(node: Node, **params: str) -> dict[str, Any]:
    """The whole PKCE flow: the session of /token?grant_type=pkce."""
    verifier, challenge = pkce_pair()
    callback, _ = through_provider(
        node, code_challenge=challenge, code_challenge_method="s256", **params
    )
    landed = _location(httpx.get(callback))
    code = parse_qs(urlsplit(landed).query)["code"][0]
    answer = auth(
        node, "POST", "token?grant_type=pkce", json={"auth_code": code, "code_verifier": verifier}
    )
    assert answer.status_code == 200, answer.text
    session: dict[str, Any] = answer.json()
    return session


def redirect_error(location: str) -> dict[str, str]:
    """GoTrue's error parameters of a redirect (the query string and the fragment say the
    same)."""
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    fragment = {k: v[0] for k, v in parse_qs(parts.fragment).items()}
    assert query.get("error_code") == fragment.get("error_code"), location
    return fragment


def acts_as_admin(node: Node, token: str) -> bool:
    answer = httpx.post(
        f"{node.url}/rest/v1/rpc/acts_as_admin",
        headers={"apikey": node.anon_key, "Authorization": f"Bearer {token}"},
        json={},
    )
    assert answer.status_code == 200, answer.text
    result: bool = answer.json()
    return result


def test_pkce_flow_signs_a_new_user_in_with_the_provider_identity(
    node: Node, provider: Provider
) -> None:
    verifier, challenge = pkce_pair()
    to_provider = _location(start(node, code_challenge=challenge, code_challenge_method="s256"))
    asked = parse_qs(urlsplit(to_provider).query)
    assert to_provider.startswith(f"{provider.issuer}/authorize?")
    assert asked["client_id"] == [CLIENT_ID] and asked["response_type"] == ["code"]
    assert asked["redirect_uri"] == [f"{node.url}/auth/v1/callback"]
    assert set(asked["scope"][0].split()) >= {"openid", "email", "profile"}
    assert len(asked["state"][0]) >= 40 and len(asked["nonce"][0]) >= 30

    callback = _location(httpx.get(to_provider))
    landed = _location(httpx.get(callback))
    assert landed.startswith(f"{SITE}/welcome?code=")
    code = parse_qs(urlsplit(landed).query)["code"][0]
    # the node exchanged the code with its secret (HTTP Basic), at the provider's token endpoint
    assert provider.token_requests[-1]["grant_type"] == "authorization_code"

    wrong = auth(
        node, "POST", "token?grant_type=pkce", json={"auth_code": code, "code_verifier": "x" * 50}
    )
    assert (wrong.status_code, error_code(wrong)) == (400, "bad_code_verifier")
    answer = auth(
        node, "POST", "token?grant_type=pkce", json={"auth_code": code, "code_verifier": verifier}
    )
    assert answer.status_code == 200, answer.text
    session = answer.json()
    user = session["user"]
    assert user["email"] == provider.user["email"]
    assert user["app_metadata"] == {"provider": "corp", "providers": ["corp"]}
    (identity,) = user["identities"]
    assert identity["provider"] == "corp" and identity["id"] == provider.user["sub"]
    assert identity["identity_data"]["sub"] == provider.user["sub"]
    assert identity["identity_data"]["email"] == provider.user["email"]

    # the session is a real one: get-user with its token, a refresh with its refresh token
    me = auth(node, "GET", "user", token=session["access_token"])
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    refreshed = auth(
        node,
        "POST",
        "token?grant_type=refresh_token",
        json={"refresh_token": session["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text

    # an auth code is good once
    again = auth(
        node, "POST", "token?grant_type=pkce", json={"auth_code": code, "code_verifier": verifier}
    )
    assert (again.status_code, error_code(again)) == (404, "flow_state_not_found")


def test_pkce_exchange_of_a_missing_or_malformed_code_is_refused(node: Node) -> None:
    verifier, _ = pkce_pair()
    for body, refused in (
        ({"auth_code": "x"}, (400, "validation_failed")),
        ({"auth_code": "x" * 5000, "code_verifier": verifier}, (404, "flow_state_not_found")),
        ({"auth_code": "x", "code_verifier": "not a verifier"}, (400, "bad_code_verifier")),
    ):
        answer = auth(node, "POST", "token?grant_type=pkce", json=body, headers=DATED)
        assert (answer.status_code, error_code(answer)) == refused


def test_implicit_flow_puts_the_session_in_the_fragment(node: Node) -> None:
    callback, _ = through_provider(node)
    landed = urlsplit(_location(httpx.get(callback)))
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{SITE}/welcome"
    assert landed.query == ""
    session = {k: v[0] for k, v in parse_qs(landed.fragment).items()}
    assert session["token_type"] == "bearer" and int(session["expires_in"]) > 0
    me = auth(node, "GET", "user", token=session["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["identities"][0]["provider"] == "corp"


def test_a_state_is_good_once_and_a_tampered_one_is_refused(node: Node) -> None:
    callback, state = through_provider(node)
    tampered = callback.replace(state, state[:-2] + ("AA" if state[-2:] != "AA" else "BB"))
    refused = _location(httpx.get(tampered))
    assert refused.startswith(f"{SITE}?") and "code" not in parse_qs(urlsplit(refused).query)
    assert redirect_error(refused)["error_code"] == "bad_oauth_state"

    assert "access_token=" in _location(httpx.get(callback))
    replayed = _location(httpx.get(callback))
    assert redirect_error(replayed)["error_code"] == "bad_oauth_state"
    assert "access_token" not in replayed

    missing = _location(auth(node, "GET", "callback?code=abc"))
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
    landed = _location(httpx.get(callback))
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
    landed = _location(httpx.get(callback, timeout=PROVIDER_SECONDS + 15))
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
        landed = _location(httpx.get(callback))
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


def test_settings_list_the_enabled_providers(node: Node) -> None:
    external = auth(node, "GET", "settings").json()["external"]
    assert external["corp"] is True and external["down"] is True and external["email"] is True


def test_a_second_sign_in_finds_the_same_user(node: Node) -> None:
    first = sign_in_pkce(node)
    second = sign_in_pkce(node)
    assert first["user"]["id"] == second["user"]["id"]
    assert len(second["user"]["identities"]) == 1


def test_a_verified_email_links_to_its_user_and_an_unverified_one_does_not(
    node: Node, provider: Provider
) -> None:
    email = provider.user["email"]
    made = auth(node, "POST", "signup", json={"email": email, "password": PASSWORD})
    assert made.status_code == 200, made.text
    linked = sign_in_pkce(node)["user"]
    assert linked["id"] == made.json()["user"]["id"]
    assert linked["app_metadata"]["providers"] == ["email", "corp"]
    assert [i["provider"] for i in linked["identities"]] == ["email", "corp"]

    for n, unverified in enumerate((False, "perhaps", None)):
        provider.user = {"sub": f"{linked['id']}-{n}", "email": email, "email_verified": unverified}
        stranger = sign_in_pkce(node)["user"]
        assert stranger["id"] != linked["id"] and stranger["email"] == ""
        assert stranger["identities"][0]["identity_data"]["email_verified"] is False


def test_admin_comes_from_the_database_never_from_the_provider(
    node: Node, provider: Provider, oidc_database: str
) -> None:
    provider.user |= {"app_metadata": {"role": "admin"}, "role": "admin", "is_admin": True}
    claimed = sign_in_pkce(node)
    assert "role" not in claimed["user"]["app_metadata"]
    assert acts_as_admin(node, claimed["access_token"]) is False

    with psycopg.connect(oidc_database, autocommit=True) as conn:
        conn.execute("select app._set_admin(%s, true)", [claimed["user"]["id"]])
    promoted = sign_in_pkce(node)
    assert promoted["user"]["app_metadata"]["role"] == "admin"
    assert acts_as_admin(node, promoted["access_token"]) is True


# signInWithOAuth with flowType 'pkce', the browser's redirects followed by fetch, then
# exchangeCodeForSession and getUser; prints what each gave.
SIGN_IN_WITH_OAUTH = r"""
const { createClient } = require('@supabase/supabase-js');
const env = process.env;
const failure = (error) => error && { name: error.name, code: error.code ?? null,
                                      status: error.status ?? null, message: error.message };
(async () => {
  const supabase = createClient(env.WB_URL, env.WB_ANON, { auth: { persistSession: false,
    autoRefreshToken: false, detectSessionInUrl: false, flowType: 'pkce' } });
  const started = await supabase.auth.signInWithOAuth({
    provider: 'corp', options: { redirectTo: env.WB_REDIRECT, skipBrowserRedirect: true } });
  let url = started.data.url;
  const visited = [];
  while (!url.startsWith(env.WB_REDIRECT) && visited.length < 5) {
    visited.push(new URL(url).origin + new URL(url).pathname);
    url = (await fetch(url, { redirect: 'manual' })).headers.get('location');
  }
  const code = new URL(url).searchParams.get('code');
  const exchanged = await supabase.auth.exchangeCodeForSession(code);
  const { data: { user }, error } = await supabase.auth.getUser();
  process.stdout.write(JSON.stringify({
    startError: failure(started.error), visited,
    exchangeError: failure(exchanged.error),
    sessionUser: exchanged.data.session && exchanged.data.session.user.id,
    getUserError: failure(error), user: user && { id: user.id, email: user.email,
      providers: user.app_metadata.providers,
      identities: user.identities.map((i) => [i.provider, i.identity_data.sub]) } }));
})().catch((e) => { process.stdout.write(JSON.stringify({ crashed: String(e && e.stack || e) }));
                    process.exit(1); });
"""


def test_supabase_js_signs_in_with_oauth_pkce(
    node_binary: list[str], node: Node, provider: Provider
) -> None:
    redirect = f"{SITE}/auth/done"
    seen = run_script(
        node_binary,
        SIGN_IN_WITH_OAUTH,
        {"WB_URL": node.url, "WB_ANON": node.anon_key, "WB_REDIRECT": redirect},
    )
    assert seen["visited"] == [
        f"{node.url}/auth/v1/authorize",
        f"{provider.issuer}/authorize",
        f"{node.url}/auth/v1/callback",
    ]
    assert seen["startError"] is None and seen["exchangeError"] is None
    assert seen["getUserError"] is None
    assert seen["user"]["id"] == seen["sessionUser"]
    assert seen["user"]["email"] == provider.user["email"]
    assert seen["user"]["providers"] == ["corp"]
    assert seen["user"]["identities"] == [["corp", provider.user["sub"]]]


def test_an_auth_code_or_a_state_past_its_time_is_refused(node: Node, oidc_database: str) -> None:
    verifier, challenge = pkce_pair()
    callback, _ = through_provider(node, code_challenge=challenge, code_challenge_method="s256")
    code = parse_qs(urlsplit(_location(httpx.get(callback))).query)["code"][0]
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
    assert redirect_error(_location(httpx.get(late_callback)))["error_code"] == "bad_oauth_state"


def test_two_first_sign_ins_at_once_make_one_user(oidc_database: str) -> None:
    """The identity's sign-ins are serialised: the second waits for the first and finds its
    user, rather than making another."""
    claims = Jsonb({"sub": f"sub-{secrets.token_hex(6)}", "email_verified": False})
    query = "select app._oidc_user('corp', %s, '{}')"
    with psycopg.connect(oidc_database) as first, psycopg.connect(oidc_database) as second:
        (made,) = first.execute(query, [claims]).fetchone() or (None,)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(lambda: second.execute(query, [claims]).fetchone())
            _until_waiting_for_a_lock(oidc_database, second.info.backend_pid)
            first.commit()
            (found,) = waiting.result(timeout=60) or (None,)
        second.commit()
    assert made is not None and found == made


def _until_waiting_for_a_lock(database: str, pid: int) -> None:
    """Returns once backend `pid` waits for a lock (a guard of a minute, not a measure)."""
    with psycopg.connect(database, autocommit=True) as watcher:
        for _ in range(600):
            row = watcher.execute(
                "select wait_event_type from pg_stat_activity where pid = %s", [pid]
            ).fetchone()
            if row == ("Lock",):
                return
            time.sleep(0.1)
    raise AssertionError("the second sign-in never waited")
