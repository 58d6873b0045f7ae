"""The node as an OpenID Connect client (the relying party) of its providers: their discovery
documents and signing keys (each kept for an hour, at most one fetch of a provider's keys a
minute when an id_token names a key it does not know), the exchange of an authorization code at
the provider's token endpoint with the client secret, and the id_token's checks (its signature
against the provider's JWKS, issuer, audience, expiry, nonce).

Every call to a provider is bounded: connecting, each read and the whole exchange
(PROVIDER_SECONDS), and an answer's size (MAX_ANSWER_BYTES); a provider that is slow, silent or
too talkative is an OidcError, which the callback answers as GoTrue answers a provider's failure.
"""

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from wagerbase.oidc_config import Provider

PROVIDER_SECONDS = 10.0  # the most one exchange with a provider may take, all its requests
CONNECT_SECONDS = 5.0
MAX_ANSWER_BYTES = 256 * 1024
CACHE_SECONDS = 3600.0  # discovery documents and key sets are fetched again after an hour
KEYS_REFETCH_SECONDS = 60.0  # at most one fetch a minute for a key an id_token names anew
SLOW_DISCOVERY = "the provider's discovery document took too long"
FAILURE_SECONDS = 5.0  # a provider whose discovery failed is not asked again for this long
LEEWAY_SECONDS = 30  # clock skew allowed on the id_token's exp, iat and nbf
# asymmetric signatures only: an HMAC id_token would be signed with the client secret
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")


class OidcError(Exception):
    """A provider's failure or an id_token that does not check out, in words for the logs and the
    redirect's error_description (never a secret)."""


@dataclass
class _Cached:
    value: Any
    fetched: float


