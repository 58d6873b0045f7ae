"""The player's seeds page (docs/web.md, docs/house-games.md): the active commitment, a rotation
that reveals the old pair, and a bet verified in the browser (Web Crypto), a match for the
revealed pair and a mismatch for a value typed over it; a bet of the active pair says it cannot
be checked yet. The recomputation is also checked against Python's own HMAC."""

import hashlib
import hmac
import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser import WAIT_MS, Api, BrowserUser
from tests.web.casino import choose, latest_bet, play, token_of


def test_a_rotation_reveals_the_pair_and_a_bet_is_verified_in_the_browser(
    person: Callable[[], BrowserUser], api: Api
) -> None:
    ana = person()
    ana.sign_up()
    page = ana.page
    token = token_of(ana)
    choose(ana, "dice", "1", "5000")
    play(ana)
    bet = latest_bet(api, token)
    page.get_by_role("link", name="Your seeds: check any bet").click()

    active = api.call(token, "get_seed")
    assert active["server_seed_hash"] == bet["server_seed_hash"]
    expect(page.get_by_test_id("active-hash")).to_have_text(
        bet["server_seed_hash"], timeout=WAIT_MS
    )
    expect(page.get_by_test_id("active-client-seed")).to_have_text(bet["client_seed"])
    expect(page.get_by_test_id("active-nonce")).to_have_text("1")
    row = page.locator(f"tr[data-bet-id='{bet['id']}']")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Verify").click()
    expect(page.get_by_test_id("not-revealed")).to_contain_text("still active")

    # a new client seed: the old pair is revealed, its seed hashing to the commitment
    rotate = page.get_by_role("form", name="Rotate seeds")
    rotate.get_by_label("New client seed").fill("my lucky seed")
    rotate.get_by_role("button", name="Rotate seeds").click()
    revealed = page.get_by_test_id("revealed-pair")
    expect(revealed.get_by_test_id("revealed-hash")).to_have_text(
        bet["server_seed_hash"], timeout=WAIT_MS
    )
    seed = revealed.get_by_test_id("revealed-seed")
    expect(seed).to_have_text(re.compile(r"^[0-9a-f]{64}$"), timeout=WAIT_MS)
    server_seed = seed.inner_text()
    assert hashlib.sha256(server_seed.encode()).hexdigest() == bet["server_seed_hash"]
    expect(revealed.locator(".check-ok")).to_contain_text("checked by your browser")
    expect(page.get_by_test_id("active-client-seed")).to_have_text("my lucky seed", timeout=WAIT_MS)
    expect(page.get_by_test_id("active-nonce")).to_have_text("0")
    expect(page.get_by_test_id("active-hash")).not_to_have_text(bet["server_seed_hash"])
    expect(page.locator("tr[data-revealed='true']")).to_have_count(1)
    expect(page.locator("tr[data-revealed='false']")).to_have_count(1)

    # an independent recomputation: Python's HMAC gives the roll the engine recorded
    mac = hmac.new(
        server_seed.encode(), f"{bet['client_seed']}:{bet['nonce']}:0".encode(), hashlib.sha256
    ).digest()
    assert bet["result"] == {"roll": int.from_bytes(mac[:4], "big") * 10000 >> 32}

    # the bet, now revealed: a match; a nonce typed over it: a mismatch
    expect(row).to_contain_text("revealed", timeout=WAIT_MS)
    row.get_by_role("button", name="Verify").click()
    verify = page.get_by_role("form", name="Verify the bet")
    expect(verify.get_by_label("Server seed")).to_have_value(server_seed)
    verify.get_by_role("button", name="Verify", exact=True).click()
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_have_attribute("data-matches", "true", timeout=WAIT_MS)
    expect(verdict).to_contain_text("Match: this bet is the one committed to.")
    expect(verdict.locator(".check-ok")).to_have_count(3)
    ana.shoot("casino-seeds")
    ana.fits_the_phone()

    verify.get_by_label("Nonce").fill(str(bet["nonce"] + 1))
    verify.get_by_role("button", name="Verify", exact=True).click()
    expect(verdict).to_have_attribute("data-matches", "false", timeout=WAIT_MS)
    expect(verdict).to_contain_text("Mismatch")
    # the seed still hashes to the commitment; the round's id and (here) its result do not
    expect(verdict.locator(".check-ok").first).to_contain_text("hashes to the commitment")
    verify.get_by_label("Nonce").fill(str(bet["nonce"]))
    verify.get_by_label("Server seed").fill("0" * 64)
    verify.get_by_role("button", name="Verify", exact=True).click()
    expect(verdict.locator(".check-bad").first).to_contain_text(
        "hashes to the commitment", timeout=WAIT_MS
    )
    assert ana.errors == []
