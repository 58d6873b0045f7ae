"""/auth/v1 driven by the official supabase-js (web/node_modules, the web app's own copy) under
Node, for what only supabase-js shows: its `AuthApiError` read from GoTrue's error body (`code`,
`status`, `message`; `AuthWeakPasswordError` with its reasons; `AuthSessionMissingError` for
`session_not_found`), `user.identities.length`, `updateUser`, `signInAnonymously`, two clients
of one session refreshing at once (two tabs), which the refresh-token reuse interval keeps signed
in, and `auth.admin`'s pages read from GoTrue's headers. Skipped when Node is not installed."""

import uuid
from typing import Any

import pytest

from tests.serving import Node
from tests.support.supabase_js import run_script

# Runs in web/ (so require() finds web/node_modules); prints one JSON object: what each call gave.
SCRIPT = r"""
const { createClient } = require('@supabase/supabase-js');
const env = process.env;
const options = { auth: { persistSession: false, autoRefreshToken: false } };
const client = () => createClient(env.WB_URL, env.WB_ANON, options);
const failure = (error) => error && {
  name: error.name, code: error.code ?? null, status: error.status ?? null,
  message: error.message, reasons: error.reasons ?? null };
const seen = {};
(async () => {
  const ana = client();
  const email = `${env.WB_NAME}@example.test`;
  const up = await ana.auth.signUp({
    email, password: env.WB_PASSWORD, options: { data: { display_name: 'Ana', lang: 'en' } } });
  seen.signUp = { error: failure(up.error), identities: up.data.user.identities.length,
                  metadata: up.data.user.user_metadata, anonymous: up.data.user.is_anonymous,
                  provider: up.data.user.identities[0].provider };
  const again = await client().auth.signUp({ email, password: env.WB_PASSWORD });
  seen.signUpAgain = failure(again.error);
  seen.badEmail = failure((await client().auth.signUp(
    { email: 'not-an-email', password: env.WB_PASSWORD })).error);
  seen.wrongPassword = failure((await client().auth.signInWithPassword(
    { email, password: 'not the password' })).error);

  const merged = await ana.auth.updateUser({ data: { lang: 'fr', display_name: null, x: 1 } });
  seen.updateData = { error: failure(merged.error), metadata: merged.data.user.user_metadata };
  seen.weakPassword = failure((await ana.auth.updateUser({ password: 'short' })).error);
  seen.samePassword = failure((await ana.auth.updateUser({ password: env.WB_PASSWORD })).error);

  // two tabs of one session refresh at once with the same refresh token
  const { data: { session } } = await ana.auth.getSession();
  const tabs = [client(), client()];
  for (const tab of tabs) {
    const set = await tab.auth.setSession({
      access_token: session.access_token, refresh_token: session.refresh_token });
    if (set.error) throw set.error;
  }
  const refreshed = await Promise.all(tabs.map((tab) => tab.auth.refreshSession()));
  seen.twoTabs = refreshed.map((r) => ({ error: failure(r.error),
                                         user: r.data.user && r.data.user.id }));
  seen.twoTabsUser = await Promise.all(tabs.map(async (tab) =>
    failure((await tab.auth.getUser()).error)));

  // a new password ends the user's other sessions (GoTrue's session_not_found there); the tabs
  // are this session, and stay
  const others = [client(), client()];
  for (const other of others) {
    const signedIn = await other.auth.signInWithPassword({ email, password: env.WB_PASSWORD });
    if (signedIn.error) throw signedIn.error;
  }
  const changed = await ana.auth.updateUser({ password: env.WB_NEW_PASSWORD });
  seen.newPassword = failure(changed.error);
  seen.endedUser = failure((await others[0].auth.getUser()).error);
  seen.endedRefresh = failure((await others[1].auth.refreshSession()).error);
  seen.stillSignedIn = await Promise.all([ana, ...tabs].map(async (c) =>
    failure((await c.auth.getUser()).error)));

  const guest = client();
  const anonymous = await guest.auth.signInAnonymously({ options: { data: { nick: 'guest' } } });
  seen.anonymous = { error: failure(anonymous.error),
                     anonymous: anonymous.data.user && anonymous.data.user.is_anonymous,
                     identities: anonymous.data.user && anonymous.data.user.identities.length,
                     metadata: anonymous.data.user && anonymous.data.user.user_metadata };
  seen.anonymousPassword = failure((await guest.auth.updateUser(
    { password: env.WB_NEW_PASSWORD })).error);
  const converted = await guest.auth.updateUser(
    { email: `${env.WB_NAME}.guest@example.test`, password: env.WB_NEW_PASSWORD });
  seen.converted = { error: failure(converted.error),
                     anonymous: converted.data.user && converted.data.user.is_anonymous,
                     identities: converted.data.user && converted.data.user.identities.length };

  // auth.admin with the service key: a user made, pages read from GoTrue's headers, a deletion
  const admin = createClient(env.WB_URL, env.WB_SERVICE, options).auth.admin;
  const made = await admin.createUser({ email: `${env.WB_NAME}.made@example.test`,
                                        password: env.WB_PASSWORD, user_metadata: { by: 'js' } });
  seen.adminCreate = { error: failure(made.error), metadata: made.data.user.user_metadata };
  const page = await admin.listUsers({ page: 1, perPage: 1 });
  seen.adminList = { error: failure(page.error), users: page.data.users.length,
                     first: page.data.users[0].id, nextPage: page.data.nextPage,
                     total: page.data.total };
  seen.adminDelete = failure((await admin.deleteUser(made.data.user.id)).error);
  seen.adminGone = failure((await admin.getUserById(made.data.user.id)).error);
  seen.adminMade = made.data.user.id;
  process.stdout.write(JSON.stringify(seen));
})().catch((e) => { process.stdout.write(JSON.stringify({ crashed: String(e && e.stack || e) }));
                    process.exit(1); });
"""


