"""A real OpenID Connect provider on 127.0.0.1 (tests/support/oidc_provider.py) and an API node that
trusts it as `corp` (and a provider nobody answers for as `down`), one of each per module; each
test signs in a user of its own."""

import secrets
from collections.abc import Iterator

import pytest

from tests.api.oidc.flow import OTHER, SITE
from tests.pgserver import PgServer
from tests.serving import Node, free_port, new_secret, serving
from tests.support.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    running_provider,
)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as started:
        yield started


@pytest.fixture(scope="module")
def oidc_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_oidc") as url:
        yield url


@pytest.fixture(scope="module")
def node(
    provider: Provider, oidc_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    env = {
        "WAGERBASE_OIDC_PROVIDERS": "corp,down",
        "WAGERBASE_OIDC_CORP_ISSUER": provider.issuer,
        "WAGERBASE_OIDC_CORP_CLIENT_ID": CLIENT_ID,
        "WAGERBASE_OIDC_CORP_SECRET": CLIENT_SECRET,
        # a provider nobody answers for
        "WAGERBASE_OIDC_DOWN_ISSUER": f"http://127.0.0.1:{free_port()}",
        "WAGERBASE_OIDC_DOWN_CLIENT_ID": CLIENT_ID,
        "WAGERBASE_OIDC_DOWN_SECRET": CLIENT_SECRET,
        "WAGERBASE_SITE_URL": SITE,
        "WAGERBASE_ADDITIONAL_REDIRECT_URLS": f"{OTHER}/callback/**",
    }
    log = tmp_path_factory.mktemp("oidc-node") / "serve.log"
    with serving(Node(oidc_database, new_secret(), log, env=env)) as started:
        yield started


@pytest.fixture(autouse=True)
def fresh_user(provider: Provider) -> None:
    """Each test signs in a user of its own, and the provider signs its tokens honestly."""
    name = secrets.token_hex(6)
    provider.user = {"sub": f"sub-{name}", "email": f"{name}@example.test", "email_verified": True}
    provider.tamper = {}
    provider.sign_with_other_key = False
    provider.token_delay = 0.0
    provider.token_padding = 0
