"""How `wagerbase serve` serves the web app: the build with an SPA fallback for client routes,
the anon key and the row cap at run time, never over the API's own paths, and a clear answer
without a build; under a Content-Security-Policy that the app keeps (a violation fails a test),
reading what is longer than the row cap a page at a time."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.serving import Node, new_secret
from tests.web.browser import WAIT_MS, Api, BrowserUser, open_person
from wagerbase.settings import DEFAULT_MAX_ROWS
from wagerbase.surfaces.web import CONTENT_SECURITY_POLICY


def test_the_app_and_its_client_routes_are_served_without_shadowing_the_api(
    web_node: Node,
) -> None:
    index = httpx.get(f"{web_node.url}/")
    assert index.status_code == 200
    assert '<div id="root">' in index.text
    route = httpx.get(f"{web_node.url}/markets/3")
    assert route.status_code == 200 and route.text == index.text

    config = httpx.get(f"{web_node.url}/config.json")
    assert config.headers["cache-control"] == "no-store"
    assert config.json()["maxRows"] == DEFAULT_MAX_ROWS
    anon = config.json()["anonKey"]
    answer = httpx.get(f"{web_node.url}/rest/v1/markets", headers={"apikey": anon})
    assert answer.status_code == 200

    assert httpx.get(f"{web_node.url}/health").json()["status"] == "ok"
    missing_view = httpx.get(f"{web_node.url}/rest/v1/nope")
    assert missing_view.status_code == 404 and missing_view.json()["code"] == "PGRST205"
    for path in ("/api/nope", "/auth/v1/nope", "/realtime/v1/nope", "/assets/gone-1234.js"):
        refused = httpx.get(f"{web_node.url}{path}")
        assert refused.status_code == 404, path
        assert '<div id="root">' not in refused.text, path


@pytest.fixture
def unbuilt_node(api_database_for_web: str, tmp_path: Path) -> Iterator[Node]:
    node = Node(
        api_database_for_web,
        new_secret(),
        tmp_path / "serve.log",
        env={"WAGERBASE_WEB_DIST": str(tmp_path / "no-build")},
    )
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_without_a_build_the_root_says_how_to_build(unbuilt_node: Node) -> None:
    answer = httpx.get(f"{unbuilt_node.url}/")
    assert answer.status_code == 503
    assert "npm ci" in answer.text and "npm run build" in answer.text
    assert httpx.get(f"{unbuilt_node.url}/health").status_code == 200


def test_the_app_works_under_its_content_security_policy_and_a_violation_is_caught(
    person: Callable[[], BrowserUser], api: Api, web_node: Node
) -> None:
    market = api.create_market(f"Policy {uuid.uuid4().hex[:6]}", ["Home", "Away"])
    ana = person()
    response = ana.page.goto(f"{web_node.url}/")
    assert response is not None
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    ana.sign_up()
    # the market page: its live quotes (fetch), the realtime socket and the depth charts (Chart.js)
    ana.goto(f"/markets/{market['id']}")
    ana.page.locator(".pick-button", has_text="Home").wait_for(timeout=WAIT_MS)
    ana.page.locator("canvas").first.wait_for(timeout=WAIT_MS)
    ana.wait_live()
    assert ana.errors == []

    # what the policy forbids is refused, and the test sees it
    with ana.page.expect_console_message(lambda m: "CSP violation" in m.text, timeout=WAIT_MS):
        ana.page.evaluate(
            """() => {
                const script = document.createElement('script')
                script.textContent = 'window.inlineRan = true'
                document.body.append(script)
            }"""
        )
    assert ana.page.evaluate("window.inlineRan") is None
    assert any("CSP violation: script-src" in e for e in ana.errors), ana.errors


@pytest.fixture
def capped_node(api_database_for_web: str, web_build: Path, tmp_path: Path) -> Iterator[Node]:
    """A node of the web app's database whose reads answer at most 2 rows."""
    node = Node(
        api_database_for_web,
        new_secret(),
        tmp_path / "serve.log",
        env={"WAGERBASE_WEB_DIST": str(web_build), "WAGERBASE_MAX_ROWS": "2"},
    )
    node.start()
    try:
        yield node
    finally:
        node.stop()


def test_the_board_reads_every_market_a_page_at_a_time(
    browser: Browser, api: Api, capped_node: Node
) -> None:
    config = httpx.get(f"{capped_node.url}/config.json").json()
    assert config["maxRows"] == 2
    markets = [api.create_market(f"Paged {i} {uuid.uuid4().hex[:6]}", ["A", "B"]) for i in range(5)]
    guest = open_person(browser, capped_node)
    try:
        guest.goto("/")
        guest.page.get_by_role("button", name="Continue as guest").click()
        guest.wait_live()
        for market in markets:
            card = guest.page.locator(f"[data-market-id='{market['id']}']")
            expect(card).to_be_visible(timeout=WAIT_MS)
        assert guest.errors == []
    finally:
        guest.context.close()
