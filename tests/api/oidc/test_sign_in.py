"""Sign-in with an OpenID Connect provider (GoTrue's external providers) through a real API node:
the PKCE flow supabase-js's signInWithOAuth takes and the implicit one, every redirect followed
by hand; a second sign-in finds the same user, a verified email links to its user, two first
sign-ins at once make one; and admin rights come from the database, never from the provider's
claims."""

import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
from psycopg.types.json import Jsonb

from tests.api.oidc.flow import (
    SITE,
    acts_as_admin,
    location,
    sign_in_pkce,
    start,
    through_provider,
)
from tests.serving import Node
from tests.support.gotrue import PASSWORD, auth, error_code
from tests.support.oidc_provider import (
    CLIENT_ID,
    Provider,
    pkce_pair,
)
from tests.support.supabase_js import run_script


def test_pkce_flow_signs_a_new_user_in_with_the_provider_identity(
    node: Node, provider: Provider
) -> None:
    verifier, challenge = pkce_pair()
    to_provider = location(start(node, code_challenge=challenge, code_challenge_method="s256"))
    asked = parse_qs(urlsplit(to_provider).query)
    assert to_provider.startswith(f"{provider.issuer}/authorize?")
    assert asked["client_id"] == [CLIENT_ID] and asked["response_type"] == ["code"]
    assert asked["redirect_uri"] == [f"{node.url}/auth/v1/callback"]
    assert set(asked["scope"][0].split()) >= {"openid", "email", "profile"}
    assert len(asked["state"][0]) >= 40 and len(asked["nonce"][0]) >= 30

    callback = location(httpx.get(to_provider))
    landed = location(httpx.get(callback))
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


def test_implicit_flow_puts_the_session_in_the_fragment(node: Node) -> None:
    callback, _ = through_provider(node)
    landed = urlsplit(location(httpx.get(callback)))
    assert f"{landed.scheme}://{landed.netloc}{landed.path}" == f"{SITE}/welcome"
    assert landed.query == ""
    session = {k: v[0] for k, v in parse_qs(landed.fragment).items()}
    assert session["token_type"] == "bearer" and int(session["expires_in"]) > 0
    me = auth(node, "GET", "user", token=session["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["identities"][0]["provider"] == "corp"


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
