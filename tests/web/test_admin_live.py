"""The admin console and My bets, live off the engine's messages: the house profit moves with the
`profit` broadcast on the realtime topic `admin` (house_summary is held at its first answer, so
only the broadcast can move it) and a wager that waits for approval shows up from `wager_pending`;
a bettor's pages never receive an admin message, and the bettor's own try at joining the admin
topic is refused; a bettor's My bets follows a wager the admin voids from the console, and a
result withdrawn by an unsettlement, without a reload."""

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, Route, WebSocket, expect

from tests.live.realtime_fixtures import ADMIN_TOPIC, ADMIN_TYPES
from tests.web.browser import WAIT_MS, Api, BrowserUser

Frame = dict[str, Any]

# Run in a bettor's page: the bettor's own token, on a socket of its own, asking to join the admin
# topic as realtime-js would (protocol 2.0.0); resolves with every frame received until the join
# is answered and the channel closed.
PROBE = """async () => {
  const { anonKey } = await (await fetch('/config.json')).json();
  const session = JSON.parse(localStorage.getItem('wagerbase.auth'));
  const url = location.origin.replace('http', 'ws') +
    `/realtime/v1/websocket?apikey=${anonKey}&vsn=2.0.0`;
  const socket = new WebSocket(url);
  const frames = [];
  return await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('no answer: ' + JSON.stringify(frames))), 15000);
    socket.onopen = () => socket.send(JSON.stringify(['1', '1', 'realtime:admin', 'phx_join',
      { config: { broadcast: { ack: false, self: false }, presence: { key: '', enabled: false },
                  private: false },
        access_token: session.access_token }]));
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      frames.push(frame);
      if (frame[3] === 'phx_close') { socket.close(); resolve(frames); }
    };
  });
}"""


def watch_realtime(page: Page) -> list[Frame]:
    """Every frame the page's realtime sockets receive from now on, decoded (2.0.0 arrays)."""
    received: list[Frame] = []

    def on_socket(socket: WebSocket) -> None:
        if "/realtime/v1/websocket" not in socket.url:
            return

        def on_frame(payload: str | bytes) -> None:
            if isinstance(payload, str):
                value = json.loads(payload)
                if isinstance(value, list) and len(value) == 5:
                    keys = ("join_ref", "ref", "topic", "event", "payload")
                    received.append(dict(zip(keys, value, strict=True)))

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return received


def admin_messages(frames: list[Frame]) -> list[Frame]:
    """The frames that carry an admin message (on the admin topic, or named like one)."""
    return [
        f
        for f in frames
        if f["event"] == "broadcast"
        and (f["topic"] == ADMIN_TOPIC or f["payload"].get("event") in ADMIN_TYPES)
    ]


