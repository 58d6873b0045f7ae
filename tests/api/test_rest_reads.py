"""/rest/v1 reads over raw HTTP, what apps need beyond one view's columns (docs/rest.md): resource
embedding over the views' relationships (one-to-many as an array, many-to-one as an object,
nested, filtered, ordered and paged, each level as the caller so RLS decides at every level),
and full-text search. CSV, Prefer and PostgREST's messages: test_rest_formats.py. The same
through the official client: tests/api/supabase_client/. The bounds on embedding:
tests/attack/test_abuse_reads.py."""

from typing import Any

from tests.api.rest_support import Derby, ok, refused
from tests.attack.over_http import RestActor
from tests.serving import Node

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
