"""The admin console, end to end: an admin approves held wagers, reviews and settles a market while
two bettors in their own browsers watch results and balances move live; markets created, opened,
closed and voided from the console change on a bettor's board live; a two-step settlement needs a
second admin; a correction names its consequences. Screens saved to docs/screenshots/."""

import re
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser, bet, money
from tests.web.browser import my_wagers as mine

Market = dict[str, Any]


def test_an_admin_approves_reviews_and_settles_while_both_bettors_watch(
    person: Callable[[], BrowserUser], admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(
        f"Final {uuid.uuid4().hex[:6]}", ["Home", "Away"], requires_approval=True
    )
    boss = admin()
    expect(boss.page.get_by_role("link", name="Admin")).to_be_visible()
    boss.goto("/admin")
    expect(boss.page.get_by_role("heading", name="Admin console")).to_be_visible(timeout=WAIT_MS)
    boss.page.evaluate("window.__sameDocument = true")
    # a second tab keeps the console's house figures in view throughout
    console = boss.another_tab("/admin")
    profit = console.get_by_test_id("house-profit")
    expect(profit).to_have_text(re.compile(r"^-?[\d,]+\.\d\d$"), timeout=WAIT_MS)
    profit_before = profit.inner_text()
    console.evaluate("window.__sameDocument = true")

    ana, bo = person(), person()
    ana.sign_up()
    bo.sign_up()
    # a bettor has no console, and the page says so if they find its address
    expect(ana.page.get_by_role("link", name="Admin")).to_have_count(0)
    bet(ana, market, "Home", "10")
    expect(ana.page.get_by_test_id("wager-placed")).to_contain_text("waits for approval")
    bet(bo, market, "Away", "20")
    expect(mine(ana).first).to_contain_text("Waiting for approval", timeout=WAIT_MS)

    # both held wagers reach the console without a reload
    pending = boss.page.locator("table.pending tbody tr")
    expect(pending).to_have_count(2, timeout=WAIT_MS)
    row = boss.page.locator(f"table.admin-markets tr[data-market-id='{market['id']}']")
    expect(row.get_by_test_id("pending")).to_have_text("2")
    boss.shoot("admin-console")
    for wager_row in pending.all():
        wager_id = wager_row.get_attribute("data-wager-id")
        boss.page.get_by_role("button", name=f"Approve wager {wager_id}").click()
    expect(pending).to_have_count(0, timeout=WAIT_MS)
    expect(row.get_by_test_id("pool")).to_have_text("30.00", timeout=WAIT_MS)
    # the bettor's own list moves from waiting to open by itself
    expect(mine(ana).first).to_contain_text("Open", timeout=WAIT_MS)

    # settlement review: the preview, then the confirmation
    row.get_by_role("link", name=market["title"]).click()
    boss.page.get_by_role("button", name="Preview: Home wins").click()
    summary = boss.page.get_by_test_id("settlement-summary")
    expect(summary).to_contain_text("Home wins", timeout=WAIT_MS)
    preview = boss.page.get_by_test_id("settlement-preview")
    expect(preview).to_contain_text("15.00")  # paid out: 10.00 at 1.5
    boss.shoot("admin-settlement-review")
    boss.page.get_by_role("button", name="Confirm settlement: Home wins").click()
    dialog = boss.page.get_by_role("dialog")
    expect(dialog.get_by_test_id("consequences")).to_contain_text("pay 15.00 to 1 winning bettor")
    dialog.get_by_role("button", name="Settle now").click()
    expect(dialog).to_have_count(0, timeout=WAIT_MS)

    # both bettors see the result and their balances, live, in the page they had open
    ana.page.evaluate("window.__sameDocument = true")
    expect(ana.page.get_by_test_id("status")).to_have_text("Settled", timeout=WAIT_MS)
    expect(mine(ana).first).to_contain_text("Won", timeout=WAIT_MS)
    expect(ana.balance()).to_have_text("105.00", timeout=WAIT_MS)
    expect(bo.page.get_by_test_id("status")).to_have_text("Settled", timeout=WAIT_MS)
    expect(mine(bo).first).to_contain_text("Lost", timeout=WAIT_MS)
    expect(bo.balance()).to_have_text("80.00")
    assert ana.page.evaluate("window.__sameDocument") is True

    # the house's profit moved on the console without a reload
    expect(profit).not_to_have_text(profit_before, timeout=WAIT_MS)
    assert console.evaluate("window.__sameDocument") is True
    expect(boss.page.locator(".won-tag")).to_be_visible()
    boss.shoot("admin-market-settled")
    assert boss.page.evaluate("window.__sameDocument") is True

    boss.page.get_by_role("link", name="Wager monitor").click()
    expect(boss.page.get_by_test_id("funnel")).to_contain_text("Settled", timeout=WAIT_MS)
    expect(boss.page.locator("table.monitor tbody tr").first).to_be_visible(timeout=WAIT_MS)
    # the engine says which wagers are big (a stake of big_wager_min_stake or more): not these two
    (settings,) = api.read("settings", select="big_wager_min_stake")
    big = int(settings["big_wager_min_stake"])
    assert big > 2000
    expect(boss.page.get_by_test_id("big-rule")).to_contain_text(f"a stake of {money(big)} or more")
    expect(boss.page.locator("tr", has_text=market["title"])).to_have_count(2)
    expect(boss.page.locator("tr.flagged", has_text=market["title"])).to_have_count(0)
    boss.shoot("admin-monitor")
    boss.page.get_by_role("link", name="Audit log").click()
    audit = boss.page.locator("table.audit tbody")
    expect(audit).to_contain_text("settle_market", timeout=WAIT_MS)
    expect(audit).to_contain_text("approve_wager")
    boss.shoot("admin-audit")

    ana.goto("/admin")
    expect(ana.page.get_by_text("Only an administrator can see this page.")).to_be_visible(
        timeout=WAIT_MS
    )
    assert ana.errors == [] and bo.errors == [] and boss.errors == []


def test_markets_made_and_moved_in_the_console_change_on_a_board_live(
    person: Callable[[], BrowserUser], admin: Callable[[], BrowserUser]
) -> None:
    ana = person()
    ana.sign_up()
    ana.page.evaluate("window.__sameDocument = true")
    boss = admin()
    boss.goto("/admin")
    page = boss.page
    form = page.locator("form.create-market")

    pool_title = f"Pool {uuid.uuid4().hex[:6]}"
    form.get_by_label("Title").fill(pool_title)
    form.get_by_label("Kind").select_option("parimutuel")
    form.get_by_label("Outcome 1", exact=True).fill("Red")
    form.get_by_label("Outcome 2", exact=True).fill("Black")
    form.get_by_role("button", name="Add an outcome").click()
    form.get_by_label("Outcome 3", exact=True).fill("Green")
    form.get_by_label("Description").fill("Where does the ball land?")
    form.locator("summary").click()
    form.get_by_label("Rake (basis points, 0 to 2500)").fill("500")
    form.get_by_label("Maximum payout per wager").fill("500")
    boss.shoot("admin-create-market")
    form.get_by_role("button", name="Create market").click()
    expect(form.get_by_role("status")).to_contain_text(f"{pool_title}.", timeout=WAIT_MS)

    card = ana.page.locator(".market-card", has_text=pool_title)
    expect(card).to_be_visible(timeout=WAIT_MS)
    expect(card.get_by_test_id("status")).to_have_text("Open")
    expect(card).to_contain_text("Green")

    draft_title = f"Draft {uuid.uuid4().hex[:6]}"
    form.get_by_label("Title").fill(draft_title)
    form.get_by_label("Kind").select_option("fixed_odds")
    form.get_by_label("Outcome 1", exact=True).fill("Yes")
    form.get_by_label("Outcome 2", exact=True).fill("No")
    form.get_by_label("Keep as a draft").check()
    form.get_by_label("Commission (basis points)").fill("4000")
    form.get_by_role("button", name="Create market").click()
    expect(form.get_by_role("status")).to_contain_text(f"{draft_title}.", timeout=WAIT_MS)
    draft_row = page.locator("table.admin-markets tr", has_text=draft_title)
    expect(draft_row.get_by_test_id("status")).to_have_text("Draft", timeout=WAIT_MS)
    expect(ana.page.locator(".market-card", has_text=draft_title)).to_have_count(0)
    draft_row.get_by_role("button", name=re.compile(r"^Open market")).click()
    expect(ana.page.locator(".market-card", has_text=draft_title)).to_be_visible(timeout=WAIT_MS)

    pool_row = page.locator("table.admin-markets tr", has_text=pool_title)
    pool_row.get_by_role("button", name=re.compile(r"^Close market")).click()
    expect(card.get_by_test_id("status")).to_have_text("Closed", timeout=WAIT_MS)

    pool_row.get_by_role("button", name=re.compile(r"^Void market")).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_test_id("consequences")).to_contain_text("give every stake back")
    dialog.get_by_role("button", name="Void the market").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Give a reason")
    dialog.get_by_label("Reason (kept in the audit log)").fill("the wheel jammed")
    dialog.get_by_role("button", name="Void the market").click()
    expect(card.get_by_test_id("status")).to_have_text("Called off", timeout=WAIT_MS)
    assert ana.page.evaluate("window.__sameDocument") is True
    assert ana.errors == [] and boss.errors == []


