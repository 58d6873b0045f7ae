"""Password recovery and sign-in by email driven by the official supabase-js under Node, reading
its mails from the tests' SMTP sink: resetPasswordForEmail, the code from the mail to verifyOtp
(type recovery: a PASSWORD_RECOVERY session), updateUser with a new password, a sign-in with it;
signInWithOtp for a new address with options.data, verifyOtp type email: a session and the new
user; and the refusals supabase-js reads (a used code, one mail a minute, shouldCreateUser false
for an unknown address). Each script runs in two steps, asking for the mails and then using
their codes, the test reading the sink in between. And in PKCE mode (flowType 'pkce', the code
verifier kept in a file between the steps): resetPasswordForEmail, the mail's link followed to
its `?code=`, exchangeCodeForSession, updateUser with a new password. Skipped when Node is not
installed."""

import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.serving import Node
from tests.support.smtp_sink import APP_REDIRECT, Mail, Sink
from tests.support.supabase_js import node_command, run_script

PRELUDE = r"""
const { createClient } = require('@supabase/supabase-js');
const env = process.env;
const options = { auth: { persistSession: false, autoRefreshToken: false } };
const client = () => createClient(env.WB_URL, env.WB_ANON, options);
const failure = (error) => error && {
  name: error.name, code: error.code ?? null, status: error.status ?? null,
  message: error.message };
const seen = {};
const done = () => process.stdout.write(JSON.stringify(seen));
const crashed = (e) => {
  process.stdout.write(JSON.stringify({ crashed: String(e && e.stack || e) }));
  process.exit(1);
};
"""

# step 1: a user, and the mails asked for
ASK = r"""
(async () => {
  const signedUp = await client().auth.signUp({ email: env.WB_EMAIL, password: env.WB_PASSWORD });
  seen.signUp = failure(signedUp.error);
  const reset = await client().auth.resetPasswordForEmail(env.WB_EMAIL,
                                                          { redirectTo: env.WB_REDIRECT });
  seen.reset = { error: failure(reset.error), data: reset.data };
  seen.resetAgain = failure((await client().auth.resetPasswordForEmail(env.WB_EMAIL)).error);
  const otp = await client().auth.signInWithOtp({
    email: env.WB_NEW_EMAIL, options: { data: { nick: 'Bo' } } });
  seen.otp = { error: failure(otp.error), data: otp.data };
  seen.otpUnknown = failure((await client().auth.signInWithOtp({
    email: env.WB_UNKNOWN_EMAIL, options: { shouldCreateUser: false } })).error);
  done();
})().catch(crashed);
"""

# step 2: the codes used
USE = r"""
(async () => {
  const ana = client();
  const events = [];
  ana.auth.onAuthStateChange((event) => { events.push(event); });
  const recovered = await ana.auth.verifyOtp(
    { email: env.WB_EMAIL, token: env.WB_RECOVERY_CODE, type: 'recovery' });
  seen.recovered = { error: failure(recovered.error), email: recovered.data.user?.email,
                     session: Boolean(recovered.data.session?.access_token) };
  seen.usedAgain = failure((await client().auth.verifyOtp(
    { email: env.WB_EMAIL, token: env.WB_RECOVERY_CODE, type: 'recovery' })).error);
  const changed = await ana.auth.updateUser({ password: env.WB_NEW_PASSWORD });
  seen.changed = failure(changed.error);
  seen.events = events;
  seen.newPassword = failure((await client().auth.signInWithPassword(
    { email: env.WB_EMAIL, password: env.WB_NEW_PASSWORD })).error);
  seen.oldPassword = failure((await client().auth.signInWithPassword(
    { email: env.WB_EMAIL, password: env.WB_PASSWORD })).error);

  const bo = client();
  const signedIn = await bo.auth.verifyOtp(
    { email: env.WB_NEW_EMAIL, token: env.WB_SIGN_IN_CODE, type: 'email' });
  seen.signedIn = { error: failure(signedIn.error), email: signedIn.data.user?.email,
                    metadata: signedIn.data.user?.user_metadata,
                    identities: signedIn.data.user?.identities?.length };
  const me = await bo.auth.getUser();
  seen.me = { error: failure(me.error), id: me.data.user?.id,
              same: me.data.user?.id === signedIn.data.user?.id };
  done();
})().catch(crashed);
"""


# PKCE mode: supabase-js keeps the code verifier in its storage, here a JSON file, so that the
# script that asks for the mail and the one that exchanges the link's code are one client
PKCE_PRELUDE = r"""
const fs = require('fs');
const read = () => fs.existsSync(env.WB_STORE) ? JSON.parse(fs.readFileSync(env.WB_STORE)) : {};
const write = (all) => fs.writeFileSync(env.WB_STORE, JSON.stringify(all));
const storage = {
  getItem: (key) => read()[key] ?? null,
  setItem: (key, value) => write({ ...read(), [key]: value }),
  removeItem: (key) => { const all = read(); delete all[key]; write(all); },
};
const pkce = () => createClient(env.WB_URL, env.WB_ANON, { auth: {
  flowType: 'pkce', storage, persistSession: true, autoRefreshToken: false,
  detectSessionInUrl: false } });
"""

