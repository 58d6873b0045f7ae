"""Driving the web app in Debian's headless Chromium with Playwright (never a downloaded browser):
one browser per test session, a context per person, screenshots at desktop and phone size."""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    WebSocketRoute,
)

from tests.serving import REPO, Node

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The screenshots go to docs/screenshots (committed, shown in the README) only when asked:
# WAGERBASE_SCREENSHOTS=1 scripts/test tests/web. Otherwise they are still taken, into a
# temporary folder, so a run of the suite never rewrites committed files.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("WAGERBASE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "wagerbase-screenshots"
)
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
PASSWORD = "correct horse 1"
WAIT_MS = 20_000  # a generous deadline for state that should show up at once


@dataclass
class BrowserUser:
    """One person's browser context and page, with what the page logged as errors."""

    context: BrowserContext
    page: Page
    node: Node
    errors: list[str] = field(default_factory=list)
    email: str = ""

    def goto(self, path: str = "/") -> None:
        self.page.goto(self.node.url + path)

    def sign_up(self, email: str | None = None) -> None:
        self.email = email or f"web_{uuid.uuid4().hex[:10]}@example.test"
        page = self.page
        self.goto("/")
        page.get_by_role("tab", name="Register").click()
        page.get_by_label("Email").fill(self.email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Confirm password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        self.wait_live()

    def sign_in(self, email: str) -> None:
        self.email = email
        page = self.page
        self.goto("/")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        self.wait_live()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.page.get_by_role("button", name="Continue as guest").wait_for(timeout=WAIT_MS)

    def wait_live(self) -> None:
        self.page.locator("[data-testid=live][data-state=live]").wait_for(timeout=WAIT_MS)

    def balance(self) -> Any:
        return self.page.get_by_test_id("header-balance")

    def outcome_odds(self, market_id: int, outcome_id: int) -> Any:
        return self.page.locator(
            f"[data-market-id='{market_id}'] .outcome-row[data-outcome-id='{outcome_id}'] .odds"
        )

    def another_tab(self, path: str = "/") -> Page:
        """A second page of the same browser (same session), its errors logged with the first's."""
        tab = self.context.new_page()
        watch_errors(tab, self.errors)
        tab.goto(self.node.url + path)
        return tab

    def fits_the_phone(self) -> None:
        """At phone width the page scrolls only down: nothing sticks out to the side (wide tables
        scroll inside their own box)."""
        page = self.page
        page.set_viewport_size(PHONE)
        try:
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            # the outermost elements that stick out, to say what to fix
            culprits = page.evaluate(
                """() => [...document.querySelectorAll('body *')]
                    .filter((e) => !e.closest('.table-wrap, pre'))
                    .filter((e) => e.getBoundingClientRect().right
                        > document.documentElement.clientWidth + 1)
                    .filter((e) => !e.parentElement || e.parentElement.getBoundingClientRect().right
                        <= document.documentElement.clientWidth + 1)
                    .map((e) => e.tagName.toLowerCase() + '.' + e.className)
                    .slice(0, 5)"""
            )
            assert overflow <= 0, f"the page is {overflow}px wider than a phone: {culprits}"
        finally:
            page.set_viewport_size(DESKTOP)

    def shoot(self, name: str) -> None:
        """<name>-desktop.png and -phone.png of the page as it is now, in SCREENSHOTS."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        page.evaluate("window.scrollTo(0, 0)")  # a sticky header stays at the top of the shot
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
        page.set_viewport_size(DESKTOP)

    def hold_realtime(self) -> "Held":
        """Route the page's realtime socket through the test, which can hold back what the server
        sends (a slow network): the page keeps showing what it had."""
        held = Held()

        def route(socket: WebSocketRoute) -> None:
            server = socket.connect_to_server()
            held.to_page = socket.send

            def from_server(message: str | bytes) -> None:
                if held.holding:
                    held.frames.append(message)
                else:
                    socket.send(message)

            server.on_message(from_server)
            socket.on_message(server.send)

        self.page.route_web_socket(re.compile(r".*/realtime/v1/websocket.*"), route)
        return held


@dataclass
class Held:
    holding: bool = False
    frames: list[str | bytes] = field(default_factory=list)
    to_page: Callable[[str | bytes], None] | None = None

    def release(self) -> None:
        self.holding = False
        assert self.to_page is not None
        for frame in self.frames:
            self.to_page(frame)
        self.frames.clear()


def promote(node: Node, email: str) -> None:
    """`wagerbase users promote EMAIL`, as an operator makes an admin; new tokens carry the role."""
    subprocess.run(
        [sys.executable, "-m", "wagerbase.operations.cli", "users", "promote", email],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": node.database_url},
        check=True,
        capture_output=True,
    )


# Logs every Content-Security-Policy violation of a page as a console error, so that a test fails on
# it like on any other error (Chromium says "Refused to ..." too, but not for every kind).
REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', (event) => {
  console.error(`CSP violation: ${event.violatedDirective} refused ${event.blockedURI || 'inline'}`)
})
"""


def watch_errors(page: Page, errors: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))


