"""Password recovery and sign-in by email (/auth/v1/recover, /otp, /verify), through a real SMTP
server the tests run (tests/support/smtp_sink.py): the mailed code and the link are one one-time
token, used once, replaced by a newer one, expiring (a node with a one-second expiry), one mail
per address a minute (GoTrue's over_email_send_rate_limit), an unknown address answered as a
known one, a sign-in that creates its user, and a node without an SMTP server refusing with
GoTrue's email_provider_disabled."""

import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.serving import Node, new_secret, serving
from tests.support.gotrue import DATED, PASSWORD, auth, error_code, error_message
from tests.support.smtp_sink import APP_REDIRECT, SITE_URL, Sink, node_env


@pytest.fixture
def sink(mail_sink: tuple[Sink, int]) -> Sink:
    return mail_sink[0]


def own_mail_node(
    database: str, port: int, folder: pytest.TempPathFactory, name: str, **settings: Any
) -> Node:
    env = node_env(port, WAGERBASE_ADDITIONAL_REDIRECT_URLS=APP_REDIRECT, **settings)
    return Node(database, new_secret(), folder.mktemp(name) / "serve.log", env=env)


@pytest.fixture(scope="module")
def quick_node(
    api_database: str, mail_sink: tuple[Sink, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """A node that mails an address as often as it is asked (WAGERBASE_SMTP_MAX_FREQUENCY=0)."""
    node = own_mail_node(
        api_database, mail_sink[1], tmp_path_factory, "quick", WAGERBASE_SMTP_MAX_FREQUENCY=0
    )
    with serving(node) as started:
        yield started


@pytest.fixture(scope="module")
def expiring_node(
    api_database: str, mail_sink: tuple[Sink, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """A node whose codes work one second (WAGERBASE_OTP_EXPIRY=1)."""
    node = own_mail_node(
        api_database, mail_sink[1], tmp_path_factory, "expiring", WAGERBASE_OTP_EXPIRY=1
    )
    with serving(node) as started:
        yield started


def new_email() -> str:
    return f"mail_{uuid.uuid4().hex[:10]}@example.test"


def call(node: Node, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
    return auth(node, method, path, token, headers=DATED, timeout=60, **kw)


def sign_up(node: Node, email: str) -> dict[str, Any]:
    answer = call(node, "POST", "signup", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    session: dict[str, Any] = answer.json()
    return session


def verify(node: Node, kind: str, **body: str) -> httpx.Response:
    answer: httpx.Response = call(node, "POST", "verify", json={"type": kind, **body})
    return answer


def refused(answer: httpx.Response, status: int, code: str) -> None:
    assert (answer.status_code, error_code(answer)) == (status, code), answer.text


def sign_in(node: Node, email: str, password: str) -> httpx.Response:
    answer: httpx.Response = call(
        node,
        "POST",
        "token",
        params={"grant_type": "password"},
        json={"email": email, "password": password},
    )
    return answer


def test_a_recovery_code_signs_in_once_and_lets_the_user_set_a_new_password(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    first = sign_up(mail_node, email)
    answer = call(mail_node, "POST", "recover", json={"email": email.upper()})
    assert (answer.status_code, answer.json()) == (200, {})
    mail = sink.only_mail_to(email)
    assert mail.subject == "Reset Your Password"
    assert mail.message["From"] == "Wagerbase <auth@example.test>"
    assert mail.link_query()["type"] == "recovery"
    assert mail.link.startswith(f"{SITE_URL}/auth/v1/verify?")

    verified = verify(mail_node, "recovery", email=email, token=mail.code)
    assert verified.status_code == 200, verified.text
    recovery = verified.json()
    assert recovery["user"]["id"] == first["user"]["id"]
    assert recovery["token_type"] == "bearer"
    # used once: the same code, or its link's token hash, never works again
    refused(verify(mail_node, "recovery", email=email, token=mail.code), 403, "otp_expired")
    used = verify(mail_node, "recovery", token_hash=mail.link_query()["token"])
    refused(used, 403, "otp_expired")
    assert error_message(used) == "Token has expired or is invalid"

    new_password = "a brand new horse 3"
    changed = call(
        mail_node, "PUT", "user", recovery["access_token"], json={"password": new_password}
    )
    assert changed.status_code == 200, changed.text
    # the other sessions end, as with any new password; the recovery's stays
    refused(call(mail_node, "GET", "user", first["access_token"]), 403, "session_not_found")
    assert call(mail_node, "GET", "user", recovery["access_token"]).status_code == 200
    refused(sign_in(mail_node, email, PASSWORD), 400, "invalid_credentials")
    assert sign_in(mail_node, email, new_password).status_code == 200


def test_a_wrong_code_is_refused_and_leaves_the_right_one_working(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    sign_up(mail_node, email)
    assert call(mail_node, "POST", "recover", json={"email": email}).status_code == 200
    code = sink.only_mail_to(email).code
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused(verify(mail_node, "recovery", email=email, token=wrong), 403, "otp_expired")
    refused(verify(mail_node, "recovery", email=new_email(), token=code), 403, "otp_expired")
    refused(verify(mail_node, "recovery", token_hash="0" * 56), 403, "otp_expired")
    # a type never mailed here finds nothing, and uses nothing up
    refused(verify(mail_node, "invite", email=email, token=code), 403, "otp_expired")
    assert verify(mail_node, "recovery", email=email, token=code).status_code == 200


def test_the_link_redirects_with_the_session_in_its_fragment_once(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    user = sign_up(mail_node, email)["user"]
    answer = call(
        mail_node, "POST", "recover", params={"redirect_to": APP_REDIRECT}, json={"email": email}
    )
    assert answer.status_code == 200, answer.text
    mail = sink.only_mail_to(email)
    query = mail.link_query()
    assert (query["type"], query["redirect_to"]) == ("recovery", APP_REDIRECT)
    link = f"{mail_node.url}{urlsplit(mail.link).path}?{urlsplit(mail.link).query}"

    followed = httpx.get(link, timeout=60)
    assert followed.status_code == 303, followed.text
    target, _, fragment = followed.headers["location"].partition("#")
    assert target == APP_REDIRECT
    got = {key: values[0] for key, values in parse_qs(fragment).items()}
    assert (got["type"], got["token_type"]) == ("recovery", "bearer")
    me = call(mail_node, "GET", "user", got["access_token"])
    assert me.json()["id"] == user["id"]
    refreshed = call(
        mail_node,
        "POST",
        "token",
        params={"grant_type": "refresh_token"},
        json={"refresh_token": got["refresh_token"]},
    )
    assert refreshed.status_code == 200, refreshed.text

    again = httpx.get(link, timeout=60)
    assert again.status_code == 303
    target, _, fragment = again.headers["location"].partition("#")
    assert target == APP_REDIRECT
    assert parse_qs(fragment) == {
        "error": ["access_denied"],
        "error_code": ["otp_expired"],
        "error_description": ["Email link is invalid or has expired"],
    }


def test_a_redirect_elsewhere_is_replaced_by_the_site_url(quick_node: Node, sink: Sink) -> None:
    email = new_email()
    sign_up(quick_node, email)
    for evil in ("https://evil.example/x", "myapp://reset-passwordX", f"{SITE_URL}.evil.example"):
        answer = call(
            quick_node,
            "POST",
            "otp",
            params={"redirect_to": evil},
            json={"email": email, "create_user": False},
        )
        assert answer.status_code == 200, answer.text
        assert sink.last_mail_to(email).link_query()["redirect_to"] == SITE_URL
    mine = f"{SITE_URL}/wallet?x=1"
    query = {"token": "0" * 56, "type": "magiclink", "redirect_to": mine}
    denied = httpx.get(f"{quick_node.url}/auth/v1/verify", params=query, timeout=60)
    assert denied.headers["location"].startswith(f"{mine}#error=access_denied")
    query["redirect_to"] = "https://evil.example/"
    denied = httpx.get(f"{quick_node.url}/auth/v1/verify", params=query, timeout=60)
    assert denied.headers["location"].startswith(f"{SITE_URL}#error=access_denied")


def test_sign_in_by_email_creates_the_user_with_their_data_when_the_code_is_used(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    body = {"email": email, "create_user": True, "data": {"nick": "Ana"}}
    answer = call(mail_node, "POST", "otp", json=body)
    assert (answer.status_code, answer.json()) == (200, {})
    mail = sink.only_mail_to(email)
    assert mail.subject == "Confirm Your Signup"
    assert mail.link_query()["type"] == "signup"
    # nobody is made until the code is used: the address still names no user
    nobody = call(mail_node, "POST", "otp", json={"email": email, "create_user": False})
    refused(nobody, 422, "otp_disabled")

    verified = verify(mail_node, "email", email=email, token=mail.code)
    assert verified.status_code == 200, verified.text
    user = verified.json()["user"]
    assert user["email"] == email
    assert user["user_metadata"] == {"nick": "Ana"}
    assert user["email_confirmed_at"] is not None
    assert [identity["provider"] for identity in user["identities"]] == ["email"]
    # no password: a password sign-in fails until they set one
    refused(sign_in(mail_node, email, PASSWORD), 400, "invalid_credentials")
    token = verified.json()["access_token"]
    assert call(mail_node, "PUT", "user", token, json={"password": PASSWORD}).status_code == 200
    assert sign_in(mail_node, email, PASSWORD).status_code == 200


def test_an_existing_user_signs_in_by_email_and_create_user_false_reveals_as_gotrue_does(
    quick_node: Node, sink: Sink
) -> None:
    email = new_email()
    user = sign_up(quick_node, email)["user"]
    answer = call(quick_node, "POST", "otp", json={"email": email, "create_user": False})
    assert answer.status_code == 200, answer.text
    mail = sink.only_mail_to(email)
    assert (mail.subject, mail.link_query()["type"]) == ("Your Magic Link", "magiclink")
    verified = verify(quick_node, "magiclink", token_hash=mail.link_query()["token"])
    assert verified.json()["user"]["id"] == user["id"]
    # GoTrue's answer for an unknown address without create_user: no mail, no user
    stranger = new_email()
    refused(
        call(quick_node, "POST", "otp", json={"email": stranger, "create_user": False}),
        422,
        "otp_disabled",
    )
    assert sink.sent_to(stranger) == []


def test_recovery_of_an_unknown_address_answers_as_for_a_known_one_and_sends_nothing(
    mail_node: Node, sink: Sink
) -> None:
    known, unknown = new_email(), new_email()
    sign_up(mail_node, known)
    answers = [call(mail_node, "POST", "recover", json={"email": e}) for e in (known, unknown)]
    assert [(a.status_code, a.json()) for a in answers] == [(200, {}), (200, {})]
    assert len(sink.sent_to(known)) == 1
    assert sink.sent_to(unknown) == []
    # and each is limited alike: one a minute
    again = [call(mail_node, "POST", "recover", json={"email": e}) for e in (known, unknown)]
    for answer in again:
        refused(answer, 429, "over_email_send_rate_limit")
        assert 1 <= int(answer.headers["retry-after"]) <= 60
        assert error_message(answer).startswith("For security purposes, you can only request")
    assert len(sink.sent_to(known)) == 1


def test_one_mail_a_minute_per_address_whichever_kind(mail_node: Node, sink: Sink) -> None:
    email = new_email()
    sign_up(mail_node, email)
    assert call(mail_node, "POST", "otp", json={"email": email}).status_code == 200
    refused(
        call(mail_node, "POST", "recover", json={"email": email}), 429, "over_email_send_rate_limit"
    )
    refused(
        call(mail_node, "POST", "otp", json={"email": email}), 429, "over_email_send_rate_limit"
    )
    assert len(sink.sent_to(email)) == 1
    # another address is not held back by this one
    other = new_email()
    assert call(mail_node, "POST", "otp", json={"email": other}).status_code == 200


def test_a_new_code_replaces_the_old_one(quick_node: Node, sink: Sink) -> None:
    email = new_email()
    sign_up(quick_node, email)
    for _ in range(2):
        assert call(quick_node, "POST", "recover", json={"email": email}).status_code == 200
    old, new = sink.sent_to(email)
    assert old.code != new.code or old.link != new.link
    refused(
        verify(quick_node, "recovery", token_hash=old.link_query()["token"]), 403, "otp_expired"
    )
    assert verify(quick_node, "recovery", email=email, token=new.code).status_code == 200


def test_a_code_expires_after_the_setting(expiring_node: Node, sink: Sink) -> None:
    """The node's codes work one second (WAGERBASE_OTP_EXPIRY=1)."""
    email = new_email()
    sign_up(expiring_node, email)
    assert call(expiring_node, "POST", "recover", json={"email": email}).status_code == 200
    mail = sink.only_mail_to(email)
    time.sleep(2)  # past the expiry: waited for, not measured
    refused(verify(expiring_node, "recovery", email=email, token=mail.code), 403, "otp_expired")
    refused(
        verify(expiring_node, "recovery", token_hash=mail.link_query()["token"]), 403, "otp_expired"
    )


def test_without_an_smtp_server_recovery_and_sign_in_are_refused_as_gotrue_does(
    node: Node,
) -> None:
    """The suite's node has no WAGERBASE_SMTP_HOST."""
    for path, body in (
        ("recover", {"email": new_email()}),
        ("otp", {"email": new_email(), "create_user": True}),
    ):
        answer = call(node, "POST", path, json=body)
        refused(answer, 400, "email_provider_disabled")
        assert "WAGERBASE_SMTP_HOST" in error_message(answer)
    link = httpx.get(
        f"{node.url}/auth/v1/verify", params={"token": "0" * 56, "type": "recovery"}, timeout=60
    )
    assert link.status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("recover", {}, 400, "validation_failed"),
        ("recover", {"email": "not-an-address"}, 400, "validation_failed"),
        ("recover", {"email": "a" * 400 + "@example.test"}, 400, "validation_failed"),
        ("otp", {}, 400, "validation_failed"),
        ("otp", {"phone": "+15555550100"}, 422, "phone_provider_disabled"),
        ("otp", {"email": "x@example.test", "data": "not an object"}, 400, "validation_failed"),
        ("verify", {"email": "x@example.test", "token": "123456"}, 400, "validation_failed"),
        ("verify", {"type": "recovery", "email": "x@example.test"}, 400, "validation_failed"),
        ("verify", {"type": "recovery", "token": "123456"}, 400, "validation_failed"),
        ("verify", {"type": "nonsense", "token_hash": "ab"}, 400, "validation_failed"),
        ("verify", {"type": "sms", "phone": "+1555", "token": "1"}, 422, "phone_provider_disabled"),
        ("verify", {"type": "recovery", "token_hash": "f" * 129}, 400, "validation_failed"),
    ],
)
def test_request_shapes_are_refused_as_gotrue_refuses_them(
    mail_node: Node, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    refused(call(mail_node, "POST", path, json=body), status, code)


def test_bad_input_is_refused_in_gotrue_s_words_before_any_mail(
    mail_node: Node, sink: Sink
) -> None:
    email = new_email()
    body = {"email": email, "data": {"x": "y" * 5000}}
    answer = call(mail_node, "POST", "otp", json=body)
    refused(answer, 400, "validation_failed")
    assert error_message(answer).startswith("Invalid user_metadata (data)")
    assert sink.sent_to(email) == []
    answer = call(mail_node, "POST", "recover", json={"email": "not-an-address"})
    assert error_message(answer) == "Unable to validate email address: invalid format"
