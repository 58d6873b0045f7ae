"""Password guessing is slowed by the sign-in limit: the documented number of attempts a minute per
user (per name when it names nobody), on GoTrue's /auth/v1/token and BetMarket's /api/auth/login
alike and counted together, whichever of a user's names is typed and however it is spelled; the
right password is refused too once the limit is reached; other users sign in as usual."""

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from tests.attack.abuse import sign_up_named
from tests.serving import REPO, Node
from tests.support.gotrue import error_code
from wagerbase.app import Config

LIMIT: int = Config.sign_in_limit  # the default every node runs with
PASSWORD = "correct horse 1"
TIMEOUT = 120  # argon2 on a busy machine; a deadline, not a measure


def test_the_limit_is_the_documented_one() -> None:
    text = (REPO / "docs" / "api.md").read_text()
    assert re.search(rf"\b{LIMIT} password sign-ins per user per minute", text)
    assert LIMIT >= 3


def gotrue(node: Node, identifier: str, password: str) -> httpx.Response:
    key = "email" if "@" in identifier else "username"
    return httpx.post(
        f"{node.url}/auth/v1/token?grant_type=password",
        headers={"apikey": node.anon_key},
        json={key: identifier, "password": password},
        timeout=TIMEOUT,
    )


def betmarket(node: Node, identifier: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{node.url}/api/auth/login",
        json={"username": identifier, "password": password},
        timeout=TIMEOUT,
    )


def db_user_id(node: Node, name: str) -> str:
    with psycopg.connect(node.database_url) as conn:
        row = conn.execute("select app._find_user(%s)::text", [name]).fetchone()
    assert row is not None and row[0]
    return str(row[0])


def refused_for_the_rate(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["retry-after"] == "60"
    if "error" not in answer.json():  # GoTrue's body, in either shape (BetMarket's is {error})
        assert error_code(answer) == "over_request_rate_limit", answer.text


Guess = Callable[[Node, str, str], httpx.Response]


def guess_at_once(node: Node, guesses: list[tuple[Guess, str]]) -> list[int]:
    """Every (surface, name) guess with a wrong password, all sent at once: the statuses."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = pool.map(lambda g: g[1][0](node, g[1][1], f"guess {g[0]}"), enumerate(guesses))
        return [answer.status_code for answer in answers]


def answered_as_wrong_passwords(statuses: list[int], guesses: list[tuple[Guess, str]]) -> bool:
    """Every guess not refused for the rate got its surface's wrong-password answer."""
    return all(
        status == (400 if guess is gotrue else 401)
        for status, (guess, _) in zip(statuses, guesses, strict=True)
        if status != 429
    )


def test_guessing_a_user_s_password_stops_at_the_limit_on_every_surface_and_spelling(
    node: Node, unique: Callable[[str], str]
) -> None:
    """LIMIT guesses are answered (wrong password) and the rest refused, even sent at once, with
    the guesses spread over both surfaces and every way of naming the user; then the right
    password is refused too, and another user still signs in."""
    name, other = unique("eve"), unique("other")
    email = sign_up_named(node, name)
    other_email = sign_up_named(node, other)
    user_id = db_user_id(node, name)
    spellings = [name, email, name.upper(), f"  {email.upper()}  ", user_id]
    extra = 4
    guesses: list[tuple[Guess, str]] = [
        ((gotrue, betmarket)[n % 2], spellings[n % len(spellings)]) for n in range(LIMIT + extra)
    ]
    statuses = guess_at_once(node, guesses)
    assert sorted(statuses) == sorted(
        [s for s, (guess, _) in zip(statuses, guesses, strict=True) if s != 429] + [429] * extra
    )
    assert len([s for s in statuses if s != 429]) == LIMIT
    assert all(
        s == (400 if guess is gotrue else 401)
        for s, (guess, _) in zip(statuses, guesses, strict=True)
        if s != 429
    )
    for guess in (gotrue, betmarket):
        refused_for_the_rate(guess(node, name, PASSWORD))
    refused_for_the_rate(gotrue(node, email, PASSWORD))
    assert gotrue(node, other_email, PASSWORD).status_code == 200
    assert betmarket(node, other, PASSWORD).status_code == 200


def test_guessing_for_a_name_that_names_nobody_is_limited_the_same(
    node: Node, unique: Callable[[str], str]
) -> None:
    """Nothing tells the guesser whether the name exists: the same answers, the same limit,
    however the name is spelled."""
    nobody = unique("nobody")
    spellings = [nobody, nobody.upper(), f" {nobody} "]
    guesses: list[tuple[Guess, str]] = [
        ((gotrue, betmarket)[n % 2], spellings[n % 3]) for n in range(LIMIT + 2)
    ]
    statuses = guess_at_once(node, guesses)
    assert statuses.count(429) == 2
    assert answered_as_wrong_passwords(statuses, guesses)
    refused_for_the_rate(betmarket(node, nobody, PASSWORD))


def test_a_nul_byte_in_the_name_is_refused_with_a_400(node: Node) -> None:
    for guess in (gotrue, betmarket):
        answer = guess(node, "nul\u0000@example.test", "whatever 1")
        assert answer.status_code == 400, answer.text
