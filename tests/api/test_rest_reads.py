"""/rest/v1 reads over raw HTTP, what apps need beyond one view's columns (docs/rest.md): resource
embedding over the views' relationships (one-to-many as an array, many-to-one as an object,
nested, filtered, ordered and paged, each level as the caller so RLS decides at every level),
full-text search, CSV, `Prefer: return=minimal` on calls, and PostgREST's messages for what
does not parse. The same through the official client: test_supabase_client.py. The bounds on
embedding: tests/attack/test_abuse_reads.py."""

import csv
import io
import json
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


# --- resource embedding -----------------------------------------------------------------------


def test_one_to_many_is_an_array_and_many_to_one_an_object(derby: Derby) -> None:
    markets = derby.ana.get(
        "markets",
        {
            "select": "id,title,outcomes!market_id(id,label)",
            "id": f"eq.{derby.id}",
            "outcomes.order": "position",
        },
    )
    red, blue, green = derby.outcomes
    assert ok(markets) == [
        {
            "id": derby.id,
            "title": derby.title,
            "outcomes": [
                {"id": red, "label": "Red"},
                {"id": blue, "label": "Blue"},
                {"id": green, "label": "Green, Ltd."},
            ],
        }
    ]
    # many-to-one: an object, aliased or not; the embedded resources come after the columns
    mine = derby.ana.get(
        "my_wagers",
        {
            "select": "markets(title),stake,outcome:outcomes!outcome_id(label)",
            "market_id": f"eq.{derby.id}",
            "order": "stake",
        },
    )
    assert ok(mine) == [
        {"stake": 100, "markets": {"title": derby.title}, "outcome": {"label": "Red"}},
        {"stake": 200, "markets": {"title": derby.title}, "outcome": {"label": "Blue"}},
    ]
    assert list(mine.json()[0]) == ["stake", "markets", "outcome"]
    # one-to-one (settlements' key is also its primary key): an object, null while there is none
    settled = {"select": "id,settlements(kind)", "id": f"eq.{derby.id}"}
    assert ok(derby.ana.get("markets", settled)) == [{"id": derby.id, "settlements": None}]
    # a * with embedded resources; a counted read counts the page's rows, not the embedded ones
    counted = derby.ana.send(
        "GET",
        "outcomes",
        headers={"Prefer": "count=exact"},
        params={"select": "*,market:markets!market_id(*)", "market_id": f"eq.{derby.id}"},
    )
    assert counted.status_code == 200 and counted.headers["content-range"] == "0-2/3"
    assert all(row["market"]["title"] == derby.title for row in counted.json())
    assert {"label", "odds", "market_id"} <= set(counted.json()[0])


def _labels(derby: Derby, **params: str) -> list[Any]:
    rows = ok(
        derby.ana.get(
            "markets",
            {"select": "id,outcomes!market_id(label)", "id": f"eq.{derby.id}", **params},
        )
    )
    return [[o["label"] for o in row["outcomes"]] for row in rows]


def test_embedded_rows_take_their_own_filters_order_and_paging(derby: Derby) -> None:
    assert _labels(derby, **{"outcomes.order": "position.desc"}) == [["Green, Ltd.", "Blue", "Red"]]
    assert _labels(derby, **{"outcomes.order": "position", "outcomes.limit": "1"}) == [["Red"]]
    paged = {"outcomes.order": "position", "outcomes.offset": "1", "outcomes.limit": "1"}
    assert _labels(derby, **paged) == [["Blue"]]
    assert _labels(derby, **{"outcomes.label": "eq.Blue"}) == [["Blue"]]
    either = {"outcomes.or": "(label.eq.Red,label.eq.Blue)", "outcomes.order": "label"}
    assert _labels(derby, **either) == [["Blue", "Red"]]
    neither = {"outcomes.not.or": "(label.eq.Red,label.eq.Blue)"}
    assert _labels(derby, **neither) == [["Green, Ltd."]]
    # a filter on the embedded rows keeps the parent row: its array is empty
    assert _labels(derby, **{"outcomes.label": "eq.nope"}) == [[]]