PKCE_ASK = r"""
(async () => {
  const signedUp = await client().auth.signUp({ email: env.WB_EMAIL, password: env.WB_PASSWORD });
  seen.signUp = failure(signedUp.error);
  const reset = await pkce().auth.resetPasswordForEmail(env.WB_EMAIL,
                                                        { redirectTo: env.WB_REDIRECT });
  seen.reset = failure(reset.error);
  seen.stored = Object.keys(read()).filter((key) => key.endsWith('-code-verifier')).length;
  done();
})().catch(crashed);
"""

PKCE_USE = r"""
(async () => {
  const ana = pkce();
  const exchanged = await ana.auth.exchangeCodeForSession(env.WB_CODE);
  seen.exchanged = { error: failure(exchanged.error), email: exchanged.data.user?.email,
                     redirectType: exchanged.data.redirectType ?? null,
                     session: Boolean(exchanged.data.session?.access_token) };
  seen.changed = failure((await ana.auth.updateUser({ password: env.WB_NEW_PASSWORD })).error);
  seen.newPassword = failure((await client().auth.signInWithPassword(
    { email: env.WB_EMAIL, password: env.WB_NEW_PASSWORD })).error);
  done();
})().catch(crashed);
"""


def followed_code(node: Node, mail: Mail) -> str:
    """The auth code of the redirect the mail's link answers (followed on `node`)."""
    parts = urlsplit(mail.link)
    answer = httpx.get(f"{node.url}{parts.path}?{parts.query}", timeout=60)
    assert answer.status_code == 303, answer.text
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == APP_REDIRECT
    (code,) = parse_qs(target.query)["code"]
    return code


def test_supabase_js_in_pkce_mode_recovers_a_password_through_the_mailed_link(
    mail_node: Node, mail_sink: tuple[Sink, int], tmp_path: Path
) -> None:
    node_binary = node_command()
    name = f"jspkce_{uuid.uuid4().hex[:8]}"
    env = {
        "WB_URL": mail_node.url,
        "WB_ANON": mail_node.anon_key,
        "WB_EMAIL": f"{name}@example.test",
        "WB_PASSWORD": "correct horse 1",
        "WB_NEW_PASSWORD": "another horse 2",
        "WB_REDIRECT": APP_REDIRECT,
        "WB_STORE": str(tmp_path / "storage.json"),
    }
    asked = run_script(node_binary, PRELUDE + PKCE_PRELUDE + PKCE_ASK, env)
    assert asked == {"signUp": None, "reset": None, "stored": 1}
    code = followed_code(mail_node, mail_sink[0].only_mail_to(env["WB_EMAIL"]))
    used = run_script(node_binary, PRELUDE + PKCE_PRELUDE + PKCE_USE, {**env, "WB_CODE": code})
    assert used["exchanged"] == {
        "error": None,
        "email": env["WB_EMAIL"],
        "redirectType": "recovery",  # supabase-js marks a recovery's verifier
        "session": True,
    }
    assert used["changed"] is None
    assert used["newPassword"] is None


def test_supabase_js_recovers_a_password_and_signs_in_by_email(
    mail_node: Node, mail_sink: tuple[Sink, int]
) -> None:
    node_binary = node_command()
    sink, name = mail_sink[0], f"js_{uuid.uuid4().hex[:8]}"
    env = {
        "WB_URL": mail_node.url,
        "WB_ANON": mail_node.anon_key,
        "WB_EMAIL": f"{name}@example.test",
        "WB_NEW_EMAIL": f"{name}.new@example.test",
        "WB_UNKNOWN_EMAIL": f"{name}.unknown@example.test",
        "WB_PASSWORD": "correct horse 1",
        "WB_NEW_PASSWORD": "another horse 2",
        "WB_REDIRECT": APP_REDIRECT,
    }
    asked = run_script(node_binary, PRELUDE + ASK, env)
    assert asked["signUp"] is None
    assert asked["reset"] == {"error": None, "data": {}}
    assert asked["resetAgain"]["code"] == "over_email_send_rate_limit"
    assert (asked["resetAgain"]["name"], asked["resetAgain"]["status"]) == ("AuthApiError", 429)
    assert asked["otp"] == {"error": None, "data": {"user": None, "session": None}}
    assert (asked["otpUnknown"]["code"], asked["otpUnknown"]["status"]) == ("otp_disabled", 422)
    assert sink.sent_to(env["WB_UNKNOWN_EMAIL"]) == []

    recovery = sink.only_mail_to(env["WB_EMAIL"])
    assert recovery.link_query()["redirect_to"] == APP_REDIRECT
    sign_in = sink.only_mail_to(env["WB_NEW_EMAIL"])
    codes = {"WB_RECOVERY_CODE": recovery.code, "WB_SIGN_IN_CODE": sign_in.code}
    used = run_script(node_binary, PRELUDE + USE, {**env, **codes})
    assert used["recovered"] == {"error": None, "email": env["WB_EMAIL"], "session": True}
    assert (used["usedAgain"]["code"], used["usedAgain"]["status"]) == ("otp_expired", 403)
    assert used["usedAgain"]["message"] == "Token has expired or is invalid"
    assert used["changed"] is None
    assert "PASSWORD_RECOVERY" in used["events"]
    assert used["newPassword"] is None
    assert used["oldPassword"]["code"] == "invalid_credentials"
    assert used["signedIn"] == {
        "error": None,
        "email": env["WB_NEW_EMAIL"],
        "metadata": {"nick": "Bo"},
        "identities": 1,
    }
    assert (used["me"]["error"], used["me"]["same"]) == (None, True)