def open_person(browser: Browser, node: Node) -> BrowserUser:
    context = browser.new_context(viewport=DESKTOP)
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    person = BrowserUser(context, page, node)
    watch_errors(page, person.errors)
    return person


class Api:
    """The same server over HTTP, for what the tests arrange: markets (service key) and other
    bettors' wagers (their own tokens)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def _rpc(self, token: str, fn: str, args: dict[str, Any]) -> Any:
        response = httpx.post(
            f"{self.node.url}/rest/v1/rpc/{fn}",
            json=args,
            headers={"apikey": self.node.anon_key, "Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def service(self, fn: str, args: dict[str, Any]) -> Any:
        """An RPC with the service key (the server's own, as an operator's back office)."""
        return self._rpc(self.node.service_key, fn, args)

    def create_market(
        self, title: str, outcomes: list[str], kind: str = "fixed_odds", **options: Any
    ) -> dict[str, Any]:
        market: dict[str, Any] = self._rpc(
            self.node.service_key,
            "create_market",
            {"title": title, "outcomes": outcomes, "kind": kind, "options": options},
        )
        return market

    def read(self, view: str, token: str | None = None, **query: str) -> list[dict[str, Any]]:
        """GET /rest/v1/<view> as the token's owner (the anon key without one)."""
        response = httpx.get(
            f"{self.node.url}/rest/v1/{view}",
            params=query,
            headers={
                "apikey": self.node.anon_key,
                "Authorization": f"Bearer {token or self.node.anon_key}",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return found

    def call(self, token: str, fn: str, **args: Any) -> Any:
        """An RPC as the token's owner."""
        return self._rpc(token, fn, args)

    def bettor(self) -> str:
        """A new bettor's access token."""
        response = httpx.post(
            f"{self.node.url}/auth/v1/signup",
            json={"email": f"api_{uuid.uuid4().hex[:10]}@example.test", "password": PASSWORD},
            headers={"apikey": self.node.anon_key},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    @staticmethod
    def user_id(token: str) -> str:
        """Whose token it is: its `sub` claim."""
        payload = token.split(".")[1]
        claims: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        return str(claims["sub"])

    def place_wager(self, token: str, market_id: int, outcome_id: int, stake: int) -> Any:
        return self._rpc(
            token,
            "place_wager",
            {"market_id": market_id, "outcome_id": outcome_id, "stake": stake},
        )


def money(minor: int) -> str:
    """Minor units as the app writes them: 123456 -> "1,234.56", -700 -> "-7.00"."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def bet(someone: BrowserUser, market: dict[str, Any], outcome: str, stake: str) -> None:
    """Place a wager from the betslip of the market page."""
    page = someone.page
    someone.goto(f"/markets/{market['id']}")
    page.locator(".pick-button", has_text=outcome).click()
    page.get_by_role("textbox", name="Stake").fill(stake)
    page.get_by_test_id("quote").wait_for(timeout=WAIT_MS)
    page.get_by_role("button", name=re.compile(r"^Place wager:")).click()
    page.get_by_test_id("wager-placed").wait_for(timeout=WAIT_MS)


def my_wagers(someone: BrowserUser) -> Any:
    """The rows of the bettor's own wager list on the page."""
    return someone.page.locator("table.wagers tbody tr")
