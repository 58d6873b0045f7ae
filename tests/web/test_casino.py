"""The casino (docs/web.md, docs/house-games.md): each house game played from its screen, the
result revealed only once the engine has committed the bet, the balance moving as the database
says, and the engine's refusals said in words."""

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Route, expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, money
from tests.web.casino import choose, latest_bet, play, result_text, token_of, wallet_balance

GAMES = [("dice", "2.50", "2500"), ("limbo", "2.50", "1.50"), ("roulette", "2.50", "red")]


def test_each_game_is_played_and_the_balance_moves_as_the_database_says(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    expect(ana.balance()).to_have_text("100.00", timeout=WAIT_MS)
    page.get_by_role("link", name="Casino").click()
    for game, _, _ in GAMES:
        expect(page.get_by_role("link", name=re.compile(game, re.I))).to_be_visible()

    # dice under 25.00 at the default 1% edge: the engine's chance and multiplier
    choose(ana, "dice", "2.50", "2500")
    expect(page.get_by_test_id("dice-chance")).to_have_text("25.00%")
    expect(page.get_by_test_id("dice-multiplier")).to_have_text("3.9600x")

    # the answer is held back: the bet is committed, and the page shows nothing of it yet
    held: list[tuple[Route, object]] = []

    def hold(route: Route) -> None:
        held.append((route, route.fetch()))

    page.route("**/rest/v1/rpc/play_dice", hold)
    before = wallet_balance(api, token)
    page.get_by_role("button", name="Play", exact=True).click()
    while not held:
        page.wait_for_timeout(50)
    committed = latest_bet(api, token)
    assert committed["game"] == "dice" and committed["stake"] == 250
    expect(page.get_by_role("button", name="Playing…")).to_be_disabled()
    expect(page.get_by_test_id("reveal")).to_have_count(0)
    expect(page.get_by_test_id("result")).to_have_count(0)
    route, response = held[0]
    route.fulfill(response=response)  # type: ignore[arg-type]
    page.unroute("**/rest/v1/rpc/play_dice")
    expect(page.get_by_test_id("reveal")).to_have_attribute("data-state", "done", timeout=WAIT_MS)
    expect(page.get_by_test_id("reveal")).to_have_attribute("data-bet-id", committed["id"])
    ana.shoot("casino-dice")
    ana.fits_the_phone()
    checked = [(committed, before)]

    for game, stake, choice in GAMES[1:]:
        choose(ana, game, stake, choice)
        before = wallet_balance(api, token)
        play(ana)
        checked.append((latest_bet(api, token), before))

    for bet, before in checked:
        assert bet["stake"] == 250
        after = before + bet["payout"] - bet["stake"]
        if bet is checked[-1][0]:
            # the last one is still on screen: its result, its outcome and the balance
            expect(page.get_by_test_id("result")).to_have_text(result_text(bet))
            outcome = f"You won {money(bet['payout'])}" if bet["won"] else "You lost 2.50"
            expect(page.get_by_test_id("outcome")).to_contain_text(outcome)
            expect(ana.balance()).to_have_text(money(after), timeout=WAIT_MS)
    games = [b["game"] for b, _ in checked]
    assert games == ["dice", "limbo", "roulette"]
    expected = 10000 + sum(b["payout"] - b["stake"] for b, _ in checked)
    assert wallet_balance(api, token) == expected
    expect(ana.balance()).to_have_text(money(expected))
    # the nonces of one pair, one bet each
    assert [b["nonce"] for b, _ in checked] == [0, 1, 2]
    ana.shoot("casino-roulette")
    assert ana.errors == []


def test_the_engine_s_refusals_are_said_in_words(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    refusal = page.get_by_test_id("refusal")

    choose(ana, "dice", "1000", "5000")  # 1,000.00 of a 100.00 balance
    page.get_by_role("button", name="Play", exact=True).click()
    expect(refusal).to_have_text(
        "Your balance (100.00) is too low for this. Deposit, or lower the amount.", timeout=WAIT_MS
    )

    choose(ana, "limbo", "1", "1000000")  # a win of 1,000,000.00 on 1.00
    page.get_by_role("button", name="Play", exact=True).click()
    expect(refusal).to_contain_text("more than this game's limit of 100,000.00", timeout=WAIT_MS)
    ana.shoot("casino-refused")

    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    api.call(token, "set_self_exclusion", until=until)
    choose(ana, "roulette", "1", "red")
    page.get_by_role("button", name="Play", exact=True).click()
    expect(refusal).to_contain_text("You have excluded yourself from betting", timeout=WAIT_MS)
    # nothing was taken and no bet was made
    assert wallet_balance(api, token) == 10000
    assert api.read("house_bets", token) == []
    # the browser logs the HTTP errors of the refusals it was shown, and nothing else
    assert [e for e in ana.errors if not re.search(r"\b(402|403|422)\b", e)] == []
