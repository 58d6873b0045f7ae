"""Auto-bet on a one-shot game's screen (docs/web.md, docs/house-games.md "Auto-bet"): the form's
stake and choices run many times in one call, stopped by a profit or a loss reached or by the
count; every bet listed as the database records it, with why the run stopped, and the balance
moved by the run."""

from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, money
from tests.web.casino import choose, result_text, token_of, wallet_balance

STOPPED = {
    "count": "every bet asked for was made",
    "stop_on_profit": "the profit reached your stop",
    "stop_on_loss": "the loss reached your stop",
}


def test_an_auto_bet_lists_its_bets_and_why_it_stopped(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    expect(ana.balance()).to_have_text("100.00", timeout=WAIT_MS)

    # limbo at 2.00x, 1.00 a bet: 20 bets, stopping at 3.00 of profit or of loss
    choose(ana, "limbo", "1.00", "2.00")
    auto = page.get_by_role("form", name="Auto-bet")
    auto.get_by_label("Number of bets").fill("20")
    auto.get_by_label("Stop on profit (empty: none)").fill("3.00")
    auto.get_by_label("Stop on loss (empty: none)").fill("3")
    auto.get_by_role("button", name="Run 20 bets").click()
    run = page.get_by_test_id("auto-run")
    expect(run).to_be_visible(timeout=WAIT_MS)

    bets = api.read("house_bets", token, order="nonce")
    placed = len(bets)
    assert 3 <= placed <= 20
    assert [b["nonce"] for b in bets] == list(range(placed))
    assert all(b["game"] == "limbo" and b["params"] == {"target": 200} for b in bets)
    profits: list[int] = []
    for b in bets:
        profits.append((profits[-1] if profits else 0) + b["payout"] - b["stake"])
    # the run stops just after the first bet that reaches a stop, else after all 20
    reached = [i for i, p in enumerate(profits) if p >= 300 or p <= -300]
    stopped = (
        "count" if not reached else "stop_on_profit" if profits[reached[0]] > 0 else "stop_on_loss"
    )
    assert placed == (reached[0] + 1 if reached else 20)
    expect(run).to_have_attribute("data-stopped", stopped)
    expect(run).to_have_attribute("data-placed", str(placed))
    expect(run.get_by_role("status")).to_contain_text(
        f"{placed} of 20 bets: {STOPPED[stopped]}. Staked {money(placed * 100)}, "
        f"paid {money(sum(b['payout'] for b in bets))}, profit {money(profits[-1])}."
    )
    rows = run.locator("tr[data-bet-id]")
    expect(rows).to_have_count(placed)
    for i, b in enumerate(bets):
        row = rows.nth(i)
        expect(row).to_have_attribute("data-bet-id", b["id"])
        expect(row).to_contain_text(result_text(b))
        expect(row.locator("td").nth(3)).to_have_text(money(10000 + profits[i]))
    assert wallet_balance(api, token) == 10000 + profits[-1]
    expect(ana.balance()).to_have_text(money(10000 + profits[-1]), timeout=WAIT_MS)
    ana.shoot("casino-autobet")

    # a refusal of the run's first bet is said in words, and nothing is bet
    auto.get_by_label("Number of bets").fill("5")
    page.get_by_role("form", name="Play Limbo").get_by_label("Stake").fill("500")
    auto.get_by_role("button", name="Run 5 bets").click()
    expect(page.get_by_test_id("auto-refusal")).to_contain_text("is too low", timeout=WAIT_MS)
    assert len(api.read("house_bets", token)) == placed
    assert [e for e in ana.errors if "402" not in e] == []
