"""Mailed links in PKCE mode (supabase-js's flowType 'pkce'), through a real SMTP server the tests
run: a code_challenge sent to /recover or /otp stays with the mailed token, so the link leads
back with `?code=<auth code>` instead of a session, and only /token?grant_type=pkce with the
challenge's verifier turns that code into the session, once (the same code store as the OpenID
Connect sign-ins'). The code typed in (POST /verify) still answers the session itself."""

import base64
import hashlib
import secrets
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.serving import Node
from tests.support.gotrue import DATED, PASSWORD, auth, error_code
from tests.support.smtp_sink import APP_REDIRECT, Mail, Sink


@pytest.fixture
def sink(mail_sink: tuple[Sink, int]) -> Sink:
    return mail_sink[0]


def new_email() -> str:
    return f"pkce_{uuid.uuid4().hex[:10]}@example.test"


def call(node: Node, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    return auth(node, method, path, token, headers=DATED, timeout=60, **kw)


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636), as supabase-js makes them."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def follow(node: Node, mail: Mail) -> str:
    """Follow the mail's link on `node` (its links name the site URL): the redirect's Location."""
    parts = urlsplit(mail.link)
    answer = httpx.get(f"{node.url}{parts.path}?{parts.query}", timeout=60)
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    return location


def exchange(node: Node, code: str, verifier: str) -> httpx.Response:
    answer: httpx.Response = call(
        node,
        "POST",
        "token",
        params={"grant_type": "pkce"},
        json={"auth_code": code, "code_verifier": verifier},
    )
    return answer


def code_of(location: str) -> str:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == APP_REDIRECT
    assert parts.fragment == ""  # no session in the URL: only the code
    (code,) = parse_qs(parts.query)["code"]
    return code


def test_a_pkce_recovery_link_leads_back_with_a_code_only_its_verifier_exchanges(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    signed_up = call(mail_node, "POST", "signup", json={"email": email, "password": PASSWORD})
    user = signed_up.json()["user"]
    verifier, challenge = pkce_pair()
    asked = call(
        mail_node,
        "POST",
        "recover",
        params={"redirect_to": APP_REDIRECT},
        json={"email": email, "code_challenge": challenge, "code_challenge_method": "s256"},
    )
    assert (asked.status_code, asked.json()) == (200, {})
    mail = sink.only_mail_to(email)
    code = code_of(follow(mail_node, mail))

    wrong = exchange(mail_node, code, pkce_pair()[0])
    assert (wrong.status_code, error_code(wrong)) == (400, "bad_code_verifier")
    session = exchange(mail_node, code, verifier)
    assert session.status_code == 200, session.text
    assert session.json()["user"]["id"] == user["id"]
    again = exchange(mail_node, code, verifier)
    assert (again.status_code, error_code(again)) == (404, "flow_state_not_found")

    # the link was used up with the first follow: the error goes back in the fragment
    used = follow(mail_node, mail)
    assert used.startswith(f"{APP_REDIRECT}#error=access_denied&error_code=otp_expired")

    new_password = "a pkce horse battery 9"
    access = session.json()["access_token"]
    changed = call(mail_node, "PUT", "user", access, json={"password": new_password})
    assert changed.status_code == 200, changed.text
    signed_in = call(
        mail_node,
        "POST",
        "token",
        params={"grant_type": "password"},
        json={"email": email, "password": new_password},
    )
    assert signed_in.status_code == 200, signed_in.text


def test_a_pkce_sign_in_link_creates_the_user_when_its_code_is_exchanged(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    verifier, challenge = pkce_pair()
    asked = call(
        mail_node,
        "POST",
        "otp",
        params={"redirect_to": APP_REDIRECT},
        json={
            "email": email,
            "create_user": True,
            "data": {"nickname": "pk"},
            "code_challenge": challenge,
            "code_challenge_method": "s256",
        },
    )
    assert asked.status_code == 200, asked.text
    mail = sink.only_mail_to(email)
    assert mail.link_query()["type"] == "signup"
    session = exchange(mail_node, code_of(follow(mail_node, mail)), verifier)
    assert session.status_code == 200, session.text
    made = session.json()["user"]
    assert (made["email"], made["user_metadata"]["nickname"]) == (email, "pk")


def test_a_pkce_mail_s_code_typed_in_answers_the_session_itself(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    call(mail_node, "POST", "signup", json={"email": email, "password": PASSWORD})
    _, challenge = pkce_pair()
    body = {"email": email, "code_challenge": challenge, "code_challenge_method": "S256"}
    assert call(mail_node, "POST", "recover", json=body).status_code == 200
    mail = sink.only_mail_to(email)
    verified = call(
        mail_node, "POST", "verify", json={"type": "recovery", "email": email, "token": mail.code}
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["user"]["email"] == email
    # one token: its link is used up too
    assert "error_code=otp_expired" in follow(mail_node, mail)


@pytest.mark.parametrize(
    "pkce",
    [
        {"code_challenge": "too-short", "code_challenge_method": "s256"},
        {"code_challenge": "c" * 43, "code_challenge_method": "md5"},
        {"code_challenge": "c" * 43},
        {"code_challenge_method": "s256"},
    ],
)
def test_a_malformed_challenge_is_refused_before_any_mail(
    mail_node: Node, sink: Sink, pkce: dict[str, str]
) -> None:
    email = new_email()
    call(mail_node, "POST", "signup", json={"email": email, "password": PASSWORD})
    for path in ("recover", "otp"):
        answer = call(mail_node, "POST", path, json={"email": email, **pkce})
        assert (answer.status_code, error_code(answer)) == (400, "validation_failed"), answer.text
    assert sink.sent_to(email) == []