def test_a_two_step_settlement_needs_a_second_admin_and_a_correction_says_what_it_does(
    person: Callable[[], BrowserUser], admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(f"Four eyes {uuid.uuid4().hex[:6]}", ["Yes", "No"])
    api.service("require_settlement_confirmation", {"market_id": market["id"], "required": True})
    ana = person()
    ana.sign_up()
    bet(ana, market, "Yes", "10")

    first, second = admin(), admin()
    first.goto(f"/admin/markets/{market['id']}")
    first.page.get_by_role("button", name="Preview: Yes wins").click()
    expect(first.page.get_by_test_id("settlement-summary")).to_contain_text(
        "Yes wins", timeout=WAIT_MS
    )
    direct = first.page.get_by_role("button", name=re.compile("^Confirm settlement"))
    expect(direct).to_have_count(0)  # only a proposal is offered
    first.page.get_by_label("Note for the confirming admin").fill("official result")
    first.page.get_by_role("button", name="Propose: Yes wins").click()
    proposals = first.page.get_by_test_id("proposals")
    expect(proposals).to_contain_text("proposed by you", timeout=WAIT_MS)
    expect(proposals.get_by_role("button", name="Confirm proposal")).to_be_disabled()

    second.goto(f"/admin/markets/{market['id']}")
    theirs = second.page.get_by_test_id("proposals")
    expect(theirs).to_contain_text("Yes wins", timeout=WAIT_MS)
    second.shoot("admin-proposal")
    theirs.get_by_role("button", name="Confirm proposal").click()
    second.page.get_by_role("dialog").get_by_role("button", name="Confirm and settle").click()
    expect(ana.balance()).to_have_text("105.00", timeout=WAIT_MS)
    expect(first.page.get_by_test_id("status").first).to_have_text("Settled", timeout=WAIT_MS)

    # a correction: the dialog names who is debited and the debt the house carries
    second.page.get_by_role("button", name="Resettle on No").click()
    dialog = second.page.get_by_role("dialog")
    consequences = dialog.get_by_test_id("consequences")
    expect(consequences).to_contain_text("take back what the settlement paid: 15.00 from 1")
    expect(consequences).to_contain_text("debt the house carries")
    second.shoot("admin-correction")
    dialog.get_by_label("Reason (kept in the audit log)").fill("wrong result entered")
    dialog.get_by_role("button", name="Resettle").click()
    # resettling a market that needs two admins is refused by the engine, and said plainly
    expect(dialog.get_by_role("alert")).to_contain_text("second administrator", timeout=WAIT_MS)
    dialog.get_by_role("button", name="Cancel").click()
    second.page.get_by_role("button", name="Unsettle").click()
    dialog.get_by_label("Reason (kept in the audit log)").fill("wrong result entered")
    dialog.get_by_role("button", name="Unsettle").click()
    expect(second.page.get_by_test_id("status").first).to_have_text("Closed", timeout=WAIT_MS)
    expect(ana.balance()).to_have_text("90.00", timeout=WAIT_MS)
    # the refusals are HTTP errors the browser logs; nothing else may be
    assert [e for e in second.errors if "409" not in e] == []
    assert first.errors == [] and ana.errors == []
