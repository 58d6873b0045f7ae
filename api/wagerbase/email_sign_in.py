"""Password recovery and sign-in by email, as GoTrue's /recover, /otp and /verify do them.

A mail carries one secret, a six-digit code (GoTrue's OTP). Its link's token is GoTrue's token
hash, SHA-224 of the address and the code, so the code (verifyOtp with email and token) and the
link (its token_hash, or GET /verify) are the same one-time token; the database keeps only the
SHA-256 of the token hash (rpc/08_email_tokens.sql), one per address, the newest, expiring after
`otp_expiry`, deleted when it is used or tried after its expiry. An address gets one mail per
`max_frequency` (429 over_email_send_rate_limit), known or not: /recover answers an unknown
address as a known one (after about as long as a mail takes) and sends nothing. /recover and
/otp count as sign-ups against the client address's limit, /verify as a sign-in, so codes cannot
be guessed faster than passwords.
Verifying a sign-in's code for an address that names nobody creates the user (create_user), with
its data as user_metadata, their email proven by the code.
A mail asked for with a PKCE challenge (supabase-js's flowType 'pkce') keeps it with its token;
its link (GET /verify) then ends in a PKCE auth code, in the same code store as the OpenID
Connect sign-ins' (oidc_flows.py), which grant_type=pkce exchanges for the session with the
verifier. The code with its email (POST /verify) answers the session itself, PKCE or not.
Where links lead, and which redirect_to they may follow, is site_urls.py's.
"""

import asyncio
import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import psycopg

from wagerbase.account_core import SignedIn, digest, one
from wagerbase.account_refusals import EMAIL_RATE_LIMITED, invalid_input, refusal, too_many
from wagerbase.accounts import Accounts
from wagerbase.errors import ApiError
from wagerbase.mail import MailBusy, Mailer, MailFailed, MailSettings
from wagerbase.oidc_flows import pkce_challenge
from wagerbase.site_urls import SiteUrls
from wagerbase.sql_files import statements

QUERIES = statements(__package__, "email_sign_in.sql")

Purpose = Literal["recovery", "magiclink"]
# what each kind of mail says, GoTrue's default subjects
_MAILS = {
    "recovery": ("Reset Your Password", "reset the password of your account", "recovery"),
    "magiclink": ("Your Magic Link", "sign in", "magic link"),
    "signup": ("Confirm Your Signup", "confirm your email and sign in", "confirmation"),
}
RETRY_AFTER_FAILED_SEND = 5  # seconds


def normal_email(email: str) -> str:
    return email.strip().lower()


def token_hash(email: str, code: str) -> str:
    """GoTrue's token hash of a mailed code: SHA-224 (hex) of the address and the code."""
    return hashlib.sha224((normal_email(email) + code).encode()).hexdigest()


def _mail_text(kind: str, link: str, code: str, minutes: int) -> tuple[str, str]:
    subject, what, _ = _MAILS[kind]
    body = (
        f"Follow this link to {what}:\n\n{link}\n\n"
        f"Or enter this code: {code}\n\n"
        f"The link and the code work once, for {minutes} minutes. If you did not ask for this "
        "mail, ignore it.\n"
    )
    return subject, body


