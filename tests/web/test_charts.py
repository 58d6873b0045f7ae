"""The charts' time axes, in a real browser: whatever span the points cover (a second, hours, days),
the x axis shows round times, each label once, written to the step between them (seconds, hours
and minutes, or dates). A chart lists the labels its x axis shows in `data-x-ticks`."""

import json
import re
import uuid
from collections.abc import Callable

import psycopg
from playwright.sync_api import Locator, expect

from tests.web.browser import WAIT_MS, Api, BrowserUser

# one label, as it stands in the JSON list (no quote inside); a tick where the axis crosses
# midnight also says its date ("Dec 7 12:00 AM")
DAY = r'(?:[^":]*\s)?'
SECONDS = DAY + r'\d{1,2}:\d\d:\d\d(?:[^"\d:][^"]*)?'  # 02:05:10 PM, 14:05:10
MINUTES = DAY + r'\d{1,2}:\d\d(?:[^"\d:][^"]*)?'  # 02:05 PM, 14:05: no seconds
DATES = r'[^":]+'  # Dec 4: no time of day


def x_ticks(chart: Locator) -> list[str]:
    labels: list[str] = json.loads(chart.get_attribute("data-x-ticks") or "[]")
    return labels


def ticks_like(label: str) -> re.Pattern[str]:
    """A data-x-ticks value of two or more labels, each like `label`."""
    return re.compile(rf'^\["{label}"(,"{label}")+\]$')


def distinct(labels: list[str]) -> None:
    assert len(labels) >= 2, labels
    assert len(set(labels)) == len(labels), f"a tick label repeats: {labels}"


def test_a_time_axis_labels_each_tick_once_over_any_span(
    admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(f"Ticks {uuid.uuid4().hex[:6]}", ["Home", "Away"], kind="parimutuel")
    home, away = (int(o["outcome_id"]) for o in market["outcomes"])
    api.place_wager(api.bettor(), market["id"], home, 3000)
    api.place_wager(api.bettor(), market["id"], away, 1000)
    ana = api.bettor()
    for stake in (1000, 2000, 3000):  # within a second or so
        api.call(ana, "preview_wager", market_id=market["id"], outcome_id=home, stake=stake)

    boss = admin()
    page = boss.page
    boss.goto(f"/admin/markets/{market['id']}/telemetry")
    chart = page.get_by_test_id("impact-chart")
    expect(chart).to_have_attribute("data-points", "3", timeout=WAIT_MS)
    # quotes a fraction of a second apart: ticks a second or more apart, with their seconds
    expect(chart).to_have_attribute("data-x-ticks", ticks_like(SECONDS), timeout=WAIT_MS)
    distinct(x_ticks(chart))
    boss.shoot("chart-ticks-seconds")

    # the same quotes hours apart (as the database owner writes them): round hours and minutes
    def spread(hours: dict[int, int]) -> None:
        with psycopg.connect(api.node.database_url) as db:
            for stake, back in hours.items():
                db.execute(
                    """update app.quote_telemetry
                       set created_at = now() - make_interval(hours => %s)
                       where market_id = %s and stake = %s""",
                    [back, market["id"], stake],
                )

    spread({1000: 7, 2000: 3})
    # the page asks again every 10 seconds
    expect(chart).to_have_attribute("data-x-ticks", ticks_like(MINUTES), timeout=30_000)
    distinct(x_ticks(chart))

    # days apart: dates
    page.get_by_label("Since").select_option("all")
    spread({1000: 24 * 5, 2000: 24 * 2})
    expect(chart).to_have_attribute("data-x-ticks", ticks_like(DATES), timeout=30_000)
    distinct(x_ticks(chart))
    expect(chart).to_have_attribute("data-points", "3")

    # a line chart over time: the pool snapshots of a closed market, a minute apart over two
    # hours and then a day before (the close writes the last one, now)
    api.service("close_market", {"market_id": market["id"]})
    with psycopg.connect(api.node.database_url) as db:
        db.execute(
            """insert into app.pool_snapshots (market_id, outcome_id, reason, market_version,
                   outcome_pool, total_pool, takeout, share, odds, taken_at)
               select s.market_id, s.outcome_id, 'interval', s.market_version, s.outcome_pool,
                      s.total_pool, s.takeout, s.share, s.odds,
                      s.taken_at - make_interval(mins => g)
               from app.pool_snapshots as s cross join generate_series(1, 120) as g
               where s.market_id = %s and s.reason = 'close'""",
            [market["id"]],
        )
    boss.goto(f"/admin/markets/{market['id']}/snapshots")
    snapshots = page.get_by_test_id("snapshots")
    ranges = snapshots.get_by_role("group", name="Range")
    ranges.get_by_role("button", name="6h", exact=True).click()
    # the 120 copies and the close (and any the scheduler took while the market was open)
    expect(snapshots.get_by_test_id("snapshot-count")).to_have_text(
        re.compile(r"^(12[1-9]|1[3-9]\d|[2-9]\d\d)$"), timeout=WAIT_MS
    )
    charts = snapshots.locator(".chart")
    expect(charts).to_have_count(2)
    for line in charts.all():
        expect(line).to_have_attribute("data-x-ticks", ticks_like(MINUTES), timeout=WAIT_MS)
        distinct(x_ticks(line))
    boss.shoot("chart-ticks-minutes")
    boss.fits_the_phone()
    assert boss.errors == []
