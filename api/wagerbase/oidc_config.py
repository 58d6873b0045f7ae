"""The OpenID Connect providers a node signs users in with (docs/operations.md, "Sign-in with
OpenID Connect"), read from the environment:

- `WAGERBASE_OIDC_PROVIDERS`: the providers' names, comma-separated (lower-case letters, digits,
  `-` and `_`; the `provider` supabase-js's signInWithOAuth names); none by default. For each
  name `N` (upper-cased, `-` as `_`): `WAGERBASE_OIDC_N_ISSUER` (its issuer URL; its discovery
  document is `<issuer>/.well-known/openid-configuration`), `WAGERBASE_OIDC_N_CLIENT_ID`,
  `WAGERBASE_OIDC_N_SECRET`, and optionally `WAGERBASE_OIDC_N_SCOPES` (added to `openid email
  profile`). A provider without all three stops the node at start.

Where users are sent back (`WAGERBASE_SITE_URL`, `WAGERBASE_ADDITIONAL_REDIRECT_URLS`) and the
API's URL (`WAGERBASE_API_EXTERNAL_URL`) are site_urls.py's, shared with the mails' links.
"""

import os
import re
from dataclasses import dataclass, field

from wagerbase.site_urls import is_http_url

NAME = re.compile(r"^[a-z0-9_-]{1,40}$")
BASE_SCOPES = ("openid", "email", "profile")
MAX_PROVIDERS = 20


class OidcConfigError(ValueError):
    """A provider setting that cannot be used: the node does not start."""


@dataclass(frozen=True)
class Provider:
    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = BASE_SCOPES


@dataclass(frozen=True)
class OidcSettings:
    providers: tuple[Provider, ...] = ()

    def provider(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    @classmethod
    def from_environment(cls) -> "OidcSettings":
        """The settings above. Raises OidcConfigError."""
        env = os.environ
        names = [n.strip() for n in env.get("WAGERBASE_OIDC_PROVIDERS", "").split(",")]
        providers: list[Provider] = []
        for name in filter(None, names):
            if not NAME.match(name) or len(providers) >= MAX_PROVIDERS:
                raise OidcConfigError(f"WAGERBASE_OIDC_PROVIDERS: {name[:50]!r} is not a name")
            prefix = f"WAGERBASE_OIDC_{name.upper().replace('-', '_')}_"
            issuer = env.get(prefix + "ISSUER", "").strip().rstrip("/")
            client_id = env.get(prefix + "CLIENT_ID", "").strip()
            secret = env.get(prefix + "SECRET", "")
            if not (is_http_url(issuer) and client_id and secret):
                raise OidcConfigError(f"{prefix}ISSUER, CLIENT_ID and SECRET are all needed")
            extra = tuple(env.get(prefix + "SCOPES", "").replace(",", " ").split())
            scopes = tuple(dict.fromkeys((*BASE_SCOPES, *extra)))
            providers.append(Provider(name, issuer, client_id, secret, scopes))
        return cls(providers=tuple(providers))
