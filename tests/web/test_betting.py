"""The web app, end to end, as bettors use it: a real `wagerbase serve`, Debian's headless
Chromium, the official supabase-js client in the page. Each test reads as one of issue 6's rules
and saves the screens it passes through to docs/screenshots/."""

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.web.browser import PASSWORD, WAIT_MS, Api, BrowserUser

Market = dict[str, Any]


def outcome_ids(market: Market) -> tuple[int, int]:
    first, second = market["outcomes"][0], market["outcomes"][1]
    return int(first["outcome_id"]), int(second["outcome_id"])


def open_betslip(someone: BrowserUser, market: Market) -> None:
    someone.goto(f"/markets/{market['id']}")
    expect(someone.page.get_by_role("heading", name=market["title"])).to_be_visible(timeout=WAIT_MS)


def quote(someone: BrowserUser, outcome: str, stake: str) -> None:
    """Pick an outcome and type a stake; wait for the live quote."""
    page = someone.page
    page.locator(".pick-button", has_text=outcome).click()
    page.get_by_role("textbox", name="Stake").fill(stake)
    expect(page.get_by_test_id("quote")).to_be_visible(timeout=WAIT_MS)


def test_a_bettor_signs_up_deposits_bets_and_sees_the_balance_move(
    person: Callable[[], BrowserUser], market: Market
) -> None:
    ana = person()
    ana.goto("/")
    expect(ana.page.get_by_role("button", name="Continue as guest")).to_be_visible()
    ana.shoot("sign-in")
    ana.sign_up()
    # a new wallet starts with the welcome credit of 100.00
    expect(ana.balance()).to_have_text("100.00", timeout=WAIT_MS)
    expect(ana.page.locator(f"[data-market-id='{market['id']}']")).to_be_visible()
    ana.shoot("board")

    ana.page.get_by_role("link", name="Wallet").click()
    ana.page.get_by_role("textbox", name="Amount").first.fill("50")
    ana.page.get_by_role("button", name="Deposit", exact=True).click()
    expect(ana.page.get_by_text("Deposited 50.00.")).to_be_visible(timeout=WAIT_MS)
    expect(ana.page.get_by_test_id("wallet-balance")).to_have_text("150.00", timeout=WAIT_MS)
    expect(ana.balance()).to_have_text("150.00")
    expect(ana.page.locator("table.ledger")).to_contain_text("Deposit", timeout=WAIT_MS)

    open_betslip(ana, market)
    page = ana.page
    page.locator(".pick-button", has_text="Home").click()
    page.get_by_role("button", name="10.00", exact=True).click()  # a quick stake
    expect(page.get_by_test_id("baseline-odds")).to_have_text("1.5000", timeout=WAIT_MS)
    expect(page.get_by_test_id("estimated-payout")).to_have_text("15.00")
    ana.shoot("betslip-quote")
    page.get_by_role("button", name=re.compile(r"^Place wager: 10\.00 at 1\.5000")).click()
    expect(page.get_by_test_id("wager-placed")).to_contain_text(
        "10.00 on Home at 1.5000", timeout=WAIT_MS
    )
    expect(ana.balance()).to_have_text("140.00", timeout=WAIT_MS)
    mine = page.locator("table.wagers tbody tr")
    expect(mine).to_have_count(1, timeout=WAIT_MS)
    expect(mine.first).to_contain_text("Home")
    expect(mine.first).to_contain_text("15.00")
    ana.shoot("market")

    page.get_by_role("link", name="Wallet").click()
    expect(page.locator("table.ledger")).to_contain_text("Stake", timeout=WAIT_MS)
    expect(page.locator("table.ledger")).to_contain_text("-10.00")
    ana.shoot("wallet")
    page.get_by_role("link", name="My bets").click()
    expect(page.locator("table.wagers tbody tr")).to_have_count(1, timeout=WAIT_MS)
    ana.shoot("my-bets")
    assert ana.errors == []


