"""The real-money profile in the browser (docs/operations.md, "Play money or real money"): a new
bettor's wallet starts empty and offers no deposit form; an admin credits it from the console; the
bettor withdraws and the withdrawal waits; the admin approves it in the console's withdrawal
approvals and the bettor's wallet shows its fate live, then refuses a second one with a reason and
the money comes back. The node is shared: the profile is put back to play money at the end."""

import re
from collections.abc import Callable, Iterator

import psycopg
import pytest
from playwright.sync_api import expect

from tests.serving import Node
from tests.web.browser import WAIT_MS, Api, BrowserUser

REAL_MONEY = {
    "initial_balance": 0,
    "self_service_deposits": False,
    "withdrawals_require_approval": True,
}
PLAY_MONEY = {
    "initial_balance": 10000,
    "self_service_deposits": True,
    "withdrawals_require_approval": False,
}


@pytest.fixture
def real_money(api: Api) -> Iterator[None]:
    api.service("update_settings", {"settings": REAL_MONEY})
    try:
        yield
    finally:
        api.service("update_settings", {"settings": PLAY_MONEY})


def user_id(node: Node, email: str) -> str:
    with psycopg.connect(node.database_url) as conn:
        row = conn.execute("select id::text from auth.users where email = %s", [email]).fetchone()
    assert row is not None
    return str(row[0])


def withdraw(bettor: BrowserUser, amount: str) -> None:
    form = bettor.page.get_by_role("form", name="Withdraw", exact=True)
    form.get_by_label("Amount").fill(amount)
    form.get_by_role("button", name="Withdraw").click()
    expect(form.get_by_role("status")).to_contain_text("waits for approval", timeout=WAIT_MS)


def test_a_withdrawal_waits_for_the_admin_and_the_wallet_shows_its_fate(
    person: Callable[[], BrowserUser],
    admin: Callable[[], BrowserUser],
    web_node: Node,
    real_money: None,
) -> None:
    boss = admin()
    ana = person()
    ana.sign_up()
    ana.goto("/wallet")
    page = ana.page
    page.evaluate("window.__sameDocument = true")
    # no sign-up grant, and no deposit form: money comes in through the operator
    expect(page.get_by_test_id("wallet-balance")).to_have_text("0.00", timeout=WAIT_MS)
    expect(page.get_by_test_id("no-deposits")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("form", name="Deposit", exact=True)).to_have_count(0)

    # the admin credits the wallet from the console; the bettor's balance follows live
    boss.goto("/admin")
    console = boss.page
    expect(console.get_by_role("heading", name="Admin console")).to_be_visible(timeout=WAIT_MS)
    credit = console.get_by_role("form", name="Credit a wallet")
    credit.get_by_label("Bettor's user id").fill(user_id(web_node, ana.email))
    credit.get_by_label("Amount").fill("50")
    credit.get_by_label("Reference").fill("bank transfer 17")
    credit.get_by_role("button", name="Credit").click()
    expect(credit.get_by_role("status")).to_contain_text("Credited 50.00", timeout=WAIT_MS)
    expect(page.get_by_test_id("wallet-balance")).to_have_text("50.00", timeout=WAIT_MS)

    # the bettor withdraws: the money leaves the wallet at once and the withdrawal waits
    withdraw(ana, "20")
    expect(page.get_by_test_id("wallet-balance")).to_have_text("30.00", timeout=WAIT_MS)
    mine = page.locator("table.withdrawals tbody tr")
    expect(mine).to_have_count(1, timeout=WAIT_MS)
    expect(mine.first).to_contain_text("Waiting for approval")

    # it reaches the console's withdrawal approvals without a reload
    waiting = console.locator("table.pending-withdrawals tbody tr")
    expect(waiting).to_have_count(1, timeout=WAIT_MS)
    expect(waiting.first).to_contain_text("20.00")
    expect(console.get_by_test_id("pending-withdrawals-count")).to_have_text("1")
    expect(console.get_by_test_id("house-withdrawals")).to_have_text("1 · 20.00", timeout=WAIT_MS)
    boss.shoot("admin-withdrawals")
    withdrawal_id = waiting.first.get_attribute("data-withdrawal-id")
    console.get_by_role("button", name=f"Approve withdrawal {withdrawal_id}").click()
    expect(waiting).to_have_count(0, timeout=WAIT_MS)

    # the bettor's wallet shows its fate live; the balance does not move again
    expect(mine.first).to_contain_text("Approved, paid out", timeout=WAIT_MS)
    expect(page.get_by_test_id("wallet-balance")).to_have_text("30.00")

    # a second one is refused with a reason: the money comes back
    withdraw(ana, "5")
    expect(page.get_by_test_id("wallet-balance")).to_have_text("25.00", timeout=WAIT_MS)
    expect(waiting).to_have_count(1, timeout=WAIT_MS)
    console.get_by_label("Reason given when refusing").fill("documents missing")
    second = waiting.first.get_attribute("data-withdrawal-id")
    console.get_by_role("button", name=f"Refuse withdrawal {second}").click()
    expect(waiting).to_have_count(0, timeout=WAIT_MS)
    refused = page.locator(f"table.withdrawals tr[data-withdrawal-id='{second}']")
    expect(refused).to_contain_text("Refused, refunded", timeout=WAIT_MS)
    expect(refused).to_contain_text("documents missing")
    expect(page.get_by_test_id("wallet-balance")).to_have_text("30.00", timeout=WAIT_MS)
    expect(page.locator("table.ledger")).to_contain_text(re.compile("Withdrawal refused"))
    ana.fits_the_phone()
    ana.shoot("wallet-real-money")
    assert page.evaluate("window.__sameDocument") is True
    assert ana.errors == [] and boss.errors == []
