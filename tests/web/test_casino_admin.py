"""The admin console's Casino screen (docs/web.md): the revenue per game as the database sums it,
following bets live; a change of a game's edge that a player's screen then shows; and a game
switched off, which a player is then refused. The settings are put back at the end (the web
tests share one database)."""

from collections import defaultdict
from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, money
from tests.web.casino import choose, play, token_of

DEFAULTS = {"enabled": True, "house_edge_bps": 100, "max_profit": 10_000_000}


def revenue(api: Api) -> dict[str, tuple[int, int]]:
    """Each game's settled bets and stakes - payouts, from every bet (the service role reads all;
    the web tests' few bets fit in one read)."""
    totals: dict[str, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for bet in api.read("house_bets", api.node.service_key, select="game,stake,payout,status"):
        if bet["status"] == "settled":
            count, ggr = totals[bet["game"]]
            totals[bet["game"]] = (count + 1, ggr + bet["stake"] - bet["payout"])
    return totals


def test_an_admin_sets_a_game_up_switches_one_off_and_reads_its_revenue(
    admin: Callable[[], BrowserUser], person: Callable[[], BrowserUser], api: Api
) -> None:
    boss = admin()
    ana = person()
    ana.sign_up()
    try:
        page = boss.page
        page.get_by_role("link", name="Admin").click()
        page.get_by_role("navigation", name="Admin console").get_by_role(
            "link", name="Casino"
        ).click()
        dice = page.get_by_role("form", name="Dice settings")
        expect(dice.get_by_test_id("game-state")).to_contain_text("RTP 99.00%", timeout=WAIT_MS)

        # a bet moves its game's row, live (the engine's profit message to admins)
        choose(ana, "dice", "3", "5000")
        play(ana)
        totals = revenue(api)
        ggr = page.locator("tr[data-game='dice']")
        expect(ggr.get_by_test_id("ggr")).to_have_text(money(totals["dice"][1]), timeout=WAIT_MS)
        expect(ggr).to_contain_text(str(totals["dice"][0]))
        for game in ("limbo", "roulette"):
            expect(page.locator(f"tr[data-game='{game}']").get_by_test_id("ggr")).to_have_text(
                money(totals[game][1])
            )

        # the edge: 2.00% -> 200 basis points, RTP 98.00%; under 50.00 (chance 5000): 9800 / 5000
        dice.get_by_label("House edge (%)").fill("2.00")
        dice.get_by_label("Max profit per bet").fill("50000")
        dice.get_by_role("button", name="Save").click()
        dice = page.get_by_role("form", name="Dice settings")
        expect(dice.get_by_test_id("game-state")).to_contain_text(
            "RTP 98.00% · max profit 50,000.00", timeout=WAIT_MS
        )
        settings = {g["game"]: g for g in api.read("house_games")}
        assert settings["dice"]["house_edge_bps"] == 200
        assert settings["dice"]["max_profit"] == 5_000_000
        choose(ana, "dice", "1", "5000")
        expect(ana.page.get_by_test_id("dice-multiplier")).to_have_text("1.9600x", timeout=WAIT_MS)
        expect(ana.page.get_by_test_id("max-profit")).to_have_text("50,000.00")

        # limbo switched off: the player's lobby says so, and a bet is refused
        limbo = page.get_by_role("form", name="Limbo settings")
        limbo.get_by_label("Enabled").uncheck()
        limbo.get_by_role("button", name="Save").click()
        limbo = page.get_by_role("form", name="Limbo settings")
        expect(limbo.get_by_test_id("game-state")).to_contain_text("Switched off", timeout=WAIT_MS)
        assert {g["game"]: g["enabled"] for g in api.read("house_games")}["limbo"] is False
        boss.shoot("admin-casino")
        boss.fits_the_phone()
        ana.goto("/casino")
        expect(ana.page.get_by_role("link", name="Limbo")).to_contain_text(
            "Switched off", timeout=WAIT_MS
        )
        choose(ana, "limbo", "1", "2")
        expect(ana.page.get_by_text("The house has switched this game off")).to_be_visible(
            timeout=WAIT_MS
        )
        before = len(api.read("house_bets", token_of(ana)))
        ana.page.get_by_role("button", name="Play", exact=True).click()
        expect(ana.page.get_by_test_id("refusal")).to_have_text(
            "Limbo is closed at the moment: the house has switched it off. Try another game.",
            timeout=WAIT_MS,
        )
        assert len(api.read("house_bets", token_of(ana))) == before
        audit = api.read("admin_actions", api.node.service_key, action="eq.update_house_game")
        assert {a["after"]["game"] for a in audit} >= {"dice", "limbo"}
        assert boss.errors == []
        assert [e for e in ana.errors if "409" not in e] == []
    finally:
        for game in ("dice", "limbo"):
            api.service("update_house_game", {"game": game, "settings": DEFAULTS})
