"""Sign-in with OpenID Connect providers, as GoTrue's external providers do it for supabase-js's
signInWithOAuth: /authorize starts a flow (its state and nonce kept as the database's, single
use, 10 minutes), the provider's callback exchanges the code and signs the user in, and the
client's PKCE exchange (grant_type=pkce) turns the auth code into a session; without PKCE the
session goes back in the redirect's fragment (the implicit flow).

The provider is talked to by OidcClient (bounded); the rows are written by the server.
functions of rpc/06_oidc.sql, one call each. What the provider says of the user goes to the
identity and to a new user's user_metadata, never to app_metadata: whether they are an admin is
the database's (public.acts_as_admin).
"""

import base64
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from wagerbase.account_core import SignedIn, digest, one, signed_in
from wagerbase.account_refusals import refusal, too_many
from wagerbase.database import Database
from wagerbase.oidc_client import OidcClient, OidcError
from wagerbase.oidc_config import OidcSettings, Provider
from wagerbase.site_urls import SiteUrls, session_params, with_params
from wagerbase.sql_files import statements
from wagerbase.tokens import Tokens

QUERIES = statements(__package__, "oidc_flows.sql")
CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636's code_challenge and verifier
MAX_CODE = 2048  # the longest authorization code or state taken from a callback
MAX_CLAIM_CHARS = 255
# what of the id_token a user's identity and a new user's user_metadata keep (GoTrue's Claims)
KEPT_CLAIMS = ("iss", "sub", "email", "email_verified", "name", "picture", "phone_verified")


class CallbackError(Exception):
    """A callback that cannot sign anyone in, in GoTrue's redirect words."""

    def __init__(self, error: str, code: str, description: str) -> None:
        super().__init__(description)
        self.error, self.code, self.description = error, code, description


def s256(verifier: str) -> str:
    """RFC 7636's S256 challenge of a code verifier."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_challenge(
    code_challenge: str | None, code_challenge_method: str | None
) -> tuple[str, str] | None:
    """A client's PKCE challenge and its method (s256 or plain, lower-cased), for /authorize and
    the mails of /recover and /otp alike; None without one. Refusal: validation_failed (one
    without the other, or malformed)."""
    if not code_challenge and not code_challenge_method:
        return None
    if not code_challenge or not code_challenge_method:
        message = "PKCE flow requires code_challenge_method and code_challenge"
        raise refusal(400, "validation_failed", message)
    method = code_challenge_method.lower()
    if not CHALLENGE.match(code_challenge) or method not in ("s256", "plain"):
        message = "code_challenge must be 43 to 128 URL characters, its method s256 or plain"
        raise refusal(400, "validation_failed", message)
    return code_challenge, method


def kept_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The id_token's claims a user's identity keeps (strings cut at 255 characters), with
    GoTrue's aliases (full_name, avatar_url, provider_id)."""
    kept: dict[str, Any] = {}
    for name in KEPT_CLAIMS:
        value = claims.get(name)
        if name.endswith("_verified"):  # true only when the provider says so plainly
            kept[name] = value is True or value == "true"
        elif isinstance(value, str):
            kept[name] = value[:MAX_CLAIM_CHARS]
    for alias, source in (("full_name", "name"), ("avatar_url", "picture"), ("provider_id", "sub")):
        if source in kept:
            kept[alias] = kept[source]
    return kept


