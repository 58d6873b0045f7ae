"""How `wagerbase serve` serves the web app: the build with an SPA fallback for client routes,
the anon key at run time, never over the API's own paths, and a clear answer without a build."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving import Node, new_secret


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