def test_inner_and_null_filters_choose_the_parent_rows(derby: Derby) -> None:
    def ids(select: str, **params: str) -> Any:
        where = {"select": select, "title": f"eq.{derby.title}", **params}
        return ok(derby.ana.get("markets", where))

    inner = "id,outcomes!market_id!inner(label)"
    assert ids(inner, **{"outcomes.label": "eq.Blue"}) == [
        {"id": derby.id, "outcomes": [{"label": "Blue"}]}
    ]
    assert ids(inner, **{"outcomes.label": "eq.nope"}) == []
    counted = derby.ana.send(
        "GET",
        "markets",
        headers={"Prefer": "count=exact"},
        params={"select": inner, "title": f"eq.{derby.title}", "outcomes.label": "eq.nope"},
    )
    assert counted.headers["content-range"] == "*/0"
    # an embedded resource that selects nothing only filters
    assert ids("id,outcomes!market_id!inner()", **{"outcomes.label": "eq.Red"}) == [
        {"id": derby.id}
    ]
    plain = "id,outcomes!market_id(label)"
    assert ids(plain, outcomes="not.is.null", **{"outcomes.label": "eq.nope"}) == []
    assert ids(plain, outcomes="is.null", **{"outcomes.label": "eq.nope"}) == [
        {"id": derby.id, "outcomes": []}
    ]
    refused(derby.ana.get("markets", {"select": plain, "outcomes": "eq.1"}), 400, "PGRST120")


def test_nested_embedding_is_read_as_the_caller_at_every_level(
    derby: Derby, node: Node, service: RestActor
) -> None:
    def blue_stakes(who: RestActor) -> dict[str, list[int]]:
        rows = ok(
            who.get(
                "markets",
                {
                    "select": "title,outcomes!market_id(label,wagers!outcome_id(stake))",
                    "id": f"eq.{derby.id}",
                    "outcomes.order": "position",
                    "outcomes.wagers.order": "stake",
                },
            )
        )
        return {o["label"]: [w["stake"] for w in o["wagers"]] for o in rows[0]["outcomes"]}

    assert blue_stakes(derby.ana) == {"Red": [100], "Blue": [200], "Green, Ltd.": []}
    assert blue_stakes(derby.ben) == {"Red": [], "Blue": [300], "Green, Ltd.": []}
    assert blue_stakes(service) == {"Red": [100], "Blue": [200, 300], "Green, Ltd.": []}
    # anon may read markets and outcomes, not wagers: the whole read is refused, as PostgREST
    anon = RestActor(node, "anonymous", node.anon_key)
    nested = {"select": "id,outcomes!market_id(id,wagers!outcome_id(id))", "id": f"eq.{derby.id}"}
    refused(anon.get("markets", nested), 401, "42501")
    # three levels: the wager's market again, from each wager
    deep = ok(
        derby.ana.get(
            "markets",
            {
                "select": "id,outcomes!market_id(wagers!outcome_id(markets(id)))",
                "id": f"eq.{derby.id}",
                "outcomes.wagers.stake": "eq.100",
            },
        )
    )
    assert [w for o in deep[0]["outcomes"] for w in o["wagers"]] == [{"markets": {"id": derby.id}}]


