"""Who calls /auth/v1 with a token: a user (their own user, sign-out) or the service key (the admin
API), each verified and refused as GoTrue refuses them: 401 `no_authorization` without a token,
403 `bad_jwt` for one that is not valid, 403 for a token of another role."""

from typing import Any

from litestar import Request

from wagerbase import accounts
from wagerbase.http.common import bearer
from wagerbase.tokens import Claims, TokenError, Tokens


def _verified(request: Request[Any, Any, Any], tokens: Tokens) -> Claims:
    token_text = bearer(request)
    if token_text is None:
        raise accounts.refusal(401, "no_authorization", "This endpoint requires a Bearer token")
    try:
        return tokens.verify(token_text)
    except TokenError as exc:
        raise accounts.refusal(403, "bad_jwt", f"invalid JWT: {exc.reason}") from exc


def user_claims(request: Request[Any, Any, Any], tokens: Tokens) -> Claims:
    """The claims of a user's valid token; 403 `bad_jwt` for another role's."""
    claims = _verified(request, tokens)
    if claims.get("role") != "authenticated":
        raise accounts.refusal(403, "bad_jwt", "invalid JWT: not a user's token")
    request.state.role = "authenticated"
    request.state.user_id = claims["sub"]
    return claims


def service_claims(request: Request[Any, Any, Any], tokens: Tokens) -> Claims:
    """The claims of the service key; 403 `not_admin` for any other valid token."""
    claims = _verified(request, tokens)
    if claims.get("role") != "service_role":
        raise accounts.refusal(403, "not_admin", "User not allowed")
    request.state.role = "service_role"
    return claims
