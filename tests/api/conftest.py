"""A running API node for the HTTP tests: `wagerbase serve` on its own migrated database; for the
BetMarket tests, an HTTP client of it (`http`) and an admin signed in through it (`boss`); for the
GoTrue tests (test_auth_*.py), the official supabase client of it (`client`); for the tests of
mail (recovery, sign-in by email), an SMTP sink and a node of the module's that mails through it
(`mail_sink`, `mail_node`)."""

from collections.abc import Iterator

import httpx
import pytest
from supabase import Client, create_client

from tests.api import betmarket_client
from tests.api.betmarket_client import User, admin
from tests.pgserver import PgServer
from tests.serving import Node, new_secret, serving
from tests.support.smtp_sink import APP_REDIRECT, Sink, node_env, running_sink
from tests.support.supabase_js import node_command


@pytest.fixture(scope="session")
def api_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_api") as url:
        yield url


@pytest.fixture(scope="session")
def node(api_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One API node for the whole session; tests make their own users so they never collide."""
    log = tmp_path_factory.mktemp("node") / "serve.log"
    with serving(Node(api_database, new_secret(), log)) as started:
        yield started


@pytest.fixture
def http(node: Node) -> Iterator[httpx.Client]:
    with betmarket_client.client(node.url) as http_client:
        yield http_client


@pytest.fixture
def boss(http: httpx.Client, api_database: str) -> User:
    return admin(http, api_database)


@pytest.fixture(scope="module")
def node_binary() -> list[str]:
    """Node and its flags, for the tests that drive supabase-js (skipped without Node)."""
    return node_command()


@pytest.fixture
def client(node: Node) -> Client:
    return create_client(node.url, node.anon_key)


@pytest.fixture(scope="module")
def mail_sink() -> Iterator[tuple[Sink, int]]:
    """An SMTP sink on 127.0.0.1 (tests/support/smtp_sink.py) and its port, for one module."""
    with running_sink() as started:
        yield started


@pytest.fixture(scope="module")
def mail_node(
    api_database: str, mail_sink: tuple[Sink, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """A node of the module's that mails through its sink, with GoTrue's defaults (codes work an
    hour, one mail a minute per address) and the app's deep link allowed as a redirect."""
    env = node_env(mail_sink[1], WAGERBASE_ADDITIONAL_REDIRECT_URLS=APP_REDIRECT)
    log = tmp_path_factory.mktemp("mail-node") / "serve.log"
    with serving(Node(api_database, new_secret(), log, env=env)) as started:
        yield started
