"""A real `wagerbase serve` serving the built web app, and Debian's Chromium to drive it."""

import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.pgserver import PgServer
from tests.serving import REPO, Node, new_secret, serving
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, Api, BrowserUser, open_person, promote


@pytest.fixture(scope="session")
def web_build() -> Path:
    """web/dist up to date with web/ (npm ci and the build run only when something changed)."""
    subprocess.run(["bash", "-c", "source scripts/_web.sh"], cwd=REPO, check=True)
    return REPO / "web" / "dist"


@pytest.fixture(scope="session")
def api_database_for_web(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_web") as url:
        yield url


@pytest.fixture(scope="session")
def web_node(
    web_build: Path, api_database_for_web: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    node = Node(
        api_database_for_web,
        new_secret(),
        tmp_path_factory.mktemp("web") / "serve.log",
        env={"WAGERBASE_WEB_DIST": str(web_build)},
    )
    with serving(node) as started:
        yield started


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: scripts/test installs Debian's chromium "
            "(or: apt-get install -y chromium)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def api(web_node: Node) -> Api:
    return Api(web_node)


@pytest.fixture
def person(browser: Browser, web_node: Node) -> Iterator[Callable[[], BrowserUser]]:
    """person() opens a new browser context (someone else's browser) on the app."""
    opened: list[BrowserUser] = []

    def make() -> BrowserUser:
        someone = open_person(browser, web_node)
        opened.append(someone)
        return someone

    yield make
    for someone in opened:
        someone.context.close()


@pytest.fixture
def admin(person: Callable[[], BrowserUser], web_node: Node) -> Callable[[], BrowserUser]:
    """admin() opens a browser context signed in as a new admin: registered in the app like
    anyone, promoted with `wagerbase users promote`, then signed in again for a token with the
    role."""

    def make() -> BrowserUser:
        someone = person()
        someone.sign_up()
        promote(web_node, someone.email)
        someone.sign_out()
        someone.sign_in(someone.email)
        return someone

    return make


@pytest.fixture
def market(api: Api) -> dict[str, object]:
    """A fresh two-outcome fixed-odds market, open (quotes 1.5 / 1.5, caps 100.00)."""
    return api.create_market(
        f"Derby {uuid.uuid4().hex[:6]}",
        ["Home", "Away"],
        description="Who wins the derby?",
        closes_at=(datetime.now(UTC) + timedelta(days=3, hours=4)).isoformat(),
    )
