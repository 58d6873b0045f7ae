"""/rest/v1 reads over raw HTTP, what apps need beyond one view's columns (docs/rest.md): full-text
search."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

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


@pytest.fixture(scope="module")
def service(node: Node) -> RestActor:
    return RestActor(node, "service", node.service_key)


@pytest.fixture(scope="module")
def derby(node: Node, service: RestActor) -> Derby:
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


# --- full-text search ---------------------------------------------------------------------------


def test_full_text_search_filters(derby: Derby) -> None:
    word = derby.title.split()[-1]  # unique to this run

    def titles(**params: str) -> list[str]:
        rows = ok(derby.ana.get("markets", {"select": "title", "order": "id", **params}))
        return [row["title"] for row in rows]

    mine = [derby.title]
    assert titles(title=f"fts.{word} & derby") == mine
    assert titles(title=f"fts(english).{word} & derbies") == mine  # stemmed by the config
    assert titles(title=f"fts(simple).{word} & derbies") == []  # not by `simple`
    assert titles(title=f"plfts.derby {word}") == mine
    assert titles(title=f"phfts(english).derby {word}") == mine
    assert titles(title=f"phfts(english).{word} derby") == []  # a phrase keeps its order
    assert titles(title=f'wfts.embed "derby {word}" -cup') == mine
    assert titles(title=f"wfts.embed {word} -red") == mine
    assert titles(title=f"wfts.{word} -derby") == []
    assert titles(**{"title": f"not.fts.{word}", "id": f"eq.{derby.id}"}) == []
    assert titles(**{"or": f"(title.fts.{word},id.eq.0)"}) == mine
    assert titles(**{"or": f'(title.plfts(english)."derbies, {word}",id.eq.0)'}) == mine
    # a non-text column (searched as its text)
    assert titles(id=f"fts.{derby.id}") == mine
    refused(derby.ana.get("markets", {"title": "fts.a & ("}), 400, "42601")
