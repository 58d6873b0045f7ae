"""The player's rewards and the live feed on the casino lobby (docs/web.md): after some bets, and
once the side-effect jobs that count them have run (the node's own worker), the page shows the
level, XP and claimable rakeback the engine answers; "Claim rakeback" pays exactly that into the
wallet, in one 'rakeback' ledger entry; the live bets feed lists the bets by public name; a second
player names the first as their referrer, and is refused in words a code that does not exist and,
once set, another referrer."""

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from playwright.sync_api import expect

from tests.faultproxy import wait_until
from tests.serving import Node
from tests.web.browser import WAIT_MS, Api, BrowserUser, money
from tests.web.casino import token_of, wallet_balance

BETS = 5
STAKE = 1000  # 10.00 each


def counted(node: Node, user_id: str) -> bool:
    """Every settled bet of the user counted by the side-effect jobs: none is still pending (a
    job deletes its pending rows in the transaction that writes its figures)."""
    with psycopg.connect(node.database_url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from app.house_effects_pending where user_id = %s", [user_id]
        ).fetchone()
    return row is not None and row[0] == 0


def play_dice(api: Api, token: str) -> dict[str, Any]:
    bet: dict[str, Any] = api.call(
        token,
        "play_dice",
        stake=STAKE,
        target=5000,
        over=False,
        idempotency_key=str(uuid.uuid4()),
    )
    return bet


def test_level_rakeback_feed_and_referral_on_the_lobby(
    person: Callable[[], BrowserUser], api: Api, web_node: Node
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    ana_id = api.user_id(token)
    for _ in range(BETS):
        play_dice(api, token)
    wait_until(lambda: counted(web_node, ana_id), what="the house effects of ana's bets")

    level = api.call(token, "get_level")
    assert level["bets"] == BETS
    assert level["rakeback_claimable"] > 0
    ana.goto("/casino")
    expect(page.get_by_test_id("level")).to_have_text(str(level["level"]), timeout=WAIT_MS)
    expect(page.get_by_test_id("xp")).to_contain_text(str(level["xp"]))
    claimable = level["rakeback_claimable"]
    expect(page.get_by_test_id("rakeback-claimable")).to_have_text(money(claimable))

    # the feed: ana's bets, by her public name (never her email)
    ids = {b["id"] for b in api.read("house_bets", token)}
    mine = [b for b in api.read("live_bets", limit="20") if b["bet_id"] in ids]
    assert len(mine) == BETS and len({b["player"] for b in mine}) == 1
    for row in mine:
        line = page.locator(f"tr[data-live-bet='{row['bet_id']}']")
        expect(line).to_contain_text(row["player"], timeout=WAIT_MS)
        expect(line).to_contain_text(money(row["payout"]))
    assert "@" not in page.get_by_role("region", name="Live bets").inner_text()
    ana.shoot("casino-rewards")

    # the claim pays exactly the claimable rakeback, in one ledger entry
    before = wallet_balance(api, token)
    page.get_by_role("button", name="Claim rakeback").click()
    expect(page.get_by_test_id("rakeback-message")).to_have_text(
        f"{money(claimable)} rakeback paid into your wallet.", timeout=WAIT_MS
    )
    assert wallet_balance(api, token) == before + claimable
    expect(page.get_by_test_id("header-balance")).to_have_text(money(before + claimable))
    entries = api.read("my_ledger", token, kind="eq.rakeback")
    assert [e["amount"] for e in entries] == [claimable]
    after = api.call(token, "get_level")
    assert (after["rakeback_claimable"], after["rakeback_paid"]) == (0, claimable)
    expect(page.get_by_test_id("rakeback-claimable")).to_have_text(money(0), timeout=WAIT_MS)
    expect(page.get_by_role("button", name="Claim rakeback")).to_be_disabled()

    # a second player names ana as their referrer: a wrong code, ana's, then another's refused
    code = api.call(token, "get_affiliate")["code"]
    expect(page.get_by_test_id("referral-code")).to_have_text(code)
    other_code = api.call(api.bettor(), "get_affiliate")["code"]
    bob = person()
    bob.sign_up()
    bob.goto("/casino")
    form = bob.page.get_by_role("form", name="Who referred you")
    message = bob.page.get_by_test_id("referral-message")
    form.get_by_label("Who referred you? Their code").fill("NO-SUCH-CODE")
    form.get_by_role("button", name="Set referrer").click()
    expect(message).to_have_text(
        "No player has this referral code: check it with whoever gave it to you.", timeout=WAIT_MS
    )
    form.get_by_label("Who referred you? Their code").fill(code)
    form.get_by_role("button", name="Set referrer").click()
    referred_by = api.call(token_of(bob), "get_affiliate")["referred_by"]
    assert referred_by == mine[0]["player"]
    expect(message).to_have_text(f"Referred by {referred_by}.", timeout=WAIT_MS)
    expect(bob.page.get_by_test_id("referred-by")).to_have_text(referred_by, timeout=WAIT_MS)
    form.get_by_label("Who referred you? Their code").fill(other_code)
    form.get_by_role("button", name="Set referrer").click()
    expect(message).to_have_text(
        "Your referrer is set already, and it is set once.", timeout=WAIT_MS
    )
    assert api.call(token_of(bob), "get_affiliate")["referred_by"] == referred_by
    assert api.call(token, "get_affiliate")["referred_players"] == 1
    expect(page.get_by_test_id("referred-players")).to_have_text("1", timeout=WAIT_MS)
    bob.shoot("casino-referral")
    ana.fits_the_phone()
    assert ana.errors == []
    # the browser logs the two refusals' responses, and nothing else
    assert [e.rsplit("(", 1)[-1] for e in bob.errors] == ["Not Found)", "Conflict)"], bob.errors