def test_a_second_bettor_sees_the_odds_move_without_reloading(
    person: Callable[[], BrowserUser], market: Market
) -> None:
    home, _ = outcome_ids(market)
    ana, bo = person(), person()
    ana.sign_up()
    bo.sign_up()
    expect(bo.outcome_odds(market["id"], home)).to_have_text("1.50", timeout=WAIT_MS)
    bo.page.evaluate("window.__sameDocument = true")

    open_betslip(ana, market)
    quote(ana, "Home", "50")
    ana.page.get_by_role("button", name=re.compile(r"^Place wager")).click()
    expect(ana.page.get_by_test_id("wager-placed")).to_be_visible(timeout=WAIT_MS)

    # 50.00 on Home: 1 + 100.00 / 150.00 * 0.5 = 1.3333 for Home (1.75 for Away)
    expect(bo.outcome_odds(market["id"], home)).to_have_text("1.33", timeout=WAIT_MS)
    card = bo.page.locator(f"[data-market-id='{market['id']}']")
    expect(card.get_by_test_id("pool")).to_have_text("50.00")
    expect(card.locator(f".outcome-row[data-outcome-id='{home}'] .trend.down")).to_be_visible()
    assert bo.page.evaluate("window.__sameDocument") is True  # no reload happened
    bo.shoot("board-live")
    assert ana.errors == [] and bo.errors == []


def test_a_stale_quote_is_refused_and_the_new_one_offered(
    person: Callable[[], BrowserUser], market: Market, api: Api
) -> None:
    home, _ = outcome_ids(market)
    ana = person()
    held = ana.hold_realtime()
    ana.sign_up()
    open_betslip(ana, market)
    quote(ana, "Home", "10")
    expect(ana.page.get_by_test_id("effective-odds")).to_have_text("1.5000", timeout=WAIT_MS)

    # the market moves while Ana's network is slow: her page still shows the old quote
    held.holding = True
    api.place_wager(api.bettor(), market["id"], home, 5000)
    ana.page.get_by_role("button", name=re.compile(r"^Place wager: 10\.00 at 1\.5000")).click()

    moved = ana.page.get_by_test_id("odds-moved")
    expect(moved).to_contain_text("The odds moved from 1.5000 to 1.3333", timeout=WAIT_MS)
    expect(ana.page.get_by_test_id("effective-odds")).to_have_text("1.3333")
    expect(ana.balance()).to_have_text("100.00")  # nothing was placed
    ana.shoot("betslip-odds-moved")

    ana.page.get_by_role(
        "button", name=re.compile(r"^Confirm at the new odds: 10\.00 at 1\.3333")
    ).click()
    expect(ana.page.get_by_test_id("wager-placed")).to_contain_text("at 1.3333", timeout=WAIT_MS)
    held.release()
    expect(ana.balance()).to_have_text("90.00", timeout=WAIT_MS)
    # the refused place_wager is a 409 the browser logs; nothing else may be
    assert [e for e in ana.errors if "409" not in e] == []


def test_a_guest_sees_the_board_but_cannot_bet(
    person: Callable[[], BrowserUser], market: Market
) -> None:
    home, _ = outcome_ids(market)
    guest = person()
    guest.goto("/")
    guest.page.get_by_role("button", name="Continue as guest").click()
    guest.wait_live()
    expect(guest.outcome_odds(market["id"], home)).to_have_text("1.50", timeout=WAIT_MS)
    expect(guest.page.get_by_role("link", name="Wallet")).to_have_count(0)

    open_betslip(guest, market)
    quote(guest, "Home", "10")  # anyone may ask for a quote
    expect(guest.page.get_by_test_id("guest-note")).to_contain_text("only members can bet")
    expect(guest.page.get_by_role("button", name=re.compile(r"^Place wager"))).to_have_count(0)
    guest.shoot("guest-market")
    assert guest.errors == []


def test_the_session_survives_a_reload_until_sign_out(person: Callable[[], BrowserUser]) -> None:
    ana = person()
    ana.sign_up()
    ana.page.reload()
    ana.wait_live()
    expect(ana.page.get_by_text(ana.email)).to_be_visible()

    ana.page.get_by_role("button", name="Sign out").click()
    expect(ana.page.get_by_role("button", name="Continue as guest")).to_be_visible(timeout=WAIT_MS)
    ana.page.reload()
    expect(ana.page.get_by_role("button", name="Continue as guest")).to_be_visible(timeout=WAIT_MS)

    ana.page.get_by_label("Email").fill(ana.email)
    ana.page.get_by_label("Password", exact=True).fill("not the password")
    ana.page.get_by_role("button", name="Sign in", exact=True).click()
    expect(ana.page.get_by_role("alert")).to_have_text("Wrong email or password.")
    ana.page.get_by_label("Password", exact=True).fill(PASSWORD)
    ana.page.get_by_role("button", name="Sign in", exact=True).click()
    ana.wait_live()
    expect(ana.balance()).to_have_text("100.00", timeout=WAIT_MS)
    # the wrong password is a 400 the browser logs; nothing else may be
    assert [e for e in ana.errors if "400" not in e] == []
