"""The one-time tokens of recovery and sign-in by email, in SQL (rpc/08_email_tokens.sql), as the
API node calls them: only the digest it gives is kept, one token per address (a newer one
replaces it), used once, refused once expired; one mail per address per interval, counted for an
address that names nobody as for one that names a user; a sign-in's token without create_user
for an unknown address is refused before anything is counted; with it, the user is made when the
token is used, with its user_metadata. A token asked for with a PKCE challenge, used by its link,
becomes a PKCE flow's auth code that server.redeem_oidc_code exchanges with the verifier only.
Client roles reach none of it."""

import json
import secrets
from typing import Any

import psycopg
import pytest

from tests.db.personas import create_user
from tests.pgserver import Connection

HOUR = 3600


def digest() -> str:
    return secrets.token_hex(32)


def issue(
    conn: Connection,
    email: str,
    token_digest: str,
    *,
    purpose: str = "recovery",
    create: bool = False,
    data: dict[str, Any] | None = None,
    interval: int = 0,
    challenge: tuple[str, str] | None = None,
) -> dict[str, Any]:
    row = conn.execute(
        "select server.issue_email_token(%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s)",
        [
            email,
            purpose,
            token_digest,
            create,
            json.dumps(data or {}),
            HOUR,
            interval,
            *(challenge or (None, None)),
        ],
    ).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def verify(
    conn: Connection, token_digest: str, auth_code_digest: str | None = None
) -> dict[str, Any]:
    row = conn.execute(
        "select server.verify_email_token(%s, %s, %s)",
        [token_digest, auth_code_digest, "myapp://done"],
    ).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def test_a_token_is_kept_as_its_digest_and_works_once(conn: Connection) -> None:
    user = create_user(conn, "tok_once")
    token = digest()
    assert issue(conn, "TOK_ONCE@example.test ", token) == {"status": "ok", "new_user": False}
    kept = conn.execute(
        "select email, purpose, token_digest from app.email_tokens where token_digest = %s",
        [token],
    ).fetchall()
    assert kept == [("tok_once@example.test", "recovery", token)]
    assert verify(conn, token) == {"status": "ok", "user_id": str(user), "purpose": "recovery"}
    assert verify(conn, token) == {"status": "otp_expired"}
    assert verify(conn, digest()) == {"status": "otp_expired"}


def test_a_newer_token_replaces_the_older_one(conn: Connection) -> None:
    create_user(conn, "tok_newer")
    old, new = digest(), digest()
    issue(conn, "tok_newer@example.test", old)
    issue(conn, "tok_newer@example.test", new, purpose="magiclink")
    assert verify(conn, old) == {"status": "otp_expired"}
    assert verify(conn, new)["status"] == "ok"


def test_an_expired_token_is_refused_and_gone(conn: Connection) -> None:
    create_user(conn, "tok_expired")
    token = digest()
    issue(conn, "tok_expired@example.test", token)
    conn.execute(
        "update app.email_tokens set expires_at = now() - interval '1 second' "
        "where token_digest = %s",
        [token],
    )
    assert verify(conn, token) == {"status": "otp_expired"}
    gone = conn.execute("select count(*) from app.email_tokens where token_digest = %s", [token])
    assert gone.fetchone() == (0,)


def test_one_mail_per_interval_whether_the_address_names_a_user_or_not(conn: Connection) -> None:
    create_user(conn, "tok_limited")
    for email, first in (
        ("tok_limited@example.test", {"status": "ok", "new_user": False}),
        ("tok_nobody@example.test", {"status": "no_user"}),
    ):
        assert issue(conn, email, digest(), interval=60) == first
        again = issue(conn, email, digest(), purpose="magiclink", create=True, interval=60)
        assert again == {"status": "rate_limited", "retry_after": 60}
    # no token was made for the unknown address
    made = conn.execute(
        "select count(*) from app.email_tokens where email = 'tok_nobody@example.test'"
    )
    assert made.fetchone() == (0,)


