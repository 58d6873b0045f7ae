"""JSON Web Tokens: HS256 access tokens as GoTrue mints them, the anon and service keys, and the
one verification every surface uses.

A token is accepted only when signed with HS256 and this node's secret (so `alg: none` and tokens
signed with another secret fail), not expired, not used before its `nbf`, and carrying a role the
database knows: `anon`, `authenticated` (which also needs `sub` and `aud: authenticated`) or
`service_role`.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ACCESS_TOKEN_SECONDS = 3600
KEY_SECONDS = 10 * 365 * 24 * 3600  # the anon and service keys, as Supabase's, last years
ROLES = frozenset({"anon", "authenticated", "service_role"})

Claims = dict[str, Any]


@dataclass
class TokenError(Exception):
    """A token that cannot be used; `reason` says why in words a developer can act on."""

    reason: str


class Tokens:
    def __init__(self, secret: str, issuer: str = "wagerbase") -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret needs at least 32 characters")
        self._secret = secret
        self.issuer = issuer

    def _sign(self, claims: Claims) -> str:
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def access_token(self, user: dict[str, Any], session_id: uuid.UUID | str) -> tuple[str, int]:
        """A user's access token and its expiry (Unix seconds), with GoTrue's claims: an
        anonymous user's says `is_anonymous: true` and was signed in by method `anonymous`."""
        now = int(time.time())
        expires_at = now + ACCESS_TOKEN_SECONDS
        anonymous = bool(user.get("is_anonymous"))
        claims: Claims = {
            "iss": self.issuer,
            "sub": str(user["id"]),
            "aud": "authenticated",
            "exp": expires_at,
            "iat": now,
            "email": user.get("email") or "",
            "phone": "",
            "app_metadata": user.get("app_metadata") or {},
            "user_metadata": user.get("user_metadata") or {},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "anonymous" if anonymous else "password", "timestamp": now}],
            "session_id": str(session_id),
            "is_anonymous": anonymous,
        }
        return self._sign(claims), expires_at

    def role_key(self, role: str) -> str:
        """The anon key or the service key: a long-lived token that carries only a role."""
        now = int(time.time())
        return self._sign({"iss": self.issuer, "role": role, "iat": now, "exp": now + KEY_SECONDS})

    def verify(self, token: str) -> Claims:
        """The claims of a valid token. Raises TokenError otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError(f"malformed token: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise TokenError(f"unsupported algorithm {header.get('alg')!r}; tokens are HS256")
        try:
            claims: Claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "role"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenError("token not valid yet") from exc
        except jwt.InvalidSignatureError as exc:
            raise TokenError("bad signature") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from exc
        role = claims.get("role")
        if role not in ROLES:
            raise TokenError(f"unknown role {role!r}")
        if role == "authenticated":
            if claims.get("aud") != "authenticated":
                raise TokenError("a user token needs aud 'authenticated'")
            try:
                uuid.UUID(str(claims.get("sub")))
            except ValueError as exc:
                raise TokenError("a user token needs a user id in sub") from exc
        return claims


def anon_claims() -> Claims:
    return {"role": "anon"}
