"""The node's SMTP client (wagerbase.mail) against real servers on 127.0.0.1: a sink that keeps
the mail, one that refuses it, one that never answers (the send ends at its deadline), none at
all; and the mail settings read from the environment."""

import asyncio

import pytest

from tests.serving import free_port
from tests.support.smtp_sink import running_sink, silent_server
from wagerbase import settings
from wagerbase.mail import Mailer, MailFailed, MailSettings


def _mailer(port: int, timeout: float = 10) -> Mailer:
    return Mailer(
        MailSettings(
            host="127.0.0.1",
            port=port,
            security="none",
            sender="Wagerbase <auth@example.test>",
            timeout=timeout,
        )
    )


def test_a_mail_reaches_the_server_whole() -> None:
    with running_sink() as (sink, port):
        asyncio.run(_mailer(port).send("ana@example.test", "Hello", "the body\n"))
    mail = sink.only_mail_to("ana@example.test")
    assert (mail.subject, mail.text.splitlines()) == ("Hello", ["the body"])
    assert mail.message["From"] == "Wagerbase <auth@example.test>"
    assert mail.message["Message-ID"].endswith("@example.test>")


def test_a_refused_mail_is_a_failure_naming_the_reply() -> None:
    with running_sink("554 5.7.1 not today") as (_, port), pytest.raises(MailFailed) as failed:
        asyncio.run(_mailer(port).send("ana@example.test", "Hello", "body"))
    assert failed.value.reason == "the mail server refused it (554)"


def test_a_server_that_never_answers_fails_the_send_at_its_deadline() -> None:
    with silent_server() as port:
        mailer = _mailer(port, timeout=0.5)
        with pytest.raises(MailFailed) as failed:
            asyncio.run(mailer.send("ana@example.test", "Hello", "body"))
    assert failed.value.reason == "the mail server did not answer within 0.5 s"
    assert mailer.in_flight == 0


def test_no_server_at_all_is_a_failure() -> None:
    with pytest.raises(MailFailed) as failed:
        asyncio.run(_mailer(free_port()).send("ana@example.test", "Hello", "body"))
    assert failed.value.reason == "the mail server could not be reached"


def test_starttls_is_required_unless_the_setting_says_otherwise() -> None:
    """The default security is starttls: a server that does not offer it gets no mail."""
    with running_sink() as (sink, port):
        mailer = Mailer(MailSettings(host="127.0.0.1", port=port, timeout=10))
        with pytest.raises(MailFailed):
            asyncio.run(mailer.send("ana@example.test", "Hello", "body"))
    assert sink.sent_to("ana@example.test") == []


def test_the_mail_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.mail() == MailSettings()
    assert MailSettings().missing("https://bets.example.test") == "WAGERBASE_SMTP_HOST"
    for name, value in {
        "WAGERBASE_SMTP_HOST": "smtp.example.test",
        "WAGERBASE_SMTP_SECURITY": "TLS",
        "WAGERBASE_SMTP_USER": "mailer",
        "WAGERBASE_SMTP_PASSWORD": "secret",
        "WAGERBASE_SMTP_TIMEOUT": "3",
        "WAGERBASE_OTP_EXPIRY": "600",
        "WAGERBASE_SMTP_MAX_FREQUENCY": "0",
    }.items():
        monkeypatch.setenv(name, value)
    read = settings.mail()
    assert read.missing(None) == "WAGERBASE_SITE_URL"
    assert read == MailSettings(
        host="smtp.example.test",
        port=465,
        user="mailer",
        password="secret",
        security="tls",
        timeout=3,
        otp_expiry=600,
        max_frequency=0,
    )
    assert read.missing("https://bets.example.test") is None
    monkeypatch.setenv("WAGERBASE_SMTP_SECURITY", "ssl")
    with pytest.raises(ValueError, match="WAGERBASE_SMTP_SECURITY"):
        settings.mail()