def test_a_sign_in_makes_its_user_only_when_used_and_only_with_create_user(
    conn: Connection,
) -> None:
    email = "tok_new@example.test"
    refused = issue(conn, email, digest(), purpose="magiclink", interval=60)
    assert refused == {"status": "signups_disabled"}  # and nothing counted: asking again works
    token = digest()
    made = issue(
        conn, email, token, purpose="magiclink", create=True, data={"nick": "Cy"}, interval=60
    )
    assert made == {"status": "ok", "new_user": True}
    nobody = conn.execute("select count(*) from auth.users where email = %s", [email])
    assert nobody.fetchone() == (0,)
    used = verify(conn, token)
    assert used["status"] == "ok"
    row = conn.execute(
        "select server.user_json(%s::uuid) #>> '{email}', server.user_json(%s::uuid) -> "
        "'user_metadata', (select encrypted_password from auth.users where id = %s::uuid)",
        [used["user_id"]] * 3,
    ).fetchone()
    assert row == (email, {"nick": "Cy"}, None)


def redeem(conn: Connection, code_digest: str, verifier: str) -> dict[str, Any]:
    """server.redeem_oidc_code with a plain verifier (the challenge method of these tests)."""
    row = conn.execute(
        "select server.redeem_oidc_code(%s, %s, %s, gen_random_uuid(), %s)",
        [code_digest, verifier, "not-the-s256", digest()],
    ).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def test_a_pkce_token_used_by_its_link_is_an_auth_code_for_its_verifier(conn: Connection) -> None:
    user = create_user(conn, "tok_pkce")
    verifier = "v" * 43
    token, code = digest(), digest()
    issued = issue(conn, "tok_pkce@example.test", token, challenge=(verifier, "plain"))
    assert issued == {"status": "ok", "new_user": False}
    used = verify(conn, token, auth_code_digest=code)
    assert used == {"status": "ok", "user_id": str(user), "purpose": "recovery", "pkce": True}
    assert verify(conn, token, auth_code_digest=digest()) == {"status": "otp_expired"}
    flow = conn.execute(
        "select provider, redirect_to, user_id from app.oidc_flows where auth_code_digest = %s",
        [code],
    ).fetchall()
    assert flow == [("email", "myapp://done", user)]
    assert redeem(conn, code, "w" * 43) == {"status": "bad_code_verifier"}
    redeemed = redeem(conn, code, verifier)
    assert (redeemed["status"], redeemed["user"]["id"]) == ("ok", str(user))
    assert redeem(conn, code, verifier) == {"status": "flow_state_not_found"}


def test_a_pkce_token_typed_in_answers_no_auth_code(conn: Connection) -> None:
    """POST /verify (no auth code offered) signs in as for any token, PKCE or not."""
    user = create_user(conn, "tok_pkce_typed")
    token = digest()
    issue(conn, "tok_pkce_typed@example.test", token, challenge=("c" * 43, "s256"))
    assert verify(conn, token) == {"status": "ok", "user_id": str(user), "purpose": "recovery"}
    assert conn.execute(
        "select count(*) from app.oidc_flows where user_id = %s", [user]
    ).fetchone() == (0,)


@pytest.mark.parametrize("challenge", [("short", "s256"), ("c" * 43, "md5"), ("c" * 43, None)])
def test_a_malformed_challenge_is_refused(conn: Connection, challenge: tuple[str, str]) -> None:
    create_user(conn, "tok_bad_challenge")
    with pytest.raises(psycopg.Error, match="invalid_argument"):
        issue(conn, "tok_bad_challenge@example.test", digest(), challenge=challenge)


@pytest.mark.parametrize(
    ("email", "purpose"),
    [("not-an-address", "recovery"), ("a@example.test", "invite"), ("", "recovery")],
)
def test_bad_arguments_are_refused(conn: Connection, email: str, purpose: str) -> None:
    with pytest.raises(psycopg.Error, match="invalid_argument"):
        issue(conn, email, digest(), purpose=purpose)


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
def test_client_roles_reach_none_of_it(conn: Connection, role: str) -> None:
    for statement in (
        "select * from app.email_tokens",
        "select * from app.email_sends",
        "select server.verify_email_token('x', null, null)",
    ):
        conn.execute("savepoint probe")
        conn.execute(f"set local role {role}".encode())
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement.encode())
        conn.execute("rollback to savepoint probe")
