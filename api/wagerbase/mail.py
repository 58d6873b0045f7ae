"""Mail: the node's SMTP client (aiosmtplib) and its settings, for GoTrue's recovery and sign-in
mails (email_sign_in.py).

Every send is bounded: one deadline (`timeout`, 10 s) covers connecting, TLS, login and the
message, and at most `most_in_flight` sends of a worker run at once; past either the caller gets
MailFailed or MailBusy, never a wait without end. `security` is `starttls` (the default: the
server must offer STARTTLS, or nothing is sent), `tls` (TLS from the first byte, port 465) or
`none` (plain text: a relay on the same host or a test's sink only).
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Literal

import aiosmtplib

log = logging.getLogger("wagerbase")

Security = Literal["starttls", "tls", "none"]
SECURITIES: tuple[Security, ...] = ("starttls", "tls", "none")
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_OTP_EXPIRY_SECONDS = 3600  # GoTrue's GOTRUE_MAILER_OTP_EXP
DEFAULT_MAX_FREQUENCY_SECONDS = 60  # GoTrue's GOTRUE_SMTP_MAX_FREQUENCY
MOST_IN_FLIGHT = 16


@dataclass(frozen=True)
class MailSettings:
    """How the node mails (settings.mail reads them from WAGERBASE_SMTP_* and the others):
    without `host` (or the site URL, site_urls.py), recovery and email sign-in are off."""

    host: str | None = None
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "Wagerbase <noreply@localhost>"
    security: Security = "starttls"
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    otp_expiry: int = DEFAULT_OTP_EXPIRY_SECONDS
    max_frequency: int = DEFAULT_MAX_FREQUENCY_SECONDS

    def missing(self, site_url: str | None) -> str | None:
        """The setting that keeps mail off (WAGERBASE_SMTP_HOST, WAGERBASE_SITE_URL: where the
        links lead), or None."""
        if not self.host:
            return "WAGERBASE_SMTP_HOST"
        if not site_url:
            return "WAGERBASE_SITE_URL"
        return None


class MailFailed(Exception):
    """The mail was not sent: `reason` says why, in words fit for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailBusy(Exception):
    """Too many mails are being sent by this worker now."""


class Mailer:
    """One worker's SMTP client."""

    def __init__(self, settings: MailSettings, most_in_flight: int = MOST_IN_FLIGHT) -> None:
        self.settings = settings
        self.most_in_flight = most_in_flight
        self.in_flight = 0
        self.typical_seconds = 0.0  # how long a mail takes to send, smoothed (0: none sent yet)

    def full(self) -> bool:
        """Whether as many mails as may be are being sent now."""
        return self.in_flight >= self.most_in_flight

    async def send(self, to: str, subject: str, body: str) -> None:
        """Send a plain-text mail to `to`, within the deadline. Raises MailBusy, MailFailed."""
        if self.full():
            raise MailBusy
        settings = self.settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2].strip(">"))
        message.set_content(body)
        self.in_flight += 1
        started = time.monotonic()
        try:
            await asyncio.wait_for(
                aiosmtplib.send(
                    message,
                    hostname=settings.host,
                    port=settings.port,
                    username=settings.user or None,
                    password=settings.password if settings.user else None,
                    use_tls=settings.security == "tls",
                    start_tls=settings.security == "starttls",
                    timeout=settings.timeout,
                ),
                settings.timeout,
            )
            took = time.monotonic() - started
            self.typical_seconds = (
                took if not self.typical_seconds else (0.8 * self.typical_seconds + 0.2 * took)
            )
        except (TimeoutError, aiosmtplib.SMTPTimeoutError) as exc:
            log.warning("mail to the SMTP server timed out: %r", exc)
            raise MailFailed(
                f"the mail server did not answer within {settings.timeout:g} s"
            ) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            log.warning("the SMTP server refused the recipient: %r", exc.recipients)
            raise MailFailed("the mail server refused the address") from exc
        except aiosmtplib.SMTPResponseException as exc:
            log.warning("the SMTP server refused a mail: %s %s", exc.code, exc.message)
            raise MailFailed(f"the mail server refused it ({exc.code})") from exc
        except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
            log.warning("mail could not be sent: %r", exc)
            raise MailFailed("the mail server could not be reached") from exc
        finally:
            self.in_flight -= 1
