"""The provably-fair page of a virtual market: the commitment before the draw, then the revealed
seed and the recomputation, checked by the engine and again by the browser, arriving live."""

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser


def test_a_virtual_draw_is_shown_committed_then_revealed_and_checked(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    # the draw is secret until closes_at: signing up (slow on a loaded machine) comes first, so
    # that the page is open well before the scheduler draws
    closes_at = datetime.now(UTC) + timedelta(seconds=10)
    market = api.service(
        "create_virtual_market",
        {
            "template": "roulette",
            "title": f"Roulette {uuid.uuid4().hex[:6]}",
            "closes_at": closes_at.isoformat(),
        },
    )
    red = int(market["outcomes"][0]["outcome_id"])
    api.place_wager(api.bettor(), market["id"], red, 1000)

    ana.goto(f"/markets/{market['id']}")
    ana.page.get_by_role("link", name="How this draw is provably fair").click()
    fair = ana.page.get_by_test_id("fair")
    expect(fair.get_by_test_id("seed-hash")).to_have_text(
        market["server_seed_hash"], timeout=WAIT_MS
    )
    expect(fair).to_contain_text("Secret until the market is settled")
    ana.page.evaluate("window.__sameDocument = true")

    # the scheduler closes, draws and settles at closes_at, and reveals the seed: live here
    expect(fair.get_by_test_id("verified")).to_contain_text("Every check holds", timeout=60_000)
    expect(fair.get_by_test_id("server-seed")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(fair.locator(".check-bad")).to_have_count(0)
    expect(fair.locator(".check-ok", has_text="checked by your browser")).to_have_count(4)
    expect(fair.get_by_test_id("draw-outcome")).to_have_text(re.compile(r"^(Red|Black|Green)$"))
    ana.shoot("provably-fair")
    assert ana.page.evaluate("window.__sameDocument") is True
    assert ana.errors == []