def minor(amount: int) -> str:
    """As the web app's formatMinor shows it: -1234 -> "-12.34", 123456 -> "1,234.56"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100:,}.{abs(amount) % 100:02d}"


def token_of(someone: BrowserUser) -> str:
    """The access token the page holds (supabase-js keeps the session in localStorage)."""
    session = someone.page.evaluate("JSON.parse(localStorage.getItem('wagerbase.auth'))")
    token: str = session["access_token"]
    return token


def hold_house_summary(page: Page) -> list[str]:
    """Answer every house_summary after the first with the first answer, as a stuck server
    would: only the `profit` broadcast can then move the figure. Returns the answers given."""
    answers: list[str] = []

    def answer(route: Route) -> None:
        if not answers:
            response = route.fetch()
            answers.append(response.text())
            route.fulfill(response=response)
        else:
            answers.append(answers[0])
            route.fulfill(status=200, content_type="application/json", body=answers[0])

    page.route(re.compile(r".*/rest/v1/rpc/house_summary$"), answer)
    return answers


def test_the_house_profit_and_waiting_wagers_arrive_by_broadcast_and_never_reach_a_bettor(
    person: Callable[[], BrowserUser], admin: Callable[[], BrowserUser], api: Api
) -> None:
    market = api.create_market(
        f"Broadcast {uuid.uuid4().hex[:6]}", ["Home", "Away"], requires_approval=True
    )
    home = market["outcomes"][0]["outcome_id"]

    boss = admin()
    console = watch_realtime(boss.page)
    summaries = hold_house_summary(boss.page)
    boss.goto("/admin")
    profit = boss.page.get_by_test_id("house-profit")
    expect(profit).to_have_text(re.compile(r"^-?[\d,]+\.\d\d$"), timeout=WAIT_MS)
    version_before = int(profit.get_attribute("data-version") or "0")
    boss.page.evaluate("window.__sameDocument = true")

    ana = person()
    seen_by_ana = watch_realtime(ana.page)
    ana.sign_up()
    ana.goto(f"/markets/{market['id']}")
    ana.page.evaluate("window.__sameDocument = true")
    # the bettor's own try at the admin topic: refused, then closed
    probe = ana.page.evaluate(PROBE)
    assert [(f[2], f[3]) for f in probe] == [(ADMIN_TOPIC, "phx_reply"), (ADMIN_TOPIC, "phx_close")]
    assert probe[0][4]["status"] == "error"
    assert probe[0][4]["response"]["reason"].startswith("realtime:admin is for administrators")

    # a held wager: the console shows it from wager_pending
    placed = api.place_wager(token_of(ana), market["id"], home, 1000)
    arrival = boss.page.locator(f"[data-testid=pending-arrivals] [data-wager-id='{placed['id']}']")
    expect(arrival).to_contain_text("10.00 on Home", timeout=WAIT_MS)
    row = boss.page.locator(f"table.admin-markets tr[data-market-id='{market['id']}']")
    expect(row.get_by_test_id("pending")).to_have_text("1")
    assert any(
        f["payload"]["event"] == "wager_pending" and f["payload"]["payload"]["id"] == placed["id"]
        for f in admin_messages(console)
    )
    api.service("approve_wager", {"wager_id": placed["id"]})
    expect(arrival).to_have_count(0, timeout=WAIT_MS)

    # the settlement moves the house; the console shows the broadcast's figure, its version
    api.service("settle_market", {"market_id": market["id"], "outcome_id": home})
    expect(profit).not_to_have_attribute("data-version", str(version_before), timeout=WAIT_MS)
    profits = [f for f in admin_messages(console) if f["payload"]["event"] == "profit"]
    assert profits, "the console's socket got no profit broadcast"
    latest = max((f["payload"]["payload"] for f in profits), key=lambda p: p["version"])
    assert latest["version"] > version_before
    expect(profit).to_have_attribute("data-version", str(latest["version"]), timeout=WAIT_MS)
    expect(profit).to_have_text(minor(latest["profit"]))
    assert len(summaries) >= 2  # house_summary was asked again, and answered the old figures
    assert boss.page.evaluate("window.__sameDocument") is True

    # the bettor saw the market settle (a later message than the profit), never an admin message
    expect(ana.page.get_by_test_id("status").first).to_have_text("Settled", timeout=WAIT_MS)
    assert any(f["event"] == "broadcast" for f in seen_by_ana)
    assert admin_messages(seen_by_ana) == []
    # on the admin topic, all the bettor's sockets ever heard is the refusal of the probe
    assert [f for f in seen_by_ana if f["topic"] == ADMIN_TOPIC] == probe_frames(probe)
    assert ana.page.evaluate("window.__sameDocument") is True
    boss.shoot("admin-live-house")
    assert ana.errors == [] and boss.errors == []


def probe_frames(probe: list[list[Any]]) -> list[Frame]:
    keys = ("join_ref", "ref", "topic", "event", "payload")
    return [dict(zip(keys, f, strict=True)) for f in probe]


def test_my_bets_follows_a_wager_the_admin_voids_and_a_result_withdrawn(
    person: Callable[[], BrowserUser], admin: Callable[[], BrowserUser], api: Api
) -> None:
    voided_market = api.create_market(f"Void me {uuid.uuid4().hex[:6]}", ["Home", "Away"])
    corrected_market = api.create_market(f"Correct me {uuid.uuid4().hex[:6]}", ["Home", "Away"])
    ana = person()
    frames = watch_realtime(ana.page)
    ana.sign_up()
    token = token_of(ana)
    voided = api.place_wager(
        token, voided_market["id"], voided_market["outcomes"][0]["outcome_id"], 1000
    )
    corrected = api.place_wager(
        token, corrected_market["id"], corrected_market["outcomes"][0]["outcome_id"], 500
    )
    winner = corrected_market["outcomes"][0]["outcome_id"]
    api.service("settle_market", {"market_id": corrected_market["id"], "outcome_id": winner})
    ana.goto("/bets")
    mine = ana.page.locator("table.wagers tbody")
    expect(mine.locator(f"tr[data-wager-id='{voided['id']}']")).to_contain_text(
        "Open", timeout=WAIT_MS
    )
    expect(mine.locator(f"tr[data-wager-id='{corrected['id']}']")).to_contain_text("Won")
    ana.page.evaluate("window.__sameDocument = true")

    boss = admin()
    boss.goto(f"/admin/markets/{voided_market['id']}")
    boss.page.get_by_role("button", name=f"Void wager {voided['id']}").click()
    dialog = boss.page.get_by_role("dialog")
    dialog.get_by_label("Reason (kept in the audit log)").fill("placed on a stale price")
    dialog.get_by_role("button", name="Void the wager").click()
    expect(dialog).to_have_count(0, timeout=WAIT_MS)

    row = mine.locator(f"tr[data-wager-id='{voided['id']}']")
    expect(row).to_contain_text("Refunded: voided by the house", timeout=WAIT_MS)
    news = ana.page.get_by_test_id("bets-news")
    expect(news).to_contain_text(f"Wager #{voided['id']} on {voided_market['title']} was voided")
    # it came as the wager's own row, not as a guess from a ledger entry
    assert any(
        f["event"] == "postgres_changes"
        and f["payload"]["data"]["table"] == "my_wagers"
        and f["payload"]["data"]["record"]["id"] == voided["id"]
        and f["payload"]["data"]["record"]["settlement"] == "void"
        for f in frames
    )

    api.service(
        "unsettle_market", {"market_id": corrected_market["id"], "reason": "wrong result entered"}
    )
    row = mine.locator(f"tr[data-wager-id='{corrected['id']}']")
    expect(row).to_contain_text("Open", timeout=WAIT_MS)
    expect(news).to_contain_text(f"The result of {corrected_market['title']} was withdrawn")
    assert ana.page.evaluate("window.__sameDocument") is True
    ana.shoot("my-bets-corrected")
    assert ana.errors == [] and boss.errors == []
