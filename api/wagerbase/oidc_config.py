"""The OpenID Connect providers a node signs users in with, and where it may send them back
(docs/operations.md, "Sign-in with OpenID Connect"), read from the environment:

- `WAGERBASE_OIDC_PROVIDERS`: the providers' names, comma-separated (lower-case letters, digits,
  `-` and `_`; the `provider` supabase-js's signInWithOAuth names); none by default. For each
  name `N` (upper-cased, `-` as `_`): `WAGERBASE_OIDC_N_ISSUER` (its issuer URL; its discovery
  document is `<issuer>/.well-known/openid-configuration`), `WAGERBASE_OIDC_N_CLIENT_ID`,
  `WAGERBASE_OIDC_N_SECRET`, and optionally `WAGERBASE_OIDC_N_SCOPES` (added to `openid email
  profile`). A provider without all three stops the node at start.
- `WAGERBASE_SITE_URL` (GoTrue's SITE_URL): where a user goes back to when the client names no
  redirect_to, or one not allowed; any URL on its host is allowed. Unset: the API's own URL.
- `WAGERBASE_ADDITIONAL_REDIRECT_URLS` (GoTrue's URI_ALLOW_LIST): more allowed redirect URLs,
  comma-separated, each exact or a pattern (`*` any run of characters but `/` and `.`, `**` any).
- `WAGERBASE_API_EXTERNAL_URL` (GoTrue's API_EXTERNAL_URL): the API's URL as browsers reach it;
  the providers send users back to `<it>/auth/v1/callback` (register that URL with each). Unset:
  the URL of the request to /authorize.
"""

import os
import re
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import urlsplit

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
    site_url: str | None = None
    additional_redirect_urls: tuple[str, ...] = ()
    api_external_url: str | None = None

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
            if not (_is_http_url(issuer) and client_id and secret):
                raise OidcConfigError(f"{prefix}ISSUER, CLIENT_ID and SECRET are all needed")
            extra = tuple(env.get(prefix + "SCOPES", "").replace(",", " ").split())
            scopes = tuple(dict.fromkeys((*BASE_SCOPES, *extra)))
            providers.append(Provider(name, issuer, client_id, secret, scopes))
        site = env.get("WAGERBASE_SITE_URL", "").strip() or None
        external = env.get("WAGERBASE_API_EXTERNAL_URL", "").strip().rstrip("/") or None
        for setting, value in (("SITE_URL", site), ("API_EXTERNAL_URL", external)):
            if value is not None and not _is_http_url(value):
                raise OidcConfigError(f"WAGERBASE_{setting}: not an http(s) URL")
        extra_urls = env.get("WAGERBASE_ADDITIONAL_REDIRECT_URLS", "")
        return cls(
            providers=tuple(providers),
            site_url=site,
            additional_redirect_urls=tuple(u.strip() for u in extra_urls.split(",") if u.strip()),
            api_external_url=external,
        )


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@cache
def _pattern(glob: str) -> re.Pattern[str]:
    """A redirect-URL pattern as GoTrue's glob reads it: `**` any run of characters, `*` any run
    without a separator (`.` or `/`), `?` one such character."""
    parts = re.split(r"(\*\*|\*|\?)", glob)
    wild = {"**": ".*", "*": r"[^./]*", "?": r"[^./]"}
    return re.compile("".join(wild.get(p, re.escape(p)) for p in parts))


def redirect_allowed(url: str, site_url: str, allowed: tuple[str, ...]) -> bool:
    """Whether a user may be sent back to `url` (GoTrue's isRedirectURLValid): an http(s) URL on
    the site URL's host, or one matching an entry of the allow list."""
    if not _is_http_url(url) or any(c in url for c in "\r\n\\"):
        return False
    target, site = urlsplit(url), urlsplit(site_url)
    if target.username is not None or target.password is not None:
        return False
    if (target.scheme, target.hostname, target.port) == (site.scheme, site.hostname, site.port):
        return True
    return any(_pattern(entry).fullmatch(url) for entry in allowed)
