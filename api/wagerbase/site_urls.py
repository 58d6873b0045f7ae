"""Where /auth/v1 sends users back to, for every flow that ends in a browser redirect (an OpenID
Connect provider's /callback, a mail's GET /verify), read from the environment with GoTrue's
names (docs/operations.md, "Site and redirect URLs"):

- `WAGERBASE_SITE_URL` (GoTrue's SITE_URL): where a user goes back to when the client names no
  redirect_to, or one not allowed; any URL of its scheme, host and port is allowed. Unset: the
  API's own URL for a provider's sign-in, and no mail at all (a mail's link needs it).
- `WAGERBASE_ADDITIONAL_REDIRECT_URLS` (GoTrue's URI_ALLOW_LIST): more allowed redirect URLs,
  comma-separated, each exact or a pattern (`*` any run of characters but `/` and `.`, `**` any,
  `?` one), of any scheme (an app's deep link, `myapp://reset-password`, is one).
- `WAGERBASE_API_EXTERNAL_URL` (GoTrue's API_EXTERNAL_URL): the API's URL as browsers reach it:
  providers send users back to `<it>/auth/v1/callback`, and mails link to `<it>/auth/v1/verify`.
  Unset: the request's URL for a provider's sign-in, the site URL for a mail (never the request's
  Host, which a client chooses).

One rule (`redirect_allowed`) and one builder of the redirects (`with_params`, `error_url`,
`session_params`) serve both flows.
"""

import os
import re
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from wagerbase.account_core import SignedIn
from wagerbase.tokens import ACCESS_TOKEN_SECONDS


class SiteUrlError(ValueError):
    """A site or API URL that is not an http(s) URL: the node does not start."""


@dataclass(frozen=True)
class SiteUrls:
    site_url: str | None = None
    additional_redirect_urls: tuple[str, ...] = ()
    api_external_url: str | None = None

    @classmethod
    def from_environment(cls) -> "SiteUrls":
        """The settings above. Raises SiteUrlError."""
        env = os.environ
        site = env.get("WAGERBASE_SITE_URL", "").strip().rstrip("/") or None
        external = env.get("WAGERBASE_API_EXTERNAL_URL", "").strip().rstrip("/") or None
        for setting, value in (("SITE_URL", site), ("API_EXTERNAL_URL", external)):
            if value is not None and not is_http_url(value):
                raise SiteUrlError(f"WAGERBASE_{setting}: not an http(s) URL")
        extra = env.get("WAGERBASE_ADDITIONAL_REDIRECT_URLS", "")
        return cls(
            site_url=site,
            additional_redirect_urls=tuple(u.strip() for u in extra.split(",") if u.strip()),
            api_external_url=external,
        )

    def target(self, redirect_to: str | None, site: str) -> str:
        """Where to send a user who asked for `redirect_to`: it when allowed, else `site` (the
        site URL, or what stands for it), as GoTrue replaces it."""
        if redirect_to and redirect_allowed(redirect_to, site, self.additional_redirect_urls):
            return redirect_to
        return site


def is_http_url(text: str) -> bool:
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
    """Whether a user may be sent back to `url` (GoTrue's isRedirectURLValid): an http(s) URL of
    the site URL's scheme, host and port, or one matching an entry of the allow list (any
    scheme). Never a URL with a user name, a backslash or a line break."""
    if any(c in url for c in "\r\n\\"):
        return False
    try:
        target, site = urlsplit(url), urlsplit(site_url)
        if target.username is not None or target.password is not None:
            return False
        same_site = (target.scheme, target.hostname, target.port) == (
            site.scheme,
            site.hostname,
            site.port,
        )
    except ValueError:  # a port that is no number
        return False
    if same_site and is_http_url(url):
        return True
    return any(_pattern(entry).fullmatch(url) for entry in allowed)


def with_params(url: str, params: dict[str, Any], *, fragment: bool = False) -> str:
    """`url` with `params` added to its query string, or set as its fragment."""
    parts = urlsplit(url)
    encoded = urlencode(params)
    if fragment:
        return urlunsplit(parts._replace(fragment=encoded))
    query = f"{parts.query}&{encoded}" if parts.query else encoded
    return urlunsplit(parts._replace(query=query))


def error_url(url: str, error: str, code: str, description: str, *, query: bool = True) -> str:
    """`url` with GoTrue's error parameters in its fragment, and with `query` in its query
    string too (supabase-js reads the one of its flow: PKCE the query, implicit the fragment)."""
    params = {"error": error, "error_code": code, "error_description": description}
    return with_params(with_params(url, params) if query else url, params, fragment=True)


def session_params(session: SignedIn, kind: str | None = None) -> dict[str, str]:
    """A session as GoTrue puts it in a redirect's fragment (the implicit flow), with the
    verification's `type` (recovery, magiclink, signup) when there is one."""
    params = {
        "access_token": session.access_token,
        "expires_at": str(session.expires_at),
        "expires_in": str(ACCESS_TOKEN_SECONDS),
        "refresh_token": session.refresh_token,
        "token_type": "bearer",
    }
    return params | ({"type": kind} if kind else {})