@dataclass
class OidcClient:
    """One node's client of its providers; `close` at shutdown."""

    http: httpx.AsyncClient = field(
        default_factory=lambda: httpx.AsyncClient(
            timeout=httpx.Timeout(PROVIDER_SECONDS, connect=CONNECT_SECONDS),
            follow_redirects=False,
            trust_env=False,
        )
    )
    _discovery: dict[str, _Cached] = field(default_factory=dict)
    _keys: dict[str, _Cached] = field(default_factory=dict)
    _failed: dict[str, _Cached] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def close(self) -> None:
        await self.http.aclose()

    async def _fetch(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A provider's JSON answer, within the size bound; OidcError for anything else."""
        try:
            async with self.http.stream(method, url, **kwargs) as answer:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_ANSWER_BYTES:
                        raise OidcError(f"the provider's answer from {url} is too large")
        except httpx.HTTPError as exc:
            raise OidcError(f"the provider did not answer {url}: {type(exc).__name__}") from exc
        if answer.status_code != 200:
            raise OidcError(f"the provider answered {url} with {answer.status_code}")
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise OidcError(f"the provider's answer from {url} is not JSON") from exc
        if not isinstance(value, dict):
            raise OidcError(f"the provider's answer from {url} is not a JSON object")
        return value

    async def discovery(self, provider: Provider) -> dict[str, Any]:
        """The provider's discovery document (cached), checked to name its own issuer and the
        endpoints the flow needs. One fetch at a time per provider; after a failure, the same
        failure for FAILURE_SECONDS without asking (a provider that is down is not flooded by
        every /authorize). Raises OidcError."""
        lock = self._locks.setdefault(provider.name, asyncio.Lock())
        try:
            async with asyncio.timeout(PROVIDER_SECONDS):
                async with lock:
                    return await self._discover(provider)
        except TimeoutError as exc:
            raise OidcError(SLOW_DISCOVERY) from exc

    async def _discover(self, provider: Provider) -> dict[str, Any]:
        now = time.monotonic()
        cached = self._discovery.get(provider.name)
        if cached is not None and now - cached.fetched < CACHE_SECONDS:
            document: dict[str, Any] = cached.value
            return document
        failed = self._failed.get(provider.name)
        if failed is not None and now - failed.fetched < FAILURE_SECONDS:
            raise OidcError(failed.value)
        try:
            try:
                async with asyncio.timeout(PROVIDER_SECONDS):
                    document = await self._checked_discovery(provider)
            except TimeoutError as exc:
                raise OidcError(SLOW_DISCOVERY) from exc
        except OidcError as exc:
            self._failed[provider.name] = _Cached(str(exc), time.monotonic())
            raise
        self._discovery[provider.name] = _Cached(document, time.monotonic())
        return document

    async def _checked_discovery(self, provider: Provider) -> dict[str, Any]:
        url = f"{provider.issuer}/.well-known/openid-configuration"
        document = await self._fetch("GET", url)
        if str(document.get("issuer", "")).rstrip("/") != provider.issuer:
            raise OidcError("the discovery document names another issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not str(document.get(key, "")).startswith(("https://", "http://")):
                raise OidcError(f"the discovery document has no {key}")
        return document

    async def _key_set(self, provider: Provider, jwks_uri: str, *, fresh: bool) -> jwt.PyJWKSet:
        cached = self._keys.get(provider.name)
        age = time.monotonic() - cached.fetched if cached is not None else None
        if (
            cached is not None
            and age is not None
            and (age < KEYS_REFETCH_SECONDS or (not fresh and age < CACHE_SECONDS))
        ):
            keys: jwt.PyJWKSet = cached.value
            return keys
        try:
            keys = jwt.PyJWKSet.from_dict(await self._fetch("GET", jwks_uri))
        except jwt.PyJWTError as exc:
            raise OidcError(f"the provider's JWKS cannot be read: {exc}") from exc
        self._keys[provider.name] = _Cached(keys, time.monotonic())
        return keys

    async def _signing_key(self, provider: Provider, jwks_uri: str, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise OidcError(f"the id_token is not a JWT: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise OidcError(f"the id_token's algorithm {str(header.get('alg'))[:20]!r} is refused")
        kid = header.get("kid")
        for fresh in (False, True):
            keys = await self._key_set(provider, jwks_uri, fresh=fresh)
            found = [k for k in keys.keys if kid is None or k.key_id == kid]
            if found:
                return found[0]
        raise OidcError("no key of the provider's JWKS signed the id_token")

    async def sign_in(
        self, provider: Provider, code: str, redirect_uri: str, nonce: str
    ) -> dict[str, Any]:
        """The checked claims of the id_token the provider gives for `code`, all within
        PROVIDER_SECONDS. Raises OidcError."""
        try:
            return await asyncio.wait_for(
                self._sign_in(provider, code, redirect_uri, nonce), PROVIDER_SECONDS
            )
        except TimeoutError as exc:
            raise OidcError("the provider took too long") from exc

    async def _sign_in(
        self, provider: Provider, code: str, redirect_uri: str, nonce: str
    ) -> dict[str, Any]:
        document = await self.discovery(provider)
        methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        auth: tuple[str, str] | None = (provider.client_id, provider.client_secret)
        if "client_secret_basic" not in methods:
            form |= {"client_id": provider.client_id, "client_secret": provider.client_secret}
            auth = None
        answer = await self._fetch(
            "POST",
            document["token_endpoint"],
            data=form,
            auth=auth,
            headers={"Accept": "application/json"},
        )
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise OidcError("the provider's token answer has no id_token")
        key = await self._signing_key(provider, document["jwks_uri"], token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=list(ALGORITHMS),
                audience=provider.client_id,
                issuer=provider.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise OidcError(f"the id_token is refused: {exc}") from exc
        if claims.get("nonce") != nonce:
            raise OidcError("the id_token's nonce is not the flow's")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise OidcError("the id_token is for several audiences and not authorised for us")
        if not isinstance(claims["sub"], str) or not 1 <= len(claims["sub"]) <= 255:
            raise OidcError("the id_token's sub is not a string of 1 to 255 characters")
        return claims
