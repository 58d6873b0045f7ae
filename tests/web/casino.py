"""Driving the casino screens (web/src/casino/): a game's form, its result as the app writes it,
and the bettor's own bets and wallet read back through the API with the page's own token."""

from typing import Any

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, money


def token_of(someone: BrowserUser) -> str:
    """The access token the page holds (supabase-js keeps the session in localStorage)."""
    session = someone.page.evaluate("JSON.parse(localStorage.getItem('wagerbase.auth'))")
    token: str = session["access_token"]
    return token


def choose(someone: BrowserUser, game: str, stake: str, choice: str) -> None:
    """Open /casino/<game> and fill its form: the stake, and the game's choice (dice: a target in
    hundredths, rolled under it; limbo: a target multiplier; roulette: a bet; plinko: "rows
    risk"; keno: "tile,tile,... risk")."""
    page = someone.page
    someone.goto(f"/casino/{game}")
    form = page.get_by_role("form", name=f"Play {game.capitalize()}")
    form.get_by_label("Stake").fill(stake)
    if game == "dice":
        form.get_by_role("button", name="Roll under").click()
        form.get_by_label("Target").fill(choice)
    elif game == "limbo":
        form.get_by_label("Target multiplier").fill(choice)
    elif game == "plinko":
        rows, risk = choice.split()
        form.get_by_label("Rows", exact=True).fill(rows)
        form.get_by_label("Risk").select_option(risk)
    elif game == "keno":
        tiles, risk = choice.split()
        for tile in tiles.split(","):
            form.locator(f"[data-tile='{tile}']").click()
        form.get_by_label("Risk").select_option(risk)
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
    if bet["game"] == "plinko":
        return f"bucket {result['bucket']}"
    if bet["game"] == "keno":
        return f"{result['hits']} hits: {', '.join(map(str, result['drawn']))}"
    return f"{result['pocket']} {result['color']}"


def outcome_text(bet: dict[str, Any]) -> str:
    """The outcome line's start as the app writes it (Reveal.tsx's outcomeText)."""
    if bet["won"]:
        return f"You won {money(bet['payout'])} ({money(bet['profit'])} profit)."
    if bet["payout"] > 0:
        return f"{money(bet['payout'])} paid back ({bet['multiplier']:.2f}x)."
    return f"You lost {money(bet['stake'])}."


def latest_bet(api: Api, token: str) -> dict[str, Any]:
    bets = api.read("house_bets", token, order="created_at.desc,nonce.desc", limit="1")
    assert bets, "no house bet"
    return bets[0]


def wallet_balance(api: Api, token: str) -> int:
    balance: int = api.read("my_wallet", token)[0]["balance"]
    return balance
