"""A real SMTP server on 127.0.0.1 for the tests of recovery and sign-in by email (aiosmtpd, in a
thread of its own), that keeps every mail it is sent; and a server that accepts connections and
never says a word (a mail server that hangs). A node's send is done when its request is answered
(the node waits for the sink's 250 after the message), so a mail is in the sink, or is not, as
soon as the request that sends it returns.

`node_env` gives a node the settings that point it at a sink."""

import email
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.serving import free_port

SITE_URL = "http://app.example.test"
# a deep link of an app, allowed as a redirect by the tests' mail nodes
# (WAGERBASE_ADDITIONAL_REDIRECT_URLS)
APP_REDIRECT = "myapp://reset-password"


@dataclass(frozen=True)
class Mail:
    """One mail the sink was sent: its envelope's recipients and the message."""

    to: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        content: str = body.get_content()
        return content

    @property
    def code(self) -> str:
        """The six-digit code the mail gives."""
        found = re.search(r"code: (\d{6})\b", self.text)
        assert found is not None, self.text
        return found.group(1)

    @property
    def link(self) -> str:
        found = re.search(r"(https?://\S+/auth/v1/verify\?\S+)", self.text)
        assert found is not None, self.text
        return found.group(1)

    def link_query(self) -> dict[str, str]:
        """The link's query: token (the token hash), type, redirect_to."""
        return {key: values[0] for key, values in parse_qs(urlsplit(self.link).query).items()}


class Sink:
    """aiosmtpd's handler: keeps each mail, in the order they came; or, given `refusal` (an SMTP
    reply), refuses every message with it."""

    def __init__(self, refusal: str | None = None) -> None:
        self.mails: list[Mail] = []
        self.lock = threading.Lock()
        self.refusal = refusal

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusal is not None:
            return self.refusal
        content = envelope.content
        assert isinstance(content, bytes)
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.mails.append(Mail(tuple(envelope.rcpt_tos), message))
        return "250 OK"

    def sent_to(self, address: str) -> list[Mail]:
        with self.lock:
            return [mail for mail in self.mails if address in mail.to]

    def only_mail_to(self, address: str) -> Mail:
        """The one mail sent to `address` (asserted to be one)."""
        mails = self.sent_to(address)
        assert len(mails) == 1, [mail.subject for mail in mails]
        return mails[0]

    def last_mail_to(self, address: str) -> Mail:
        mails = self.sent_to(address)
        assert mails, f"no mail to {address}"
        return mails[-1]


@contextmanager
def running_sink(refusal: str | None = None) -> Iterator[tuple[Sink, int]]:
    """A sink listening on 127.0.0.1 for the block: it and its port."""
    sink = Sink(refusal)
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never answers (a hung mail server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port: int = listener.getsockname()[1]
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def node_env(port: int, **more: Any) -> dict[str, str]:
    """A node's settings for mailing through a sink on `port` (plain SMTP on 127.0.0.1)."""
    return {
        "WAGERBASE_SMTP_HOST": "127.0.0.1",
        "WAGERBASE_SMTP_PORT": str(port),
        "WAGERBASE_SMTP_SECURITY": "none",
        "WAGERBASE_SMTP_SENDER": "Wagerbase <auth@example.test>",
        "WAGERBASE_SITE_URL": SITE_URL,
        **{key: str(value) for key, value in more.items()},
    }
