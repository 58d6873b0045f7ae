"""Sign-ins, sign-ups and token refreshes are limited per client address, on GoTrue's /auth/v1
and BetMarket's /api alike, counted in the database so every node shares them, and checked before
any password is hashed: Supabase's defaults, 30 sign-ins, 30 sign-ups and 150 token refreshes per
5 minutes per address. Past a limit the answer is 429 with Retry-After, no password is hashed and
nothing is made (a refused sign-up makes no user, so no starting grant). The address is the
socket peer's, or, behind a trusted proxy, the right-most address of X-Forwarded-For that is not
a trusted proxy: what a client writes into the header itself decides nothing."""

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from tests.attack.auth_client import (
    PASSWORD,
    SURFACES,
    WRONG_PASSWORD,
    grew,
    health,
    refresh,
    sign_in,
    sign_up,
    too_many,
)
from tests.serving import REPO, Node

DEFAULTS = {
    "sign_in_limit_per_address": 30,
    "sign_up_limit_per_address": 30,
    "refresh_limit_per_address": 150,
    "address_limit_window_seconds": 300,
}
WINDOW = DEFAULTS["address_limit_window_seconds"]


def test_the_limits_are_supabase_s_defaults_published_and_documented(proxied_node: Node) -> None:
    answer = httpx.get(
        f"{proxied_node.url}/rest/v1/settings", headers={"apikey": proxied_node.anon_key}
    )
    assert answer.status_code == 200, answer.text
    (settings,) = answer.json()
    assert {key: settings[key] for key in DEFAULTS} == DEFAULTS
    text = " ".join((REPO / "docs" / "api.md").read_text().split())
    documented = "30 sign-ins, 30 sign-ups and 150 token refreshes per 5 minutes per client address"
    assert documented in text


def test_sign_ins_from_one_address_stop_at_its_limit_before_any_password_is_hashed(
    proxied_node: Node, addresses: Iterator[str], unique: Callable[[str], str]
) -> None:
    """30 wrong passwords for real users (each one hashed) from one address, on both surfaces;
    then every sign-in from it is refused, the right password too, without a hash; another
    address signs the same user in."""
    node, flooder = proxied_node, next(addresses)
    victims = [unique("victim") for _ in range(5)]
    for name in victims:
        assert sign_up(node, name, next(addresses)).status_code == 200
    before = health(node)
    guesses = [(victims[n % 5], SURFACES[n % 2]) for n in range(30)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda g: sign_in(node, g[0], f"guess {g[0]}", flooder, g[1]), guesses)
        )
    assert [a.status_code for a in answers] == [WRONG_PASSWORD[s] for _, s in guesses]

    for surface in SURFACES:
        assert (
            1 <= too_many(sign_in(node, victims[0], PASSWORD, flooder, surface), surface) <= WINDOW
        )
    assert sign_in(node, victims[0], PASSWORD, next(addresses)).status_code == 200
    counts = grew(before, health(node))
    # the 30 guesses and the sign-in from elsewhere were hashed; the two refused were not
    assert (counts["computed"], counts["refused_address_limit"]) == (31, 2)


def test_sign_ups_from_one_address_stop_at_its_limit_and_make_nobody_more(
    proxied_node: Node, addresses: Iterator[str], unique: Callable[[str], str]
) -> None:
    node, address = proxied_node, next(addresses)
    names = [unique("signup") for _ in range(32)]
    before = health(node)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(lambda n: sign_up(node, names[n], address, SURFACES[n % 2]), range(30))
        )
    assert [a.status_code for a in answers] == [200] * 30
    too_many(sign_up(node, names[30], address, "gotrue"), "gotrue")
    too_many(sign_up(node, names[31], address, "betmarket"), "betmarket")
    with psycopg.connect(node.database_url) as conn:
        made = conn.execute(
            "select count(*) from app.profiles where username = any(%s)", [names]
        ).fetchone()
    assert made == (30,)  # no user, so no wallet and no starting grant, for the refused two
    assert sign_up(node, names[31], next(addresses), "betmarket").status_code == 200
    counts = grew(before, health(node))
    assert (counts["computed"], counts["refused_address_limit"]) == (31, 2)


def test_token_refreshes_from_one_address_stop_at_its_limit(
    proxied_node: Node, addresses: Iterator[str], unique: Callable[[str], str]
) -> None:
    """150 refreshes of one session from one address; the 151st is refused and uses nothing up:
    the same refresh token refreshes from another address."""
    node, address = proxied_node, next(addresses)
    session = sign_up(node, unique("refresher"), next(addresses)).json()
    token = session["refresh_token"]
    for _ in range(150):
        answer = refresh(node, token, address)
        assert answer.status_code == 200, answer.text
        token = answer.json()["refresh_token"]
    assert 1 <= too_many(refresh(node, token, address)) <= WINDOW
    assert refresh(node, token, next(addresses)).status_code == 200


def test_what_a_client_writes_into_x_forwarded_for_decides_nothing(
    proxied_node: Node, addresses: Iterator[str]
) -> None:
    """The proxy appends the address it got the request from; entries left of it, in the same
    header or an earlier one, are the client's own words and are never read."""
    node, flooder = proxied_node, next(addresses)
    nobody = [f"nobody_{secrets.token_hex(4)}" for _ in range(30)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda n: sign_in(node, n, "guess 1", flooder), nobody))
    assert [a.status_code for a in answers] == [400] * 30
    spoofed = [
        {"X-Forwarded-For": f"{next(addresses)}, {flooder}"},
        {"X-Forwarded-For": f"{next(addresses)},{next(addresses)} , {flooder}"},
    ]
    for headers in spoofed:
        answer = httpx.post(
            f"{node.url}/auth/v1/token?grant_type=password",
            json={"username": "anyone", "password": "guess 2"},
            headers={"apikey": node.anon_key, **headers},
            timeout=60,
        )
        too_many(answer)
    two_headers = httpx.Headers(
        [("X-Forwarded-For", next(addresses)), ("X-Forwarded-For", flooder)]
    )
    answer = httpx.post(
        f"{node.url}/api/auth/login",
        json={"username": "anyone", "password": "guess 3"},
        headers=two_headers,
        timeout=60,
    )
    too_many(answer, "betmarket")


def test_an_ipv6_address_counts_with_its_64_network(proxied_node: Node) -> None:
    """One subscriber's /64 holds more addresses than anyone could use up: it is one address."""
    network = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    query = "select server.check_rate_limit('sign_up', %s::inet)"
    with psycopg.connect(proxied_node.database_url, autocommit=True) as conn:
        waits = [conn.execute(query, [f"{network}::{n:x}"]).fetchone() for n in range(1, 32)]
        elsewhere = conn.execute(query, [f"2001:db8:ffff:{secrets.token_hex(2)}::1"]).fetchone()
    assert waits[:30] == [(0,)] * 30
    assert waits[30] is not None and 1 <= waits[30][0] <= WINDOW
    assert elsewhere == (0,)
