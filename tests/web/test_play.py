"""A bettor's other screens, end to end: the depth view of a market that moves, responsible-play
limits with their cooling-off, and a wager placed with the keyboard alone."""

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

from tests.web.browser import WAIT_MS, Api, BrowserUser

Market = dict[str, Any]


def test_the_depth_view_shows_where_the_money_went(
    person: Callable[[], BrowserUser], market: Market, api: Api
) -> None:
    home = int(market["outcomes"][0]["outcome_id"])
    away = int(market["outcomes"][1]["outcome_id"])
    api.place_wager(api.bettor(), market["id"], home, 6000)
    api.place_wager(api.bettor(), market["id"], away, 2000)
    ana = person()
    ana.sign_up()
    ana.goto(f"/markets/{market['id']}")
    depth = ana.page.get_by_test_id("depth")
    expect(depth).to_be_visible(timeout=WAIT_MS)
    # all of the window's stake: 60.00 of 80.00 on Home
    expect(depth.get_by_test_id("pressure")).to_have_text("0.75 toward Home", timeout=WAIT_MS)
    share = depth.locator(f"table.distribution tr[data-outcome-id='{home}']")
    expect(share.get_by_test_id("share-change")).to_have_text("▲ +75.00 pp")
    expect(depth.get_by_test_id("largest-wagers").locator("li").first).to_contain_text(
        "60.00 on Home"
    )
    expect(depth.get_by_test_id("biggest-bettors")).to_contain_text("Bettor 1: 60.00")
    expect(depth.get_by_test_id("impact-events")).to_contain_text("60.00 on Home")

    # the wager of this page's bettor moves it without a reload
    ana.page.evaluate("window.__sameDocument = true")
    ana.page.locator(".pick-button", has_text="Away").click()
    ana.page.get_by_role("textbox", name="Stake").fill("40")
    ana.page.get_by_role("button", name=re.compile(r"^Place wager:")).click()
    expect(depth.get_by_test_id("pressure")).to_have_text("0.50 toward Home", timeout=WAIT_MS)
    expect(depth.get_by_test_id("biggest-bettors")).to_contain_text("you")
    # the charts are drawn from the pool snapshots, which the scheduler takes every few seconds
    depth.get_by_role("button", name="15m").click()
    expect(depth.locator("canvas")).to_have_count(2, timeout=WAIT_MS)
    expect(depth).to_have_attribute(
        "data-snapshots", re.compile(r"^([3-9]|\d\d+)$"), timeout=90_000
    )
    ana.shoot("market-depth")
    assert ana.page.evaluate("window.__sameDocument") is True
    assert ana.errors == []


def test_limits_apply_at_once_when_tighter_and_after_the_cooling_off_when_looser(
    person: Callable[[], BrowserUser], market: Market
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    page.get_by_role("link", name="Wallet").click()
    stake = page.get_by_role("form", name="Daily stake limit")
    stake.get_by_label("New limit").fill("20")
    stake.get_by_role("button", name="Set limit").click()
    expect(stake.get_by_role("status")).to_have_text(
        "Your daily stake limit applies now.", timeout=WAIT_MS
    )
    expect(page.get_by_test_id("stake-limit")).to_contain_text("20.00 in any 24 hours")

    stake.get_by_label("New limit").fill("50")
    stake.get_by_role("button", name="Set limit").click()
    expect(stake.get_by_role("status")).to_contain_text("after the cooling-off", timeout=WAIT_MS)
    expect(page.get_by_test_id("stake-limit-pending")).to_contain_text("50.00 from")
    expect(page.get_by_test_id("stake-limit")).to_contain_text("20.00 in any 24 hours")

    deposit = page.get_by_role("form", name="Daily deposit limit")
    deposit.get_by_label("New limit").fill("12.5")
    deposit.get_by_role("button", name="Set limit").click()
    expect(page.get_by_test_id("deposit-limit")).to_contain_text("12.50", timeout=WAIT_MS)
    deposit_form = page.get_by_role("form", name="Deposit", exact=True)
    deposit_form.get_by_role("textbox").fill("13")
    deposit_form.get_by_role("button", name="Deposit", exact=True).click()
    expect(deposit_form.get_by_role("alert")).to_contain_text(
        "daily deposit limit of 12.50", timeout=WAIT_MS
    )
    ana.shoot("wallet-limits")

    # the engine holds the stake limit at the betslip
    ana.goto(f"/markets/{market['id']}")
    page.locator(".pick-button", has_text="Home").click()
    page.get_by_role("textbox", name="Stake").fill("25")
    page.get_by_role("button", name=re.compile(r"^Place wager:")).click()
    expect(page.get_by_test_id("wager-error")).to_contain_text(
        "daily stake limit of 20.00", timeout=WAIT_MS
    )
    expect(ana.balance()).to_have_text("100.00")

    page.get_by_role("link", name="Wallet").click()
    page.get_by_role("button", name="Exclude me").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_test_id("consequences")).to_contain_text("cannot be shortened")
    dialog.get_by_role("button", name="Exclude me").click()
    expect(page.get_by_test_id("self-excluded")).to_contain_text("never shorter", timeout=WAIT_MS)
    # the refused deposit and wager are HTTP errors the browser logs; nothing else may be
    assert [e for e in ana.errors if "422" not in e] == []


def focused(page: Page) -> str:
    """The focused element's name; nothing when no element has the focus (the document's body
    then holds it, and its text, the whole page's, would match any name)."""
    text: str = page.evaluate(
        "(() => { const e = document.activeElement;"
        " if (!e || e === document.body || e === document.documentElement) return '';"
        " return e.getAttribute('aria-label') || e.getAttribute('name') || e.textContent || '' })()"
    )
    return text.strip()


def tab_to(page: Page, pattern: str) -> None:
    """Press Tab until the focused element's name matches (at most a hundred presses)."""
    for _ in range(100):
        page.keyboard.press("Tab")
        if re.search(pattern, focused(page)):
            return
    raise AssertionError(f"no element matching {pattern!r} is reachable with Tab")


def test_a_bettor_places_a_wager_with_the_keyboard_alone(
    person: Callable[[], BrowserUser], market: Market
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    ana.goto("/")
    tab_to(page, re.escape(market["title"]))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=market["title"])).to_be_visible(timeout=WAIT_MS)
    tab_to(page, r"Away")
    page.keyboard.press("Enter")
    tab_to(page, r"^stake$")
    page.keyboard.type("10")
    expect(page.get_by_test_id("quote")).to_be_visible(timeout=WAIT_MS)
    tab_to(page, r"^Place wager: 10\.00")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("wager-placed")).to_contain_text("10.00 on Away", timeout=WAIT_MS)
    expect(ana.balance()).to_have_text("90.00", timeout=WAIT_MS)
    assert ana.errors == []