def test_relationships_that_are_ambiguous_or_missing_answer_postgrest_s_errors(
    derby: Derby,
) -> None:
    # markets.winning_outcome_id -> outcomes.id and outcomes.market_id -> markets.id: two ways
    body = refused(derby.ana.get("markets", {"select": "id,outcomes(id)"}), 300, "PGRST201")
    assert body["message"] == (
        "Could not embed because more than one relationship was found for 'markets' and 'outcomes'"
    )
    assert body["hint"] == (
        "Try changing 'outcomes' to one of the following: 'outcomes!outcomes_market_id_fkey', "
        "'outcomes!markets_winning_outcome_fk'. Find the desired relationship in the 'details' "
        "key."
    )
    assert {
        "cardinality": "one-to-many",
        "embedding": "markets with outcomes",
        "relationship": "outcomes_market_id_fkey using markets(id) and outcomes(market_id)",
    } in body["details"]
    by_key = {"select": "id,outcomes!outcomes_market_id_fkey(id)", "id": f"eq.{derby.id}"}
    assert len(ok(derby.ana.get("markets", by_key))[0]["outcomes"]) == 3
    winner = {"select": "id,winner:outcomes!winning_outcome_id(id)", "id": f"eq.{derby.id}"}
    assert ok(derby.ana.get("markets", winner)) == [{"id": derby.id, "winner": None}]

    body = refused(derby.ana.get("markets", {"select": "id,outcome(id)"}), 400, "PGRST200")
    assert body["message"] == (
        "Could not find a relationship between 'markets' and 'outcome' in the schema cache"
    )
    assert body["hint"] == "Perhaps you meant 'outcomes' instead of 'outcome'."
    refused(derby.ana.get("markets", {"select": "id,ledger(id)"}), 400, "PGRST200")
    refused(derby.ana.get("markets", {"select": "id,outcomes!nope(id)"}), 400, "PGRST200")
    # a key for a resource select does not embed
    body = refused(derby.ana.get("markets", {"outcomes.limit": "1"}), 400, "PGRST108")
    assert body["message"] == "'outcomes' is not an embedded resource in this request"
    # a function's rows have no relationships
    pending = derby.ana.send(
        "POST",
        "rpc/admin_list_pending_wagers",
        params={"select": "*,markets(id)"},
        json={"market_id": derby.id},
    )
    refused(pending, 400, "PGRST200")


def test_embedding_is_bounded_in_depth_and_width(derby: Derby) -> None:
    four = "id,outcomes!market_id(wagers!outcome_id(markets(outcomes!market_id(id))))"
    body = refused(derby.ana.get("markets", {"select": four}), 400, "PGRST100")
    assert body["message"] == "Embedded resources may nest at most 3 levels deep"
    many = ",".join(f"o{i}:outcomes!market_id(id)" for i in range(9))
    body = refused(derby.ana.get("markets", {"select": f"id,{many}"}), 400, "PGRST100")
    assert body["message"] == "select may embed at most 8 resources"


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
    # an embedded resource's column, a non-text column (searched as its text)
    labels = {"select": "id,outcomes!market_id!inner(label)", "outcomes.label": "fts.green"}
    assert ok(derby.ana.get("markets", {**labels, "id": f"eq.{derby.id}"})) == [
        {"id": derby.id, "outcomes": [{"label": "Green, Ltd."}]}
    ]
    assert titles(id=f"fts.{derby.id}") == mine
    refused(derby.ana.get("markets", {"title": "fts.a & ("}), 400, "42601")


# --- CSV ---------------------------------------------------------------------------------------


def _csv(answer: httpx.Response) -> list[list[str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(answer.text)))


def test_csv_answers_a_header_and_a_line_a_row(derby: Derby) -> None:
    text = {"Accept": "text/csv"}
    outcomes = derby.ana.send(
        "GET",
        "outcomes",
        headers=text,
        params={
            "select": "label,position,color",
            "market_id": f"eq.{derby.id}",
            "order": "position",
        },
    )
    assert outcomes.text == 'label,position,color\nRed,1,\nBlue,2,\n"Green, Ltd.",3,'
    assert _csv(outcomes)[3] == ["Green, Ltd.", "3", ""]
    # embedded resources and json values as their JSON text; a quote doubled
    embedded = derby.ana.send(
        "GET",
        "markets",
        headers={**text, "Prefer": "count=exact"},
        params={
            "select": 'id,title,"the title":title,outcomes!market_id(label)',
            "id": f"eq.{derby.id}",
            "outcomes.order": "position",
        },
    )
    assert embedded.headers["content-range"] == "0-0/1"
    header, row = _csv(embedded)
    assert header == ["id", "title", "the title", "outcomes"]
    assert row[:3] == [str(derby.id), derby.title, derby.title]
    assert json.loads(row[3]) == [{"label": "Red"}, {"label": "Blue"}, {"label": "Green, Ltd."}]
    assert '""label""' in embedded.text
    # no rows: the header alone
    empty = derby.ana.send(
        "GET", "markets", headers=text, params={"select": "id,title", "id": "eq.-1"}
    )
    assert empty.text == "id,title"
    # the rows a function returns; a scalar result is JSON only
    wallet = derby.ana.send("POST", "rpc/get_wallet", headers=text, json={})
    refused(wallet, 406, "PGRST107")
    # HEAD: the headers only
    head = derby.ana.send("HEAD", "markets", headers=text, params={"id": f"eq.{derby.id}"})
    assert head.status_code == 200 and head.content == b""