def _run(node_binary: list[str], node: Node) -> dict[str, Any]:
    env = {
        "WB_URL": node.url,
        "WB_ANON": node.anon_key,
        "WB_SERVICE": node.service_key,
        "WB_NAME": f"js_{uuid.uuid4().hex[:8]}",
        "WB_PASSWORD": "correct horse 1",
        "WB_NEW_PASSWORD": "another horse 2",
    }
    return run_script(node_binary, SCRIPT, env)


@pytest.mark.usefixtures("anonymous_sign_ins")
def test_supabase_js_auth_calls_behave_as_with_gotrue(node_binary: list[str], node: Node) -> None:
    seen = _run(node_binary, node)

    assert seen["signUp"] == {
        "error": None,
        "identities": 1,  # so "identities.length === 0 means already registered" works
        "metadata": {"display_name": "Ana", "lang": "en"},
        "anonymous": False,
        "provider": "email",
    }
    assert seen["signUpAgain"] == {
        "name": "AuthApiError",
        "code": "user_already_exists",
        "status": 422,
        "message": "User already registered",
        "reasons": None,
    }
    assert seen["badEmail"]["code"] == "validation_failed"
    assert seen["badEmail"]["message"] == "Unable to validate email address: invalid format"
    assert (seen["wrongPassword"]["code"], seen["wrongPassword"]["status"]) == (
        "invalid_credentials",
        400,
    )

    assert seen["updateData"] == {"error": None, "metadata": {"lang": "fr", "x": 1}}
    assert seen["weakPassword"] == {
        "name": "AuthWeakPasswordError",
        "code": "weak_password",
        "status": 422,
        "message": "Password should be at least 8 characters.",
        "reasons": ["length"],
    }
    assert (seen["samePassword"]["code"], seen["samePassword"]["status"]) == (
        "same_password",
        422,
    )

    # both tabs refreshed with the one refresh token and stay signed in
    assert [tab["error"] for tab in seen["twoTabs"]] == [None, None]
    assert seen["twoTabsUser"] == [None, None]

    assert seen["newPassword"] is None
    for ended in (seen["endedUser"], seen["endedRefresh"]):
        assert ended["name"] == "AuthSessionMissingError", ended  # session_not_found
    assert seen["stillSignedIn"] == [None, None, None]

    assert seen["anonymous"] == {
        "error": None,
        "anonymous": True,
        "identities": 0,
        "metadata": {"nick": "guest"},
    }
    assert (seen["anonymousPassword"]["code"], seen["anonymousPassword"]["status"]) == (
        "validation_failed",
        422,
    )
    assert seen["converted"] == {"error": None, "anonymous": False, "identities": 1}

    assert seen["adminCreate"] == {"error": None, "metadata": {"by": "js"}}
    listed = seen["adminList"]
    assert (listed["error"], listed["users"], listed["nextPage"]) == (None, 1, 2)
    assert listed["first"] == seen["adminMade"]  # newest first
    assert listed["total"] >= 3
    assert seen["adminDelete"] is None
    assert (seen["adminGone"]["code"], seen["adminGone"]["status"]) == ("user_not_found", 404)


def test_supabase_js_hears_anonymous_sign_ins_are_off(node_binary: list[str], node: Node) -> None:
    script = r"""
const { createClient } = require('@supabase/supabase-js');
const c = createClient(process.env.WB_URL, process.env.WB_ANON,
                       { auth: { persistSession: false, autoRefreshToken: false } });
c.auth.signInAnonymously().then(({ error }) => process.stdout.write(JSON.stringify(
  { name: error.name, code: error.code, status: error.status, message: error.message })));
"""
    seen = run_script(node_binary, script, {"WB_URL": node.url, "WB_ANON": node.anon_key}, 60)
    assert seen == {
        "name": "AuthApiError",
        "code": "anonymous_provider_disabled",
        "status": 422,
        "message": "Anonymous sign-ins are disabled",
    }
