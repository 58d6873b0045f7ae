"""Driving the casino screens (web/src/casino/): a game's form, its result as the app writes it,
and the bettor's own bets and wallet read back through the API with the page's own token."""

from typing import Any

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser


def token_of(someone: BrowserUser) -> str:
    """The access token the page holds (supabase-js keeps the session in localStorage)."""
    session = someone.page.evaluate("JSON.parse(localStorage.getItem('wagerbase.auth'))")
    token: str = session["access_token"]
    return token


def choose(someone: BrowserUser, game: str, stake: str, choice: str) -> None:
    """Open /casino/<game> and fill its form: the stake, and the game's one choice (dice: a
    target in hundredths, rolled under it; limbo: a target multiplier; roulette: a bet)."""
    page = someone.page
    someone.goto(f"/casino/{game}")
    form = page.get_by_role("form", name=f"Play {game.capitalize()}")
    form.get_by_label("Stake").fill(stake)
    if game == "dice":
        form.get_by_role("button", name="Roll under").click()
        form.get_by_label("Target").fill(choice)
    elif game == "limbo":
        form.get_by_label("Target multiplier").fill(choice)
    else:
        form.get_by_label("Bet").select_option(choice)


def play(someone: BrowserUser) -> None:
    """Press Play and wait for the reveal to end."""
    page = someone.page
    page.get_by_role("button", name="Play", exact=True).click()
    expect(page.get_by_test_id("reveal")).to_have_attribute("data-state", "done", timeout=WAIT_MS)


def result_text(bet: dict[str, Any]) -> str:
    """A bet's result as the app writes it (the games' describeResult)."""
    result = bet["result"]
    if bet["game"] == "dice":
        return f"{result['roll'] / 100:.2f}"
    if bet["game"] == "limbo":
        return f"{result['crash'] / 100:.2f}x"
    return f"{result['pocket']} {result['color']}"


def latest_bet(api: Api, token: str) -> dict[str, Any]:
    bets = api.read("house_bets", token, order="created_at.desc,nonce.desc", limit="1")
    assert bets, "no house bet"
    return bets[0]


def wallet_balance(api: Api, token: str) -> int:
    balance: int = api.read("my_wallet", token)[0]["balance"]
    return balance
