"""The admin console's newer screens, end to end: a virtual game created from the form shows the
commitment the engine made and leads to its provably-fair page; a market's pool snapshots and its
close, over ranges longer than get_market_depth's hour, a page at a time; the quote telemetry
summed up and filtered; the wager monitor's big wagers (flagged by the engine), a bettor's history
with the engine's running profit and the price impact over time. Every screen also fits a phone."""

import re
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, money

Market = dict[str, Any]


def test_a_virtual_game_made_in_the_console_shows_its_commitment_and_its_fair_page(
    admin: Callable[[], BrowserUser], api: Api
) -> None:
    boss = admin()
    page = boss.page
    boss.goto("/admin")
    form = page.locator("form.create-market")
    # the kind of market is picked with the keyboard: the radio group moves with an arrow key
    form.get_by_label("Event market").focus()
    page.keyboard.press("ArrowDown")
    expect(form.get_by_label("Virtual game")).to_be_checked()
    expect(form.get_by_label("Outcome 1", exact=True)).to_have_count(0)
    expect(form.get_by_label("Kind")).to_have_value("parimutuel")

    title = f"Roulette {uuid.uuid4().hex[:6]}"
    form.get_by_label("Title").fill(title)
    expect(form.get_by_test_id("game-outcomes")).to_contain_text("Red (18 pockets)")
    form.get_by_role("button", name="Create virtual market").click()
    # the draw needs a closing time: the form says so before the engine is asked
    expect(form.get_by_role("alert")).to_contain_text("needs the time of its draw")
    form.get_by_role("button", name="Close in 1 hour").click()
    form.get_by_role("button", name="Create virtual market").click()
    created = form.get_by_role("status")
    expect(created).to_contain_text(f"{title} (Red, Black, Green).", timeout=WAIT_MS)
    commitment = created.get_by_test_id("committed-hash")
    expect(commitment).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    boss.shoot("admin-virtual-market")
    boss.fits_the_phone()

    fair_link = created.get_by_role("link", name=re.compile(r"^The provably-fair page of market"))
    href = fair_link.get_attribute("href") or ""
    market_id = int(href.split("/")[2])
    # what the form shows is the engine's commitment, as anyone can read it
    draw = api.call(api.node.anon_key, "verify_draw", market_id=market_id)
    assert (draw["template"], draw["revealed"]) == ("roulette", False)
    expect(commitment).to_have_text(draw["server_seed_hash"])

    fair_link.click()
    fair = page.get_by_test_id("fair")
    expect(fair.get_by_test_id("seed-hash")).to_have_text(draw["server_seed_hash"], timeout=WAIT_MS)
    expect(fair).to_contain_text("Secret until the market is settled")

    # dice: the threshold decides the two outcomes; a threshold out of range is refused in words
    boss.goto("/admin")
    form.get_by_label("Virtual game").check()
    form.get_by_label("Game", exact=True).select_option("dice")
    form.get_by_label("Threshold (0.01 to 99.99)").fill("100")
    expect(form.get_by_label("Threshold (0.01 to 99.99)")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Threshold (0.01 to 99.99)").fill("25.5")
    expect(form.get_by_test_id("game-outcomes")).to_contain_text(
        "Under 25.50 and Over 25.50 (a roll of exactly 25.50 is Over)"
    )
    dice_title = f"Dice {uuid.uuid4().hex[:6]}"
    form.get_by_label("Title").fill(dice_title)
    form.get_by_role("button", name="Close in 5 min").click()
    form.get_by_role("button", name="Create virtual market").click()
    expect(form.get_by_role("status")).to_contain_text(
        f"{dice_title} (Under 25.50, Over 25.50).", timeout=WAIT_MS
    )
    (dice,) = api.read("markets", select="id,category,kind,status", title=f"eq.{dice_title}")
    assert (dice["category"], dice["kind"], dice["status"]) == ("virtual", "parimutuel", "open")
    assert boss.errors == []


def test_the_snapshots_tab_shows_a_markets_pool_snapshots_and_its_close(
    admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(
        f"Snapped {uuid.uuid4().hex[:6]}", ["Home", "Away"], kind="parimutuel", rake_bps=500
    )
    home, away = (int(o["outcome_id"]) for o in market["outcomes"])
    api.place_wager(api.bettor(), market["id"], home, 6000)
    api.place_wager(api.bettor(), market["id"], away, 2000)

    boss = admin()
    page = boss.page
    boss.goto("/admin/snapshots")
    expect(page.get_by_text("Pick a market to see its pool snapshots.")).to_be_visible(
        timeout=WAIT_MS
    )
    page.get_by_label("Market").select_option(str(market["id"]))
    expect(page).to_have_url(re.compile(rf"/admin/markets/{market['id']}/snapshots$"))
    tabs = page.get_by_role("navigation", name=f"Market {market['id']}")
    expect(tabs.get_by_role("link", name="Snapshots")).to_have_attribute("aria-current", "page")

    snapshots = page.get_by_test_id("snapshots")
    newest = snapshots.locator("table.snapshots tbody tr").first
    # the scheduler takes one every few seconds: the newest holds both wagers
    expect(newest.get_by_test_id("snapshot-pool")).to_have_text("80.00", timeout=60_000)
    expect(newest.locator(f"td[data-outcome-id='{home}']")).to_have_text("60.00 · 75.0% · 1.27")
    expect(newest.locator(f"td[data-outcome-id='{away}']")).to_have_text("20.00 · 25.0% · 3.80")
    expect(newest).to_contain_text("4.00")  # the takeout: 5% of 80.00
    expect(snapshots.locator("canvas")).to_have_count(2)
    # a second snapshot of the same pool, a few seconds later (the market has not moved since)
    page.wait_for_function(
        """() => [...document.querySelectorAll("table.snapshots tr[data-reason='interval']")]
            .filter((row) => row.querySelector('[data-testid=snapshot-pool]')
                .textContent === '80.00')
            .length >= 2""",
        timeout=60_000,
    )
    page.evaluate("window.__sameDocument = true")

    # closing the market writes its last snapshot, which arrives without a reload
    api.service("close_market", {"market_id": market["id"]})
    expect(newest).to_have_attribute("data-reason", "close", timeout=WAIT_MS)
    expect(newest.get_by_test_id("snapshot-pool")).to_have_text("80.00")
    every = int(snapshots.get_attribute("data-snapshots") or "0")
    snapshots.get_by_label("Only snapshots where the market moved").check()
    shown = snapshots.locator("table.snapshots tbody tr")
    # only the first snapshot and those after a version change stay, the close among them
    expect(shown.first).to_have_attribute("data-reason", "close")
    assert 2 <= shown.count() < every
    versions = [int(v or 0) for v in shown.evaluate_all("rows => rows.map(r => r.dataset.version)")]
    assert versions == sorted(set(versions), reverse=True)
    assert page.evaluate("window.__sameDocument") is True
    snapshots.get_by_label("Only snapshots where the market moved").uncheck()

    # history: what the scheduler took was hours ago, and a day before that the market had 1,500
    # snapshots more (copies of its first, a minute apart), as the database owner writes them
    with psycopg.connect(api.node.database_url) as db:
        db.execute(
            """update app.pool_snapshots set taken_at = taken_at - interval '3 hours'
               where market_id = %s and reason = 'interval'""",
            [market["id"]],
        )
        db.execute(
            """insert into app.pool_snapshots (market_id, outcome_id, reason, market_version,
                   outcome_pool, total_pool, takeout, share, odds, taken_at)
               select s.market_id, s.outcome_id, s.reason, s.market_version, s.outcome_pool,
                      s.total_pool, s.takeout, s.share, s.odds,
                      s.taken_at - interval '1 day' - make_interval(mins => g)
               from app.pool_snapshots as s
               cross join generate_series(1, 1500) as g
               where s.market_id = %(id)s and s.taken_at = (
                   select min(taken_at) from app.pool_snapshots where market_id = %(id)s)""",
            {"id": market["id"]},
        )
    ranges = snapshots.get_by_role("group", name="Range")
    count = snapshots.get_by_test_id("snapshot-count")
    ranges.get_by_role("button", name="1h", exact=True).click()
    expect(count).to_have_text("1", timeout=WAIT_MS)  # the close, nothing else this last hour
    expect(shown).to_have_count(1)
    ranges.get_by_role("button", name="6h", exact=True).click()
    expect(count).to_have_text(str(every), timeout=WAIT_MS)
    expect(snapshots).to_have_attribute("data-snapshots", str(every))
    expect(shown.first).to_have_attribute("data-reason", "close")

    # the whole life: more than one read holds, so the newest come first and the rest on demand
    ranges.get_by_role("button", name="All", exact=True).click()
    expect(count).to_have_text(str(every + 1500), timeout=WAIT_MS)
    loaded = snapshots.get_by_test_id("snapshot-loaded")
    older = snapshots.get_by_test_id("older-snapshots")
    expect(older).to_be_visible()
    assert 0 < int(loaded.inner_text()) < every + 1500
    while older.count() > 0:
        before = loaded.inner_text()
        older.click()
        expect(loaded).not_to_have_text(before, timeout=WAIT_MS)
    # every snapshot once: as many as the database counts, none twice, none missing
    expect(loaded).to_have_text(str(every + 1500))
    expect(snapshots).to_have_attribute("data-snapshots", str(every + 1500))
    expect(shown).to_have_count(120)  # the table shows them 120 at a time, newest first
    expect(shown.first).to_have_attribute("data-reason", "close")
    snapshots.get_by_role("button", name="Show 120 more rows").click()
    expect(shown).to_have_count(240)
    ranges.get_by_role("button", name="6h", exact=True).click()
    expect(count).to_have_text(str(every), timeout=WAIT_MS)
    expect(snapshots.get_by_test_id("older-snapshots")).to_have_count(0)
    boss.shoot("admin-snapshots")
    boss.fits_the_phone()
    assert boss.errors == []


def test_the_telemetry_tab_sums_up_and_filters_the_quotes(
    admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(
        f"Quoted {uuid.uuid4().hex[:6]}", ["Home", "Away"], kind="parimutuel"
    )
    home, away = (int(o["outcome_id"]) for o in market["outcomes"])
    api.place_wager(api.bettor(), market["id"], home, 3000)
    api.place_wager(api.bettor(), market["id"], away, 1000)
    ana, bo = api.bettor(), api.bettor()
    quotes = [
        api.call(ana, "preview_wager", market_id=market["id"], outcome_id=home, stake=1000),
        api.call(ana, "preview_wager", market_id=market["id"], outcome_id=away, stake=5000),
        api.call(bo, "preview_wager", market_id=market["id"], outcome_id=home, stake=200),
    ]
    impacts = [float(q["price_impact_pp"]) for q in quotes]
    largest = max(impacts)

    boss = admin()
    page = boss.page
    boss.goto(f"/admin/markets/{market['id']}")
    page.get_by_role("navigation", name=f"Market {market['id']}").get_by_role(
        "link", name="Telemetry"
    ).click()
    summary = page.get_by_test_id("telemetry-summary")
    expect(summary.get_by_test_id("quote-count")).to_have_text("3", timeout=WAIT_MS)
    expect(summary.get_by_test_id("largest-stake")).to_have_text("50.00")
    expect(summary.get_by_test_id("largest-impact")).to_have_text(
        f"+{largest:.2f} pp: 50.00 on Away"
    )
    rows = page.locator("table.telemetry tbody tr")
    expect(rows).to_have_count(3)
    # newest first, each with the engine's impact
    assert [t.strip() for t in rows.get_by_test_id("impact").all_inner_texts()] == [
        f"+{value:.2f} pp" for value in reversed(impacts)
    ]
    expect(page.get_by_test_id("impact-chart")).to_have_attribute("data-points", "3")
    boss.shoot("admin-telemetry")
    boss.fits_the_phone()

    # at least the middle impact: the two largest quotes, counted by the database
    middle = sorted(impacts)[1]
    page.get_by_label("Least impact").fill(f"{middle:.4f}")
    expect(summary.get_by_test_id("quote-count")).to_have_text("2", timeout=WAIT_MS)
    expect(summary.get_by_test_id("impactful-count")).to_have_text("2")
    expect(rows).to_have_count(2)
    page.get_by_label("Least impact").fill("x")
    expect(page.get_by_role("alert")).to_contain_text("Least impact: a number of points")
    page.get_by_label("Least impact").fill("")

    # one bettor's quotes, from their id in the list
    bo_id = Api.user_id(bo)
    page.get_by_role("button", name=f"Only bettor {bo_id[:8]}").click()
    expect(page.get_by_label("Bettor (user id)")).to_have_value(bo_id)
    expect(summary.get_by_test_id("quote-count")).to_have_text("1", timeout=WAIT_MS)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("2.00")

    # every market at once: this one's quotes are among them, with a link to the market's tab
    page.get_by_role("group", name="Filters").get_by_label("Market").select_option("")
    expect(page).to_have_url(re.compile(r"/admin/telemetry$"))
    expect(rows.filter(has_text=market["title"])).to_have_count(1, timeout=WAIT_MS)
    assert boss.errors == []


def test_the_monitor_flags_big_wagers_and_shows_a_bettors_history(
    admin: Callable[[], BrowserUser], api: Api
) -> None:
    (settings,) = api.read("settings", select="big_wager_min_stake")
    big = int(settings["big_wager_min_stake"])
    market = api.create_market(f"Whale {uuid.uuid4().hex[:6]}", ["Home", "Away"], kind="parimutuel")
    home, away = (int(o["outcome_id"]) for o in market["outcomes"])
    whale, other = api.bettor(), api.bettor()
    api.call(whale, "deposit", amount=big)
    api.call(whale, "preview_wager", market_id=market["id"], outcome_id=home, stake=big)
    at_threshold = api.place_wager(whale, market["id"], home, big)
    below = api.place_wager(whale, market["id"], away, 1000)
    api.place_wager(other, market["id"], away, big - 1)
    api.service("settle_market", {"market_id": market["id"], "outcome_id": home})
    whale_id = Api.user_id(whale)
    settled = {
        w["id"]: w
        for w in api.read(
            "my_wagers", whale, select="id,settlement,profit", market_id=f"eq.{market['id']}"
        )
    }
    won, lost = settled[at_threshold["wager_id"]], settled[below["wager_id"]]
    assert (won["settlement"], lost["settlement"]) == ("won", "lost")

    boss = admin()
    page = boss.page
    boss.goto("/admin/wagers")
    expect(page.get_by_test_id("big-rule")).to_contain_text(f"a stake of {money(big)} or more")
    latest = page.locator("table.monitor tbody")
    # the engine flags the stake at its threshold, not the one a cent below it, nor the small one
    for wager, flagged in ((at_threshold, True), (below, False)):
        row = latest.locator(f"tr[data-wager-id='{wager['wager_id']}']")
        expect(row).to_have_count(1, timeout=WAIT_MS)
        expect(row.locator(".big-flag")).to_have_count(1 if flagged else 0)
    expect(latest.locator("tr.flagged", has_text=market["title"])).to_have_count(1)

    # the bettor's history, opened with the keyboard from their row: focus moves to it
    row = latest.locator(f"tr[data-wager-id='{at_threshold['wager_id']}']")
    row.get_by_role("button", name=f"History of bettor {whale_id[:8]}").focus()
    page.keyboard.press("Enter")
    history = page.get_by_test_id("bettor-history")
    expect(history).to_have_attribute("data-user-id", whale_id, timeout=WAIT_MS)
    expect(
        history.get_by_role("heading", name=re.compile(f"Bettor {whale_id[:8]}"))
    ).to_be_focused()
    expect(page).to_have_url(re.compile(rf"/admin/wagers\?bettor={whale_id}$"))
    wagers = history.locator("table.bettor-wagers tbody tr")
    expect(wagers).to_have_count(2)
    expect(wagers.first).to_contain_text("lost")
    expect(wagers.first.get_by_test_id("result")).to_have_text(money(lost["profit"]))
    expect(wagers.nth(1)).to_contain_text("won")
    expect(wagers.nth(1).get_by_test_id("result")).to_have_text(money(won["profit"]))
    # the engine's figures for the bettor, once the statistics job has run
    expect(history.get_by_test_id("bettor-profit")).to_have_text(
        money(won["profit"] + lost["profit"]), timeout=WAIT_MS
    )
    (wallet,) = api.read("my_wallet", whale, select="balance")
    expect(history.get_by_test_id("bettor-balance")).to_have_text(money(wallet["balance"]))
    # the engine's running profit: the won wager first (settled together, by id), then the lost
    running = won["profit"] + lost["profit"]
    expect(history.get_by_test_id("running-profit")).to_have_text(money(running))
    expect(wagers.first.get_by_test_id("running")).to_have_text(money(running))
    expect(wagers.nth(1).get_by_test_id("running")).to_have_text(money(won["profit"]))
    # a bar per settled wager and the running line through as many points
    expect(history.get_by_test_id("result-chart")).to_have_attribute("data-points", "4")
    # welcome credit, deposit, two stakes, one payout
    expect(history.get_by_test_id("balance-chart")).to_have_attribute("data-points", "5")

    # price impact over time: the quote, and the market's wagers that moved a share
    impact = page.get_by_test_id("price-impact")
    impact.get_by_label("Market").select_option(str(market["id"]))
    expect(impact.get_by_test_id("impact-counts")).to_contain_text(
        "1 quote(s), 3 wager(s) that moved a share", timeout=WAIT_MS
    )
    expect(impact.get_by_test_id("impact-chart")).to_have_attribute("data-points", "4")
    page.evaluate("document.activeElement.blur()")
    boss.shoot("admin-monitor-history")
    boss.fits_the_phone()
    assert boss.errors == []
