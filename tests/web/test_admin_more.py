"""More of the admin console, end to end: a held wager rejected while its bettor watches the stake
come back; a settlement proposal cancelled; one wager voided from the correction dialog and its
stake refunded live; a side-effect job that really failed (its table locked by maintenance)
retried from the monitor; the audit log filtered by market."""

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from playwright.sync_api import expect

from tests.serving import Node
from tests.web.browser import WAIT_MS, Api, BrowserUser, bet, my_wagers

Market = dict[str, Any]


def test_a_rejected_wager_is_refunded_while_its_bettor_watches(
    person: Callable[[], BrowserUser], admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(
        f"Held {uuid.uuid4().hex[:6]}", ["Home", "Away"], requires_approval=True
    )
    ana = person()
    ana.sign_up()
    bet(ana, market, "Home", "10")
    expect(ana.page.get_by_test_id("wager-placed")).to_contain_text("waits for approval")
    # the stake is held in escrow while the wager waits
    expect(ana.balance()).to_have_text("90.00", timeout=WAIT_MS)
    expect(my_wagers(ana).first).to_contain_text("Waiting for approval", timeout=WAIT_MS)
    ana.page.evaluate("window.__sameDocument = true")

    boss = admin()
    boss.goto(f"/admin/markets/{market['id']}")
    pending = boss.page.locator("table.pending tbody tr")
    expect(pending).to_have_count(1, timeout=WAIT_MS)
    wager_id = pending.first.get_attribute("data-wager-id")
    boss.page.get_by_role("button", name=f"Reject wager {wager_id}").click()
    expect(pending).to_have_count(0, timeout=WAIT_MS)

    # the bettor's page, never reloaded, shows the rejection and the stake back
    expect(my_wagers(ana).first).to_contain_text("Rejected, refunded", timeout=WAIT_MS)
    expect(ana.balance()).to_have_text("100.00", timeout=WAIT_MS)
    assert ana.page.evaluate("window.__sameDocument") is True
    # nothing joined the pool
    expect(boss.page.get_by_test_id("pool")).to_have_text("0.00")
    assert ana.errors == [] and boss.errors == []


def test_a_settlement_proposal_is_cancelled_with_a_reason(
    admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(f"Proposed {uuid.uuid4().hex[:6]}", ["Yes", "No"])
    api.service("require_settlement_confirmation", {"market_id": market["id"], "required": True})
    api.place_wager(api.bettor(), market["id"], market["outcomes"][0]["outcome_id"], 1000)

    boss = admin()
    page = boss.page
    boss.goto(f"/admin/markets/{market['id']}")
    page.get_by_role("button", name="Preview: No wins").click()
    expect(page.get_by_test_id("settlement-summary")).to_contain_text("No wins", timeout=WAIT_MS)
    page.get_by_role("button", name="Propose: No wins").click()
    proposals = page.get_by_test_id("proposals")
    expect(proposals).to_contain_text("No wins, proposed by you", timeout=WAIT_MS)

    proposals.get_by_role("button", name="Cancel proposal").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_test_id("consequences")).to_contain_text("drop the proposal")
    dialog.get_by_role("button", name="Cancel the proposal").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Give a reason")
    dialog.get_by_label("Reason").fill("wrong outcome picked")
    dialog.get_by_role("button", name="Cancel the proposal").click()
    expect(dialog).to_have_count(0, timeout=WAIT_MS)
    expect(proposals).to_have_count(0, timeout=WAIT_MS)
    # the market was not settled: it can be proposed again
    expect(page.get_by_test_id("status").first).not_to_have_text("Settled")
    expect(page.get_by_role("button", name="Preview: Yes wins")).to_be_visible()

    (cancelled,) = api.read(
        "settlement_proposals",
        boss_token(boss),
        select="status,cancel_reason",
        market_id=f"eq.{market['id']}",
    )
    assert cancelled == {"status": "cancelled", "cancel_reason": "wrong outcome picked"}
    assert boss.errors == []


def boss_token(someone: BrowserUser) -> str:
    """The access token the page holds (supabase-js keeps the session in localStorage)."""
    session = someone.page.evaluate("JSON.parse(localStorage.getItem('wagerbase.auth'))")
    token: str = session["access_token"]
    return token


def test_one_wager_voided_from_the_correction_dialog_is_refunded_live(
    person: Callable[[], BrowserUser], admin: Callable[[], BrowserUser], market: Market
) -> None:
    ana = person()
    ana.sign_up()
    bet(ana, market, "Home", "10")
    expect(ana.balance()).to_have_text("90.00", timeout=WAIT_MS)
    ana.page.evaluate("window.__sameDocument = true")

    boss = admin()
    page = boss.page
    boss.goto(f"/admin/markets/{market['id']}")
    expect(page.get_by_test_id("pool")).to_have_text("10.00", timeout=WAIT_MS)
    row = page.locator("table tr[data-wager-id]").first
    wager_id = row.get_attribute("data-wager-id")
    page.get_by_role("button", name=f"Void wager {wager_id}").click()
    dialog = page.get_by_role("dialog")
    consequences = dialog.get_by_test_id("consequences")
    expect(consequences).to_contain_text("give its stake of 10.00 back from escrow")
    expect(consequences).to_contain_text("take it out of Home's pool")
    dialog.get_by_label("Reason (kept in the audit log)").fill("placed on the wrong market")
    dialog.get_by_role("button", name="Void the wager").click()
    expect(dialog).to_have_count(0, timeout=WAIT_MS)
    expect(page.get_by_text(f"Wager #{wager_id} voided.")).to_be_visible()
    expect(page.get_by_test_id("pool")).to_have_text("0.00", timeout=WAIT_MS)

    # the bettor's balance and list follow without a reload
    expect(ana.balance()).to_have_text("100.00", timeout=WAIT_MS)
    expect(my_wagers(ana).first).to_contain_text("Refunded", timeout=WAIT_MS)
    assert ana.page.evaluate("window.__sameDocument") is True
    assert ana.errors == [] and boss.errors == []


@contextmanager
def config(node: Node, **settings: int) -> Iterator[psycopg.Connection[Any]]:
    """app.config changed as the database owner for the block, then put back as it was."""
    columns = ", ".join(settings)
    with psycopg.connect(node.database_url, autocommit=True) as owner:
        row = owner.execute(f"select {columns} from app.config").fetchone()
        assert row is not None
        before = dict(zip(settings, row, strict=True))
        assignments = ", ".join(f"{name} = %({name})s" for name in settings)
        owner.execute(f"update app.config set {assignments}", settings)
        try:
            yield owner
        finally:
            owner.execute(f"update app.config set {assignments}", before)


def test_a_side_effect_job_that_really_failed_is_retried_from_the_monitor(
    admin: Callable[[], BrowserUser], api: Api, web_node: Node
) -> None:
    market = api.create_market(f"Stats {uuid.uuid4().hex[:6]}", ["Yes", "No"])
    yes = market["outcomes"][0]["outcome_id"]
    api.place_wager(api.bettor(), market["id"], yes, 1500)
    boss = admin()
    page = boss.page

    # the workers give up on a job after two attempts 50 ms apart, each waiting 50 ms for a lock
    with (
        config(
            web_node,
            side_effect_lock_timeout_ms=50,
            side_effect_backoff_ms=50,
            side_effect_max_attempts=2,
        ) as owner,
        psycopg.connect(web_node.database_url) as maintenance,
    ):
        # maintenance holds the market statistics table: that handler cannot write
        maintenance.execute("lock table app.market_stats in access exclusive mode")
        api.service("settle_market", {"market_id": market["id"], "outcome_id": yes})

        boss.goto("/admin/wagers")
        failed = page.locator(f"tr[data-handler='market_stats'][data-market-id='{market['id']}']")
        expect(failed).to_have_count(1, timeout=WAIT_MS)
        expect(failed).to_contain_text("failed", timeout=WAIT_MS)
        expect(failed).to_contain_text("55P03")  # lock_not_available, as the worker recorded it
        (job_id,) = owner.execute(
            "select id from app.side_effect_jobs where market_id = %s and handler = 'market_stats'",
            [market["id"]],
        ).fetchone() or (None,)
        assert job_id is not None
        expect(page.get_by_role("heading", name=re.compile(r"Side-effect jobs"))).to_contain_text(
            "failed"
        )
        boss.shoot("admin-failed-job")

        # maintenance is over; the admin sends the job back and the worker finishes it
        maintenance.rollback()
        page.get_by_role("button", name=f"Retry job {job_id}").click()
        expect(page.get_by_text(f"Job #{job_id} sent back to the queue.")).to_be_visible(
            timeout=WAIT_MS
        )
        expect(failed).to_have_count(0, timeout=WAIT_MS)
        done = owner.execute(
            "select j.status, j.retried_by is not null, s.wagers"
            " from app.side_effect_jobs as j join app.market_stats as s using (market_id)"
            " where j.id = %s",
            [job_id],
        ).fetchone()
        assert done == ("done", True, 1)

    boss.page.get_by_role("link", name="Audit log").click()
    audit = page.locator("table.audit tbody")
    expect(audit).to_contain_text("retry_side_effects", timeout=WAIT_MS)
    assert boss.errors == []


def test_the_audit_log_is_filtered_by_market(admin: Callable[[], BrowserUser], api: Api) -> None:
    closed = api.create_market(f"Closed {uuid.uuid4().hex[:6]}", ["Yes", "No"])
    voided = api.create_market(f"Voided {uuid.uuid4().hex[:6]}", ["Yes", "No"])
    api.service("close_market", {"market_id": closed["id"]})
    api.service("void_market", {"market_id": voided["id"], "reason": "the event was cancelled"})

    boss = admin()
    page = boss.page
    boss.goto("/admin/audit")
    rows = page.locator("table.audit tbody tr")
    expect(rows.filter(has_text="void_market").first).to_be_visible(timeout=WAIT_MS)

    market_filter = page.get_by_label("Market")
    market_filter.fill(str(closed["id"]))
    market_cells = page.locator("table.audit tbody tr td:nth-child(4)")
    expect(rows.filter(has_text="close_market")).to_have_count(1, timeout=WAIT_MS)
    expect(rows.filter(has_text="void_market")).to_have_count(0)
    for cell in market_cells.all():
        expect(cell).to_have_text(str(closed["id"]))

    market_filter.fill(str(voided["id"]))
    expect(rows.filter(has_text="void_market")).to_have_count(1, timeout=WAIT_MS)
    expect(rows.filter(has_text="close_market")).to_have_count(0)
    expect(rows.filter(has_text="void_market")).to_contain_text("the event was cancelled")
    for cell in market_cells.all():
        expect(cell).to_have_text(str(voided["id"]))

    market_filter.fill("")
    expect(rows.filter(has_text="close_market").first).to_be_visible(timeout=WAIT_MS)
    expect(rows.filter(has_text="void_market").first).to_be_visible()
    assert boss.errors == []