@dataclass
class EmailSignIn:
    """One worker's recovery and email sign-in: the accounts (sessions, the address's limit),
    the mailer and where links lead."""

    accounts: Accounts
    mailer: Mailer
    site: SiteUrls

    @property
    def settings(self) -> MailSettings:
        return self.mailer.settings

    def redirect_target(self, redirect_to: str | None) -> str:
        """Where a link leads once used: `redirect_to` when allowed (site_urls.redirect_allowed),
        else the site URL."""
        return self.site.target(redirect_to, self.site.site_url or "")

    def refuse_unless_configured(self) -> None:
        """GoTrue's refusal when it may not mail (400 email_provider_disabled), naming the
        setting that is missing."""
        missing = self.settings.missing(self.site.site_url)
        if missing is not None:
            raise refusal(
                400,
                "email_provider_disabled",
                f"Email logins are disabled: this server sends no mail ({missing} is not set)",
            )

    async def send(
        self,
        *,
        address: str,
        purpose: Purpose,
        email: str,
        create_user: bool = False,
        data: dict[str, Any] | None = None,
        redirect_to: str | None = None,
        code_challenge: str | None = None,
        code_challenge_method: str | None = None,
    ) -> None:
        """Mail `email` a recovery (`purpose` recovery) or sign-in (magiclink) code and link,
        the link's token keeping the PKCE challenge when there is one. Returns without a mail
        for a recovery of an address that names nobody. Refusals: email_provider_disabled,
        validation_failed (also a malformed challenge), over_request_rate_limit (the client
        address), otp_disabled (a sign-in without create_user for an unknown address),
        over_email_send_rate_limit (the address, or the worker's mails in flight),
        unexpected_failure (503: the mail server failed; nothing was kept)."""
        self.refuse_unless_configured()
        pkce = pkce_challenge(code_challenge, code_challenge_method)
        if self.mailer.full():
            raise too_many("Email rate limit exceeded", RETRY_AFTER_FAILED_SEND, EMAIL_RATE_LIMITED)
        email = normal_email(email)
        code = f"{secrets.randbelow(10**6):06d}"
        hashed = token_hash(email, code)
        settings = self.settings
        try:
            async with self.accounts.db.as_server() as conn:
                await self.accounts.within_limit(conn, "sign_up", address)
                row = await one(
                    conn,
                    QUERIES["issue_email_token"],
                    {
                        "email": email,
                        "purpose": purpose,
                        "digest": digest(hashed),
                        "create_user": create_user,
                        "data": json.dumps(data or {}),
                        "expiry": settings.otp_expiry,
                        "interval": settings.max_frequency,
                        "code_challenge": pkce[0] if pkce else None,
                        "code_challenge_method": pkce[1] if pkce else None,
                    },
                )
        except psycopg.Error as exc:
            refused = invalid_input(exc)  # a bad email or user_metadata, in GoTrue's words
            if refused is None:
                raise
            raise refused from exc
        result = row["result"]
        status = result["status"]
        if status == "signups_disabled":
            raise refusal(422, "otp_disabled", "Signups not allowed for otp")
        if status == "rate_limited":
            raise too_many(
                "For security purposes, you can only request this after "
                f"{result['retry_after']} seconds.",
                int(result["retry_after"]),
                EMAIL_RATE_LIMITED,
            )
        if status == "no_user":
            # about as long as a mail takes, so that the answer's time tells nothing either
            await asyncio.sleep(min(self.mailer.typical_seconds, settings.timeout))
            return
        kind = purpose if purpose == "recovery" or not result["new_user"] else "signup"
        query = urlencode(
            {"token": hashed, "type": kind, "redirect_to": self.redirect_target(redirect_to)}
        )
        link = f"{self.site.api_external_url or self.site.site_url}/auth/v1/verify?{query}"
        subject, body = _mail_text(kind, link, code, max(1, settings.otp_expiry // 60))
        try:
            await self.mailer.send(email, subject, body)
        except MailFailed as exc:
            await self._cancel(email, hashed)
            raise ApiError(
                status=503,
                code="unexpected_failure",
                message=f"Error sending {_MAILS[kind][2]} email: {exc.reason}",
                headers={"Retry-After": str(RETRY_AFTER_FAILED_SEND)},
            ) from exc
        except MailBusy as exc:
            await self._cancel(email, hashed)
            raise too_many(
                "Email rate limit exceeded", RETRY_AFTER_FAILED_SEND, EMAIL_RATE_LIMITED
            ) from exc

    async def _cancel(self, email: str, hashed: str) -> None:
        async with self.accounts.db.as_server() as conn:
            await conn.execute(
                QUERIES["cancel_email_token"], {"email": email, "digest": digest(hashed)}
            )

    async def verify(self, *, address: str, hashed: str) -> SignedIn:
        """Use up the one-time token whose token hash is `hashed` for a new session of its
        address's user (created now for a sign-in with create_user). Refusals:
        over_request_rate_limit (the client address), otp_expired (403: unknown, used, replaced
        or expired)."""
        used = await self._use(address=address, hashed=hashed, redirect_to=None)
        assert isinstance(used, SignedIn)  # no auth code was offered
        return used

    async def follow_link(self, *, address: str, hashed: str, redirect_to: str) -> SignedIn | str:
        """A mail's link: use up its token for a new session, or for a PKCE auth code (returned
        as it is) when the mail was asked for with a challenge. Refusals: those of verify."""
        return await self._use(address=address, hashed=hashed, redirect_to=redirect_to)

    async def _use(self, *, address: str, hashed: str, redirect_to: str | None) -> SignedIn | str:
        auth_code = str(uuid.uuid4()) if redirect_to is not None else None
        async with self.accounts.db.as_server() as conn:
            await self.accounts.within_limit(conn, "sign_in", address)
            row = await one(
                conn,
                QUERIES["verify_email_token"],
                {
                    "digest": digest(hashed),
                    "auth_code_digest": auth_code and digest(auth_code),
                    "redirect_to": redirect_to,
                },
            )
            result = row["result"]
            if result["status"] == "ok":
                if result.get("pkce") and auth_code is not None:
                    return auth_code
                return await self.accounts.open_session(conn, str(result["user_id"]))
        raise refusal(403, "otp_expired", "Token has expired or is invalid")