# --- Prefer -----------------------------------------------------------------------------------


def test_prefer_return_minimal_on_a_call_is_a_204_and_the_call_still_acts(derby: Derby) -> None:
    before = derby.ana.call("get_wallet")["balance"]
    key = f"minimal-{uuid.uuid4().hex[:8]}"
    answer = derby.ana.send(
        "POST",
        "rpc/deposit",
        headers={"Prefer": "return=minimal"},
        json={"amount": 500, "idempotency_key": key},
    )
    assert answer.status_code == 204, answer.text
    assert answer.content == b"" and answer.headers["preference-applied"] == "return=minimal"
    assert derby.ana.call("get_wallet")["balance"] == before + 500
    rows = derby.ana.send(
        "POST", "rpc/get_wallet", headers={"Prefer": "return=minimal, count=exact"}, json={}
    )
    assert rows.status_code == 204 and rows.content == b""
    # reads have nothing to return but their rows: Prefer return= does not apply to them
    read = derby.ana.send(
        "GET", "markets", headers={"Prefer": "return=minimal"}, params={"limit": "1"}
    )
    assert read.status_code == 200 and len(read.json()) == 1
    # count=planned and count=estimated count exactly
    for method in ("planned", "estimated"):
        counted = derby.ana.send(
            "GET",
            "my_wagers",
            headers={"Prefer": f"count={method}"},
            params={"market_id": f"eq.{derby.id}"},
        )
        assert counted.headers["content-range"] == "0-1/2"


# --- PostgREST's messages for what does not parse ------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "message", "details"),
    [
        (
            {"stake": "between.1.5"},
            "PGRST100",
            '"failed to parse filter (between.1.5)"',
            "unknown single value operator between",
        ),
        (
            {"select": "id,,stake"},
            "PGRST100",
            '"failed to parse select parameter (id,,stake)"',
            "an empty item. Separate the items of select with single commas.",
        ),
        (
            {"order": "stake.sideways"},
            "PGRST100",
            '"failed to parse order (stake.sideways)"',
            None,
        ),
        ({"or": "(stake.eq.1"}, "PGRST100", '"failed to parse logic tree ((stake.eq.1)"', None),
        ({"stake": "is.maybe"}, "PGRST100", '"failed to parse filter (is.maybe)"', None),
        ({"a..b": "eq.1"}, "PGRST100", '"failed to parse tree path (a..b)"', None),
        ({"select": "stakes"}, "42703", "column my_wagers.stakes does not exist", None),
        ({"stak": "eq.1"}, "42703", "column my_wagers.stak does not exist", None),
        ({"order": "stak"}, "42703", "column my_wagers.stak does not exist", None),
        ({"select": "id,markets(titl)"}, "42703", "column markets.titl does not exist", None),
    ],
)
def test_invalid_input_has_postgrest_s_messages(
    derby: Derby, params: dict[str, str], code: str, message: str, details: str | None
) -> None:
    body = refused(derby.ana.get("my_wagers", params), 400, code)
    assert body["message"] == message
    if details is not None:
        assert body["details"] == details
    if code == "42703":
        # PostgreSQL's hint for a close name
        assert body["hint"] is not None and body["hint"].startswith("Perhaps you meant")
