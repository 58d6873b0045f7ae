"""A real user signs in while wrong sign-ins flood in: made-up names cost no password hash, and an
address over its limit is refused before any hash, so the hashing threads stay free for real
users. Proved by outcome (the real sign-in answers 200 while the flood runs) and by the node's
counts in /health, never by a timing."""

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt

from tests.attack.auth_client import (
    PASSWORD,
    SURFACES,
    WRONG_PASSWORD,
    grew,
    health,
    sign_in,
    sign_up,
    too_many,
)
from tests.serving import Node
from tests.support.gotrue import error_code

FLOOD = 40  # wrong sign-ins under made-up names, each from an address of its own
FROM_ONE = 10  # wrong sign-ins for real users from one address past its limit


def test_a_real_sign_in_succeeds_while_wrong_ones_flood_in(
    proxied_node: Node, addresses: Iterator[str], unique: Callable[[str], str]
) -> None:
    node = proxied_node
    ana = unique("ana")
    signed_up = sign_up(node, ana, next(addresses))
    assert signed_up.status_code == 200, signed_up.text
    victims = [unique("victim") for _ in range(5)]
    for name in victims:
        assert sign_up(node, name, next(addresses)).status_code == 200
    # the flooding address has used up its 30 sign-ins on wrong passwords of real users
    flooder = next(addresses)
    with ThreadPoolExecutor(max_workers=4) as pool:
        warm = list(pool.map(lambda n: sign_in(node, victims[n % 5], "guess", flooder), range(30)))
    assert [a.status_code for a in warm] == [400] * 30

    before = health(node)
    calls: list[tuple[str, str, str]] = [
        (f"nobody_{n}_{unique('x')}", "guess", next(addresses)) for n in range(FLOOD)
    ]
    calls += [(victims[n % 5], "guess again", flooder) for n in range(FROM_ONE)]
    calls.append((ana, PASSWORD, next(addresses)))
    start = threading.Barrier(len(calls))

    def send(call: tuple[str, str, str]) -> httpx.Response:
        start.wait()  # every request leaves at once: the real one runs inside the flood
        return sign_in(node, *call)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        answers = list(pool.map(send, calls))

    real = answers[-1]
    assert real.status_code == 200, real.text
    assert (
        jwt.decode(real.json()["access_token"], options={"verify_signature": False})["sub"]
        == (signed_up.json()["user"]["id"])
    )
    made_up, from_one = answers[:FLOOD], answers[FLOOD:-1]
    assert [(a.status_code, error_code(a)) for a in made_up] == [
        (400, "invalid_credentials")
    ] * FLOOD
    for answer in from_one:
        too_many(answer)
    counts = grew(before, health(node))
    assert counts == {
        "computed": 1,  # ana's password: the only hash of the flood
        "refused_busy": 0,
        "refused_address_limit": FROM_ONE,  # refused before any hash
        "unknown_names": FLOOD,  # answered without a hash
    }


def test_a_name_nobody_owns_is_answered_as_a_wrong_password_without_a_hash(
    proxied_node: Node, addresses: Iterator[str], unique: Callable[[str], str]
) -> None:
    node = proxied_node
    name = unique("owner")
    assert sign_up(node, name, next(addresses)).status_code == 200
    before = health(node)
    for surface in SURFACES:
        wrong = sign_in(node, name, "guess 1", next(addresses), surface)
        nobody = sign_in(node, unique("nobody"), "guess 1", next(addresses), surface)
        assert wrong.status_code == nobody.status_code == WRONG_PASSWORD[surface]
        assert wrong.json() == nobody.json()
    counts = grew(before, health(node))
    assert (counts["computed"], counts["unknown_names"]) == (2, 2)
