"""Plinko and keno in the casino (docs/web.md, docs/house-games.md): each played from its screen,
the board (the ball's path, the drawn tiles) drawn only once the engine has answered, the result,
outcome and balance as the database records them; and each bet verified in the browser after a
rotation, its path or drawn tiles recomputed from the revealed pair."""

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Route, expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, money
from tests.web.casino import (
    choose,
    latest_bet,
    outcome_text,
    play,
    result_text,
    token_of,
    wallet_balance,
)


def shown_as_recorded(someone: BrowserUser, api: Api, token: str, bet: dict[str, Any]) -> None:
    page = someone.page
    expect(page.get_by_test_id("reveal")).to_have_attribute("data-bet-id", bet["id"])
    expect(page.get_by_test_id("result")).to_have_text(result_text(bet))
    expect(page.get_by_test_id("outcome")).to_contain_text(outcome_text(bet))
    expect(someone.balance()).to_have_text(money(wallet_balance(api, token)), timeout=WAIT_MS)


def test_plinko_and_keno_are_played_and_verified_after_a_rotation(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    expect(ana.balance()).to_have_text("100.00", timeout=WAIT_MS)

    # plinko, 12 rows of high risk: the board has 13 buckets with the table's multipliers
    choose(ana, "plinko", "2.50", "12 high")
    board = page.get_by_test_id("plinko-board")
    expect(board.locator("[data-bucket]")).to_have_count(13)
    expect(board.locator("[data-bucket='0']")).to_have_text("168")
    expect(board.locator("[data-bucket='6']")).to_have_text("0.2")

    # the answer held back: the bet is committed, and no ball falls yet
    held: list[tuple[Route, object]] = []
    page.route("**/rest/v1/rpc/play_plinko", lambda route: held.append((route, route.fetch())))
    page.get_by_role("button", name="Play", exact=True).click()
    while not held:
        page.wait_for_timeout(50)
    committed = latest_bet(api, token)
    assert committed["game"] == "plinko" and committed["params"] == {"rows": 12, "risk": "high"}
    expect(page.get_by_test_id("reveal")).to_have_count(0)
    expect(page.get_by_test_id("plinko-ball")).to_have_count(0)
    route, response = held[0]
    route.fulfill(response=response)  # type: ignore[arg-type]
    page.unroute("**/rest/v1/rpc/play_plinko")
    reveal = page.get_by_test_id("reveal")
    expect(reveal).to_have_attribute("data-state", "done", timeout=WAIT_MS)
    plinko = latest_bet(api, token)
    assert plinko["id"] == committed["id"]
    path = plinko["result"]["path"]
    assert len(path) == 12 and set(path) <= {0, 1} and plinko["result"]["bucket"] == sum(path)
    assert plinko["payout"] == plinko["stake"] * round(plinko["multiplier"] * 100) // 100
    landed = reveal.locator(".buckets li.landed")
    expect(landed).to_have_attribute("data-bucket", str(sum(path)))
    shown_as_recorded(ana, api, token, plinko)
    ana.shoot("casino-plinko")
    ana.fits_the_phone()

    # keno, five picks at classic risk: the drawn tiles light up, the hits apart
    picks = [3, 7, 11, 20, 33]
    choose(ana, "keno", "2.50", f"{','.join(map(str, picks))} classic")
    expect(page.get_by_test_id("keno-picked")).to_contain_text("5 of 10 picked")
    expect(page.get_by_test_id("keno-table")).to_contain_text("5: 36.00x")
    play(ana)
    keno = latest_bet(api, token)
    assert keno["game"] == "keno" and keno["params"] == {"picks": picks, "risk": "classic"}
    drawn = keno["result"]["drawn"]
    assert len(set(drawn)) == 10 and keno["result"]["hits"] == len(set(drawn) & set(picks))
    shown_board = page.get_by_test_id("reveal").get_by_test_id("keno-board")
    for tile in range(1, 41):
        state = (
            "hit"
            if tile in drawn and tile in picks
            else "drawn"
            if tile in drawn
            else "picked"
            if tile in picks
            else "secondary"
        )
        expect(shown_board.locator(f"[data-tile='{tile}']")).to_have_attribute("data-state", state)
    shown_as_recorded(ana, api, token, keno)
    ana.shoot("casino-keno")
    expected = 10000 + sum(b["payout"] - b["stake"] for b in (plinko, keno))
    assert wallet_balance(api, token) == expected
    assert [plinko["nonce"], keno["nonce"]] == [0, 1]

    # a rotation reveals the pair; both bets recompute in the browser to what was recorded
    page.get_by_role("link", name="Your seeds: check any bet").click()
    rotate = page.get_by_role("form", name="Rotate seeds")
    rotate.get_by_role("button", name="Rotate seeds").click()
    expect(page.get_by_test_id("revealed-pair").get_by_test_id("revealed-seed")).to_be_visible(
        timeout=WAIT_MS
    )
    for bet in (plinko, keno):
        row = page.locator(f"tr[data-bet-id='{bet['id']}']")
        expect(row).to_contain_text("revealed", timeout=WAIT_MS)
        row.get_by_role("button", name="Verify").click()
        verify = page.get_by_role("form", name="Verify the bet")
        expect(verify).to_contain_text(bet["id"])
        verify.get_by_role("button", name="Verify", exact=True).click()
        verdict = page.get_by_test_id("verdict")
        expect(verdict).to_have_attribute("data-matches", "true", timeout=WAIT_MS)
        expect(verdict.locator(".check-ok")).to_have_count(3)
        expect(verdict).to_contain_text(f"the result recomputes to {result_text(bet)}")
        # another nonce draws another path or other tiles: a mismatch
        verify.get_by_label("Nonce").fill(str(bet["nonce"] + 5))
        verify.get_by_role("button", name="Verify", exact=True).click()
        expect(verdict).to_have_attribute("data-matches", "false", timeout=WAIT_MS)
    assert ana.errors == []
