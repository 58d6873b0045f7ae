"""Mines in the casino (docs/web.md, docs/house-games.md "Mines"): a round opened with a stake,
cells revealed one by one, resumed after a reload, cashed out; and a round played to a mine,
whose mines the grid shows only from the settled round's result. Balances and rounds as the
database records them."""

from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, money
from tests.web.casino import token_of, wallet_balance

ROUNDS = 20  # a bound on rounds replayed for the outcome wanted (each one is likely to give it)


def open_round(
    someone: BrowserUser, api: Api, token: str, stake: str, mines: int
) -> dict[str, Any]:
    page = someone.page
    form = page.get_by_role("form", name="Open a round")
    form.get_by_label("Stake").fill(stake)
    form.get_by_label("Mines").fill(str(mines))
    form.get_by_role("button", name="Open a round").click()
    expect(page.get_by_test_id("mines-open")).to_be_visible(timeout=WAIT_MS)
    round_: dict[str, Any] = api.call(token, "get_mines_round")
    assert round_["status"] == "created" and round_["mines"] == mines
    grid = page.get_by_test_id("mines-grid")
    expect(grid).to_have_attribute("data-round", round_["id"])
    # nothing of the mines is in the page while the round is open
    expect(grid.locator("[data-state='mine'], [data-state='hit']")).to_have_count(0)
    return round_


def reveal(someone: BrowserUser, api: Api, token: str, round_id: str, cell: int) -> dict[str, Any]:
    page = someone.page
    before = len(api.call(token, "get_mines_round", round_id=round_id)["revealed"])
    page.get_by_test_id("mines-grid").locator(f"[data-cell='{cell}']").click()
    cell_shown = page.get_by_test_id("mines-grid").locator(f"[data-cell='{cell}']")
    expect(cell_shown).not_to_have_attribute("data-state", "hidden", timeout=WAIT_MS)
    after: dict[str, Any] = api.call(token, "get_mines_round", round_id=round_id)
    assert len(after["revealed"]) == before + 1 or after["status"] == "settled"
    return after


def test_a_round_is_resumed_after_a_reload_and_cashed_out(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    ana.goto("/casino")
    page.get_by_role("link", name="Mines").click()
    expect(page.get_by_test_id("game-mines")).to_be_visible(timeout=WAIT_MS)

    # one mine: a round until its first cell is safe (a mine ends it, and another opens)
    for _ in range(ROUNDS):
        round_ = open_round(ana, api, token, "2.00", 1)
        expect(ana.balance()).to_have_text(money(wallet_balance(api, token)), timeout=WAIT_MS)
        round_ = reveal(ana, api, token, round_["id"], 12)
        if round_["status"] == "created":
            break
        expect(page.get_by_test_id("mines-outcome")).to_contain_text("You hit a mine")
    assert round_["status"] == "created", f"no safe first cell in {ROUNDS} rounds"
    assert round_["revealed"] == [12] and round_["cashout_payout"] is not None

    # a reload resumes the open round: its revealed cell, its multiplier and its cash-out
    page.reload()
    grid = page.get_by_test_id("mines-grid")
    expect(grid).to_have_attribute("data-round", round_["id"], timeout=WAIT_MS)
    expect(grid.locator("[data-cell='12']")).to_have_attribute("data-state", "safe")
    expect(grid.locator("[data-state='safe']")).to_have_count(1)
    expect(page.get_by_test_id("mines-multiplier")).to_have_text(f"{round_['multiplier']:.4f}x")
    cashout = page.get_by_role("button", name=f"Cash out {money(round_['cashout_payout'])}")
    expect(cashout).to_be_enabled()
    ana.shoot("casino-mines")

    cashout.click()
    outcome = page.get_by_test_id("mines-outcome")
    settled = api.call(token, "get_mines_round", round_id=round_["id"])
    expect(outcome).to_contain_text(
        f"You won {money(settled['payout'])} ({money(settled['profit'])} profit): cashed out",
        timeout=WAIT_MS,
    )
    assert settled["status"] == "settled" and settled["result"]["ended"] == "cashout"
    assert settled["payout"] == round_["cashout_payout"]
    # the mine, known now, from the round's result
    (mine,) = settled["result"]["mines"]
    expect(grid.locator("[data-state='mine']")).to_have_count(1)
    expect(grid.locator(f"[data-cell='{mine}']")).to_have_attribute("data-state", "mine")
    bets = api.read("house_bets", token, game="eq.mines", order="created_at")
    assert bets[-1]["id"] == round_["id"] and bets[-1]["payout"] == settled["payout"]
    expected = 10000 + sum(b["payout"] - b["stake"] for b in bets)
    assert wallet_balance(api, token) == expected
    expect(ana.balance()).to_have_text(money(expected), timeout=WAIT_MS)
    assert ana.errors == []


def test_a_round_lost_on_a_mine_shows_the_mines_from_the_answer(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    ana.goto("/casino/mines")

    # 24 mines: a round until its first cell is a mine (the one safe cell ends it too, all safe)
    for _ in range(ROUNDS):
        round_ = open_round(ana, api, token, "1.00", 24)
        round_ = reveal(ana, api, token, round_["id"], 0)
        assert round_["status"] == "settled"
        if round_["result"]["ended"] == "mine":
            break
    assert round_["result"]["ended"] == "mine", f"no mine hit in {ROUNDS} rounds"
    assert round_["payout"] == 0 and round_["result"]["mine"] == 0
    grid = page.get_by_test_id("mines-grid")
    expect(grid).to_have_attribute("data-status", "settled", timeout=WAIT_MS)
    expect(grid.locator("[data-cell='0']")).to_have_attribute("data-state", "hit")
    expect(grid.locator("[data-state='mine']")).to_have_count(23)
    for cell in round_["result"]["mines"]:
        expect(grid.locator(f"[data-cell='{cell}']")).not_to_have_attribute("data-state", "hidden")
    expect(page.get_by_test_id("mines-outcome")).to_contain_text(
        "You hit a mine and lost 1.00: hit a mine"
    )
    ana.shoot("casino-mines-lost")
    bets = api.read("house_bets", token, game="eq.mines")
    expected = 10000 + sum(b["payout"] - b["stake"] for b in bets)
    assert wallet_balance(api, token) == expected
    expect(ana.balance()).to_have_text(money(expected), timeout=WAIT_MS)
    # the form is back for the next round
    expect(page.get_by_role("form", name="Open a round")).to_be_visible()
    assert ana.errors == []