@dataclass
class OidcFlows:
    """One node's sign-ins with OpenID Connect providers."""

    db: Database
    tokens: Tokens
    client: OidcClient
    settings: OidcSettings
    site: SiteUrls

    def provider(self, name: str | None) -> Provider:
        """The provider of this name; GoTrue's 400 validation_failed otherwise."""
        found = self.settings.provider(name or "")
        if found is None:
            message = f"Unsupported provider: Provider {(name or '')[:40]} could not be found"
            raise refusal(400, "validation_failed", message)
        return found

    async def begin(
        self,
        *,
        address: str,
        provider: Provider,
        redirect_to: str,
        callback_url: str,
        code_challenge: str | None,
        code_challenge_method: str | None,
        scopes: str | None,
    ) -> str:
        """The provider's authorization URL for a new flow. Refusals: validation_failed (a
        challenge without its method, or malformed), over_request_rate_limit, and 502
        unexpected_failure when the provider's discovery document cannot be had."""
        pkce = pkce_challenge(code_challenge, code_challenge_method)
        try:
            document = await self.client.discovery(provider)
        except OidcError as exc:
            raise refusal(502, "unexpected_failure", f"Provider unavailable: {exc}") from exc
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        async with self.db.as_server() as conn:
            row = await one(
                conn,
                QUERIES["begin_flow"],
                {
                    "address": address,
                    "state_digest": digest(state),
                    "provider": provider.name,
                    "redirect_to": redirect_to,
                    "code_challenge": pkce[0] if pkce else None,
                    "code_challenge_method": pkce[1] if pkce else None,
                    "nonce": nonce,
                },
            )
        if row["wait"] > 0:
            raise too_many(
                f"Too many sign-ins from this address; try again in {row['wait']} s.", row["wait"]
            )
        requested = (scopes or "").replace(",", " ").split()
        scope = " ".join(dict.fromkeys((*provider.scopes, *requested[:20])))
        return with_params(
            document["authorization_endpoint"],
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": callback_url,
                "scope": scope[:1000],
                "state": state,
                "nonce": nonce,
            },
        )

    async def take_state(self, state: str | None) -> dict[str, Any]:
        """The flow of the state a provider sent back, used up. Raises CallbackError."""
        if not state:
            raise CallbackError(
                "invalid_request", "bad_oauth_callback", "OAuth state parameter missing"
            )
        if len(state) > MAX_CODE:
            raise CallbackError(
                "invalid_request", "bad_oauth_state", "OAuth callback with invalid state"
            )
        async with self.db.as_server() as conn:
            row = await one(conn, QUERIES["take_state"], {"state_digest": digest(state)})
        flow: dict[str, Any] | None = row["flow"]
        if flow is None:
            raise CallbackError(
                "invalid_request", "bad_oauth_state", "OAuth callback with invalid state"
            )
        return flow

    async def complete(
        self, flow: dict[str, Any], code: str | None, callback_url: str
    ) -> dict[str, str]:
        """Sign the flow's user in with the provider's `code`: for a PKCE flow {code: <auth
        code>}, else the session's fields for the redirect's fragment. Raises CallbackError."""
        if not code or len(code) > MAX_CODE:
            raise CallbackError("invalid_request", "bad_oauth_callback", "OAuth code missing")
        provider = self.settings.provider(flow["provider"])
        if provider is None:  # the node's settings changed since the flow began
            raise CallbackError("invalid_request", "provider_disabled", "Provider is not enabled")
        try:
            claims = await self.client.sign_in(provider, code, callback_url, flow["nonce"])
        except OidcError as exc:
            raise CallbackError(
                "server_error", "unexpected_failure", f"Unable to exchange external code: {exc}"
            ) from exc
        kept = kept_claims(claims)
        auth_code, session_id, refresh = (
            str(uuid.uuid4()),
            str(uuid.uuid4()),
            secrets.token_urlsafe(32),
        )
        try:
            async with self.db.as_server() as conn:
                row = await one(
                    conn,
                    QUERIES["complete_flow"],
                    {
                        "flow_id": flow["id"],
                        "claims": json.dumps(kept),
                        "user_metadata": json.dumps(kept),
                        "auth_code_digest": digest(auth_code),
                        "session_id": session_id,
                        "refresh_digest": digest(refresh),
                    },
                )
        except psycopg.Error as exc:
            if exc.diag.message_primary == "user_not_found":
                raise CallbackError("access_denied", "user_not_found", "User not found") from exc
            if exc.diag.message_primary in ("invalid_argument", "user_exists"):
                raise CallbackError(
                    "server_error", "unexpected_failure", "Error creating user from identity"
                ) from exc
            raise
        result = row["result"]
        if flow["pkce"]:
            return {"code": auth_code}
        return session_params(
            signed_in(self.tokens, result["user"], session_id, refresh, row["acts_as_admin"])
        )

    async def redeem(self, auth_code: str | None, code_verifier: str | None) -> SignedIn:
        """GoTrue's grant_type=pkce: the session of a PKCE flow's auth code. Refusals:
        validation_failed, flow_state_not_found (404), flow_state_expired (422),
        bad_code_verifier, user_not_found (404)."""
        if not auth_code or not code_verifier:
            message = "invalid request: both auth code and code verifier should be non-empty"
            raise refusal(400, "validation_failed", message)
        if len(auth_code) > MAX_CODE:
            raise refusal(
                404, "flow_state_not_found", "invalid flow state, no valid flow state found"
            )
        if not CHALLENGE.match(code_verifier):
            message = "code challenge does not match previously saved code verifier"
            raise refusal(400, "bad_code_verifier", message)
        session_id, refresh = str(uuid.uuid4()), secrets.token_urlsafe(32)
        async with self.db.as_server() as conn:
            row = await one(
                conn,
                QUERIES["redeem_code"],
                {
                    "code_digest": digest(auth_code),
                    "verifier": code_verifier,
                    "verifier_s256": s256(code_verifier),
                    "session_id": session_id,
                    "refresh_digest": digest(refresh),
                },
            )
        result = row["result"]
        status = result["status"]
        if status == "flow_state_not_found":
            raise refusal(404, status, "invalid flow state, no valid flow state found")
        if status == "flow_state_expired":
            raise refusal(422, status, "invalid flow state, flow state has expired")
        if status == "bad_code_verifier":
            message = "code challenge does not match previously saved code verifier"
            raise refusal(400, status, message)
        if status != "ok":
            raise refusal(404, "user_not_found", "User from flow state does not exist")
        return signed_in(self.tokens, result["user"], session_id, refresh, row["acts_as_admin"])
