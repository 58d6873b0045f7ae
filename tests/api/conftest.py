"""A running API node for the HTTP tests: `wagerbase serve` on its own migrated database (`node`,
`api_database`: tests/support/node_fixtures.py); for the BetMarket tests, an HTTP client of it
(`http`) and an admin signed in through it (`boss`); for the GoTrue tests (test_auth_*.py), the
official supabase client of it (`client`); for the /rest/v1 read tests (test_rest_*.py), a REST
caller with the service key (`service`) and a market with wagers (`derby`), one per module;
anonymous sign-ins switched on for a test (`anonymous_sign_ins`); for the tests of mail
(recovery, sign-in by email), an SMTP sink and a node of the module's that mails through it
(`mail_sink`, `mail_node`)."""

from collections.abc import Iterator

import httpx
import pytest
from supabase import Client, create_client

from tests.api import betmarket_client
from tests.api.betmarket_client import User, admin
from tests.api.rest_support import Derby, make_derby
from tests.attack.over_http import RestActor
from tests.serving import Node, new_secret, serving
from tests.support.node_fixtures import api_database as api_database
from tests.support.node_fixtures import node as node
from tests.support.smtp_sink import APP_REDIRECT, Sink, node_env, running_sink
from tests.support.supabase_js import node_command


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
def service(node: Node) -> RestActor:
    return RestActor(node, "service", node.service_key)


@pytest.fixture(scope="module")
def derby(node: Node, service: RestActor) -> Derby:
    return make_derby(node, service)


def _set_anonymous_sign_ins(node: Node, on: bool) -> None:
    answer = httpx.post(
        f"{node.url}/rest/v1/rpc/update_settings",
        headers={"apikey": node.anon_key, "Authorization": f"Bearer {node.service_key}"},
        json={"settings": {"anonymous_sign_ins": on}},
    )
    assert answer.status_code == 200 and answer.json()["anonymous_sign_ins"] is on, answer.text


@pytest.fixture
def anonymous_sign_ins(node: Node) -> Iterator[None]:
    """Anonymous sign-ins on (an engine setting, off by default, set by the service role's
    update_settings), off again afterwards."""
    _set_anonymous_sign_ins(node, True)
    try:
        yield
    finally:
        _set_anonymous_sign_ins(node, False)


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
