"""/auth/v1's password recovery and sign-in by email, as supabase-js calls them:
`resetPasswordForEmail` (POST /recover), `signInWithOtp` with an email (POST /otp), `verifyOtp`
(POST /verify, with the email and the six-digit code or with the token hash) and the mails'
links (GET /verify, which answers 303 to the redirect with the session in the URL's fragment, or
GoTrue's error there; for a mail asked for with a PKCE `code_challenge`, to the redirect with
`?code=<auth code>`, which /token?grant_type=pkce exchanges with the verifier). A recovery's
session is a session like any other: `updateUser({password})` with it sets the new password and
ends the user's other sessions. The rules are wagerbase.email_sign_in's; the mail is
wagerbase.mail's; the redirects are wagerbase.site_urls's, as /callback's.

Not done: phone numbers (422 phone_provider_disabled, as sign-up)."""

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import QueryParameter

from wagerbase.account_refusals import refusal
from wagerbase.email_sign_in import EmailSignIn, token_hash
from wagerbase.errors import ApiError
from wagerbase.http.common import client_address
from wagerbase.site_urls import error_url, session_params, with_params
from wagerbase.surfaces.gotrue.structs import Session, documented_errors, session

Email = Annotated[str, msgspec.Meta(max_length=320)]
Secret = Annotated[str, msgspec.Meta(max_length=128)]  # a code, a token hash, a PKCE challenge
Redirect = Annotated[str, QueryParameter(name="redirect_to", max_length=2048)]
# the types of verifyOtp for an email; invite and email_change tokens are never issued here, so
# they are always otp_expired
EMAIL_TYPES = ("recovery", "magiclink", "email", "signup", "invite", "email_change")
_ISSUED = frozenset(EMAIL_TYPES[:4])


class Recover(msgspec.Struct):
    """resetPasswordForEmail's body."""

    email: Email | None = None
    code_challenge: Secret | None = None
    code_challenge_method: Annotated[str, msgspec.Meta(max_length=16)] | None = None
    gotrue_meta_security: dict[str, Any] | None = None


class Otp(Recover):
    """signInWithOtp's body: `data` becomes the new user's user_metadata."""

    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    create_user: bool = True
    data: dict[str, Any] | None = None
    channel: Annotated[str, msgspec.Meta(max_length=16)] | None = None


class Verify(msgspec.Struct):
    """verifyOtp's body: a type, and the email with the code, or the token hash."""

    type: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    email: Email | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    token: Secret | None = None
    token_hash: Secret | None = None
    redirect_to: Annotated[str, msgspec.Meta(max_length=2048)] | None = None
    gotrue_meta_security: dict[str, Any] | None = None


def provide_email_sign_in(state: State) -> EmailSignIn:
    email_sign_in: EmailSignIn = state.email_sign_in
    return email_sign_in


# not `email`: Litestar reads an invalid body field named as a dependency as its own error (500)
_DEPENDENCIES = {"by_email": Provide(provide_email_sign_in, sync_to_thread=False)}


@post(
    "/recover",
    status_code=200,
    dependencies=_DEPENDENCIES,
    summary="Mail a password-recovery code and link (answered alike for an unknown address)",
    responses=documented_errors(400, 422, 429, 503),
)
async def recover(
    request: Request[Any, Any, Any],
    data: Recover,
    by_email: EmailSignIn,
    redirect_to: Redirect | None = None,
) -> dict[str, Any]:
    if not data.email:
        raise refusal(400, "validation_failed", "Password recovery requires an email")
    await by_email.send(
        address=client_address(request),
        purpose="recovery",
        email=data.email,
        redirect_to=redirect_to,
        code_challenge=data.code_challenge,
        code_challenge_method=data.code_challenge_method,
    )
    return {}


@post(
    "/otp",
    status_code=200,
    dependencies=_DEPENDENCIES,
    summary="Mail a sign-in code and link; with create_user, verifying it creates the user",
    responses=documented_errors(400, 422, 429, 503),
)
async def otp(
    request: Request[Any, Any, Any],
    data: Otp,
    by_email: EmailSignIn,
    redirect_to: Redirect | None = None,
) -> dict[str, Any]:
    if data.email and data.phone:
        raise refusal(
            400, "validation_failed", "Only an email address or phone number should be provided"
        )
    if data.phone:
        raise refusal(422, "phone_provider_disabled", "Phone logins are disabled")
    if not data.email:
        raise refusal(400, "validation_failed", "You must provide either an email or phone number.")
    await by_email.send(
        address=client_address(request),
        purpose="magiclink",
        email=data.email,
        create_user=data.create_user,
        data=data.data,
        redirect_to=redirect_to,
        code_challenge=data.code_challenge,
        code_challenge_method=data.code_challenge_method,
    )
    return {}


def _verify_type(kind: str | None) -> str:
    if not kind:
        raise refusal(400, "validation_failed", "Verify requires a verification type")
    if kind in ("sms", "phone_change"):
        raise refusal(422, "phone_provider_disabled", "Phone logins are disabled")
    if kind not in EMAIL_TYPES:
        raise refusal(400, "validation_failed", "Unsupported verification type")
    return kind


@post(
    "/verify",
    status_code=200,
    dependencies=_DEPENDENCIES,
    summary="Use up a mailed code (with its email) or token hash for a session",
    responses=documented_errors(400, 403, 422, 429),
)
async def verify(request: Request[Any, Any, Any], data: Verify, by_email: EmailSignIn) -> Session:
    kind = _verify_type(data.type)
    if data.token_hash:
        hashed = data.token_hash
    elif not data.token:
        raise refusal(400, "validation_failed", "Verify requires either a token or a token hash")
    elif not data.email:
        raise refusal(400, "validation_failed", "Verify requires an email")
    else:
        hashed = token_hash(data.email, data.token)
    if kind not in _ISSUED:
        raise refusal(403, "otp_expired", "Token has expired or is invalid")
    return session(await by_email.verify(address=client_address(request), hashed=hashed))


@get(
    "/verify",
    status_code=303,
    dependencies=_DEPENDENCIES,
    summary="A mail's link: 303 to the redirect with the session (or the error) in its fragment, "
    "or with a PKCE auth code in its query",
    responses=documented_errors(400, 429),
)
async def verify_link(
    request: Request[Any, Any, Any],
    by_email: EmailSignIn,
    token: Annotated[str, QueryParameter(max_length=128)],
    link_type: Annotated[str, QueryParameter(name="type", max_length=32)],
    redirect_to: Redirect | None = None,
) -> Response[None]:
    by_email.refuse_unless_configured()
    kind = _verify_type(link_type)
    target = by_email.redirect_target(redirect_to)
    location = error_url(
        target, "access_denied", "otp_expired", "Email link is invalid or has expired", query=False
    )
    if kind in _ISSUED:
        try:
            used = await by_email.follow_link(
                address=client_address(request), hashed=token, redirect_to=target
            )
        except ApiError as exc:
            if exc.code != "otp_expired":
                raise
        else:
            if isinstance(used, str):  # a PKCE auth code
                location = with_params(target, {"code": used})
            else:
                location = with_params(target, session_params(used, kind), fragment=True)
    return Response(
        content=None, status_code=303, headers={"Location": location, "Cache-Control": "no-store"}
    )


HANDLERS = [recover, otp, verify, verify_link]
