"""What the /rest/v1 read tests share (test_rest_reads.py, test_rest_formats.py): a market with
wagers by two bettors, and the checks of an answer."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.attack.over_http import RestActor, new_user
from tests.serving import Node

FOUR_KEYS = {"code", "message", "details", "hint"}


@dataclass
class Derby:
    """A market with three outcomes: ana's wagers on Red (100) and Blue (200), ben's on Blue
    (300)."""

    id: int
    title: str
    outcomes: list[int]  # Red, Blue, "Green, Ltd." in position order
    ana: RestActor
    ben: RestActor


def make_derby(node: Node, service: RestActor) -> Derby:
    word = uuid.uuid4().hex[:8]
    title = f"Embed Derby {word}"
    market = service.call("create_market", title=title, outcomes=["Red", "Blue", "Green, Ltd."])
    outcomes = [o["outcome_id"] for o in market["outcomes"]]
    ana, ben = new_user(node, "ana"), new_user(node, "ben")
    for who, outcome, stake in ((ana, 0, 100), (ana, 1, 200), (ben, 1, 300)):
        who.call("place_wager", market_id=market["id"], outcome_id=outcomes[outcome], stake=stake)
    return Derby(market["id"], title, outcomes, ana, ben)


def ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    body: dict[str, Any] = answer.json()
    assert set(body) == FOUR_KEYS and body["code"] == code, body
    return body
