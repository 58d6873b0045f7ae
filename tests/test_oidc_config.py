"""The OpenID Connect settings (oidc_config.py): providers read from the environment, a setting
that cannot be used refused at start; and the site URLs (site_urls.py, shared with the mails'
links): the redirect URLs a user may be sent back to."""

import pytest

from wagerbase.oidc_config import BASE_SCOPES, OidcConfigError, OidcSettings
from wagerbase.site_urls import SiteUrlError, SiteUrls, redirect_allowed


def test_providers_are_read_with_their_issuer_client_and_scopes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAGERBASE_OIDC_PROVIDERS", "corp, staff-sso")
    for prefix in ("CORP", "STAFF_SSO"):
        monkeypatch.setenv(f"WAGERBASE_OIDC_{prefix}_ISSUER", f"https://{prefix.lower()}.test/")
        monkeypatch.setenv(f"WAGERBASE_OIDC_{prefix}_CLIENT_ID", "client")
        monkeypatch.setenv(f"WAGERBASE_OIDC_{prefix}_SECRET", "s3cret")
    monkeypatch.setenv("WAGERBASE_OIDC_CORP_SCOPES", "groups,email offline_access")
    read = OidcSettings.from_environment()
    corp, staff = read.providers
    assert (corp.name, corp.issuer) == ("corp", "https://corp.test")
    assert corp.scopes == (*BASE_SCOPES, "groups", "offline_access")
    assert staff.name == "staff-sso" and staff.scopes == BASE_SCOPES
    assert read.provider("staff-sso") is staff and read.provider("nobody") is None
    assert "s3cret" not in repr(read)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WAGERBASE_OIDC_PROVIDERS", "Not A Name"),
        ("WAGERBASE_OIDC_CORP_ISSUER", "ftp://corp.test"),
        ("WAGERBASE_OIDC_CORP_SECRET", ""),
    ],
)
def test_a_setting_that_cannot_be_used_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("WAGERBASE_OIDC_PROVIDERS", "corp")
    monkeypatch.setenv("WAGERBASE_OIDC_CORP_ISSUER", "https://corp.test")
    monkeypatch.setenv("WAGERBASE_OIDC_CORP_CLIENT_ID", "client")
    monkeypatch.setenv("WAGERBASE_OIDC_CORP_SECRET", "s3cret")
    OidcSettings.from_environment()  # valid as it is
    monkeypatch.setenv(name, value)
    with pytest.raises(OidcConfigError):
        OidcSettings.from_environment()


@pytest.mark.parametrize(
    ("name", "value"),
    [("WAGERBASE_SITE_URL", "app.test"), ("WAGERBASE_API_EXTERNAL_URL", "javascript:alert(1)")],
)
def test_a_site_url_that_cannot_be_used_is_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("WAGERBASE_SITE_URL", "https://app.test/")
    monkeypatch.setenv("WAGERBASE_API_EXTERNAL_URL", "https://api.app.test")
    monkeypatch.setenv("WAGERBASE_ADDITIONAL_REDIRECT_URLS", "myapp://reset, https://*.app.dev/ ,")
    assert SiteUrls.from_environment() == SiteUrls(
        site_url="https://app.test",
        additional_redirect_urls=("myapp://reset", "https://*.app.dev/"),
        api_external_url="https://api.app.test",
    )
    monkeypatch.setenv(name, value)
    with pytest.raises(SiteUrlError):
        SiteUrls.from_environment()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://app.test/welcome?x=1", True),
        ("https://app.test:444/welcome", False),  # another port
        ("http://app.test/welcome", False),  # another scheme
        ("https://evil.test/", False),
        ("https://app.test@evil.test/", False),
        ("https://app.test.evil.test/", False),
        ("https://preview-42.app.dev/callback", True),  # `*` within a label
        ("https://a.b.app.dev/callback", False),  # `*` does not cross a `.`
        ("https://staging.test/any/path/here", True),  # `**` anything
        ("https://staging.test.evil/x", False),
        ("javascript:alert(1)", False),
        ("https://app.test\\@evil.test/", False),
        # an app's deep link: allowed only as the allow list has it (GoTrue's glob, exact here)
        ("myapp://reset-password", True),
        ("myapp://reset-passwordX", False),
        ("myapp://reset-password/x", False),
        ("https://app.test:x/", False),  # a port that is no number
    ],
)
def test_redirect_urls_allowed_as_gotrue_allows_them(url: str, allowed: bool) -> None:
    extra = ("https://*.app.dev/callback", "https://staging.test/**", "myapp://reset-password")
    assert redirect_allowed(url, "https://app.test", extra) is allowed
