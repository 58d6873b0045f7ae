"""A real OpenID Connect provider for the tests, on 127.0.0.1: discovery, an authorization
endpoint that approves its configured user at once (no login page) and sends the browser back
with a code, a token endpoint that checks the client's secret (HTTP Basic or in the form), the
code and its redirect_uri and answers an RS256 id_token (carrying the nonce of the authorization
request), and the JWKS of its key (made by `cryptography`).

A test changes what the next id_token says (`user`: the claims of the user it approves; `tamper`:
claims to override, e.g. a wrong `aud`, or `sign_with_other_key`), how the token endpoint
misbehaves (`token_delay`, `token_padding`) and reads what it was asked (`token_requests`).
"""

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "wagerbase-test-client"
CLIENT_SECRET = "the-test-client-secret"


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636), made as supabase-js makes them."""
    verifier = secrets.token_urlsafe(48)
    raw = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Provider:
    """The provider's state: its key, the user it approves, the codes it gave out."""

    issuer: str = ""
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "user-1",
            "email": "one@example.test",
            "email_verified": True,
        }
    )
    tamper: dict[str, Any] = field(default_factory=dict)  # claims the next id_tokens override
    sign_with_other_key: bool = False
    token_delay: float = 0.0  # seconds the token endpoint waits before it answers
    token_padding: int = 0  # bytes of padding added to the token endpoint's answer
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    other_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = "test-key-1"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid}
        return {"keys": [key | {"n": _b64(numbers.n), "e": _b64(numbers.e)}]}

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.user,
            **self.tamper,
        }
        signer = self.other_key if self.sign_with_other_key else self.key
        return jwt.encode(
            {k: v for k, v in claims.items() if v is not None},
            signer,
            algorithm="RS256",
            headers={"kid": self.kid},
        )


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict[str, Any] | None = None, **headers: str) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        provider = self.server.provider
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/.well-known/openid-configuration":
            self._answer(200, provider.discovery())
        elif url.path == "/jwks":
            self._answer(200, provider.jwks())
        elif url.path == "/authorize":
            if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                self._answer(400, {"error": "invalid_request"})
                return
            code = secrets.token_urlsafe(16)
            provider.codes[code] = query
            back = urlencode({"code": code, "state": query.get("state", "")})
            self._answer(302, Location=f"{query['redirect_uri']}?{back}")
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        provider = self.server.provider
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        provider.token_requests.append(form)
        if urlsplit(self.path).path != "/token":
            self._answer(404, {"error": "not_found"})
            return
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if (client_id, secret) != (CLIENT_ID, CLIENT_SECRET):
            self._answer(401, {"error": "invalid_client"})
            return
        time.sleep(provider.token_delay)
        asked = provider.codes.pop(form.get("code", ""), None)
        if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
            self._answer(400, {"error": "invalid_grant"})
            return
        self._answer(
            200,
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": provider.id_token(asked.get("nonce")),
                "padding": "x" * provider.token_padding,
            },
        )


class _Server(ThreadingHTTPServer):
    provider: Provider
    daemon_threads = True


@contextmanager
def running_provider() -> Iterator[Provider]:
    """The provider, serving on a free port of 127.0.0.1 until the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    provider = Provider()
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    server.provider = provider
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
