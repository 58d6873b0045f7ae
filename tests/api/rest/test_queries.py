"""/rest/v1's reads over raw HTTP: the query grammar's edges (select, aliases, casts, order,
paging, filters), bad queries refused with PostgREST's codes, unknown views, headers and media
types, HEAD, and writes to views refused."""

from typing import Any

import pytest

from tests.api.rest.callers import Caller
from tests.api.rest.callers import refused as _refused


def test_select_aliases_casts_order_and_paging(
    wagered: tuple[Caller, list[int]], market: dict[str, Any]
) -> None:
    caller, _ = wagered
    answer = caller.get(
        "my_wagers",
        params={
            "select": "amount:stake,odds::text,market_id",
            "market_id": f"eq.{market['id']}",
            "order": "stake.desc",
            "limit": "2",
            "offset": "1",
        },
        headers={"Prefer": "count=exact"},
    )
    assert answer.status_code == 206, answer.text  # a counted part of the result, as PostgREST
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.headers["content-range"] == "1-2/3"
    assert answer.json() == [
        {"amount": 200, "odds": answer.json()[0]["odds"], "market_id": market["id"]},
        {"amount": 100, "odds": answer.json()[1]["odds"], "market_id": market["id"]},
    ]
    assert all(isinstance(row["odds"], str) for row in answer.json())

    whole = caller.get("my_wagers", params={"select": "id"}, headers={"Prefer": "count=exact"})
    assert whole.status_code == 200 and whole.headers["content-range"] == "0-2/3"
    uncounted = caller.get("my_wagers", params={"select": "id", "limit": "1"})
    assert uncounted.headers["content-range"] == "0-0/*"
    empty = caller.get("my_wagers", params={"id": "eq.-1"}, headers={"Prefer": "count=exact"})
    assert empty.json() == [] and empty.headers["content-range"] == "*/0"
    past = caller.get("my_wagers", params={"offset": "10"}, headers={"Prefer": "count=exact"})
    _refused(past, 416, "PGRST103")


def test_select_forms(wagered: tuple[Caller, list[int]]) -> None:
    caller, _ = wagered

    def first(select: str) -> dict[str, Any]:
        answer = caller.get("my_wagers", params={"select": select, "stake": "eq.300"})
        assert answer.status_code == 200, answer.text
        (row,) = answer.json()
        assert isinstance(row, dict)
        return row

    assert first("") == {}
    assert first("stake::int,label:outcome_label") == {"stake": 300, "label": "Green, Ltd."}
    assert first("stake::text") == {"stake": "300"}
    both = first("*,amount:stake")
    assert both["amount"] == both["stake"] == 300 and "market_title" in both
    assert first('"stake"') == {"stake": 300}


def test_filters_in_is_not_repeated_and_or(
    wagered: tuple[Caller, list[int]], market: dict[str, Any]
) -> None:
    caller, outcomes = wagered

    def stakes(**params: str) -> list[int]:
        answer = caller.get("my_wagers", params={"select": "stake", "order": "stake", **params})
        assert answer.status_code == 200, answer.text
        return [row["stake"] for row in answer.json()]

    assert stakes(stake="gt.100") == [200, 300]
    assert stakes(stake="not.eq.200") == [100, 300]
    assert stakes(outcome_id=f"in.({outcomes[0]},{outcomes[2]})") == [100, 300]
    assert stakes(outcome_id="in.()") == []
    assert stakes(outcome_label='in.("Green, Ltd.",Red)') == [100, 300]
    assert stakes(outcome_label="like.Gr*") == [300]
    assert stakes(outcome_label="ilike.*LTD*") == [300]
    assert stakes(reject_reason="is.null") == [100, 200, 300]
    assert stakes(reject_reason="not.is.null") == []
    assert stakes(**{"or": '(stake.eq.100,outcome_label.eq."Green, Ltd.")'}) == [100, 300]
    assert stakes(**{"not.or": "(stake.eq.100,stake.eq.300)"}) == [200]
    # the same column twice: both conditions hold (a multi-dict, not the last one wins)
    both = caller.get(
        "my_wagers", params=[("select", "stake"), ("stake", "gte.150"), ("stake", "lte.250")]
    )
    assert both.json() == [{"stake": 200}]
    # `order` with several terms, and nulls placement
    ordered = caller.get(
        "my_wagers", params={"select": "stake", "order": "decided_at.desc.nullslast,stake.desc"}
    )
    assert [row["stake"] for row in ordered.json()] == [300, 200, 100]
    markets = caller.get("markets", params={"select": "id,title", "id": f"eq.{market['id']}"})
    assert markets.json() == [{"id": market["id"], "title": "Grammar Derby"}]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"order": "stake.sideways"}, 400, "PGRST100"),
        ({"order": ""}, 400, "PGRST100"),
        ({"limit": "-1"}, 400, "PGRST100"),
        ({"limit": "ten"}, 400, "PGRST100"),
        ({"offset": "1.5"}, 400, "PGRST100"),
        ({"limit": str(10**30)}, 400, "PGRST100"),
        ({"select": "id,...markets(title)"}, 400, "PGRST100"),
        ({"select": "id,count()"}, 400, "PGRST123"),
        ({"select": "id,stake.sum()"}, 400, "PGRST123"),
        ({"select": "id,market:marketz(title)"}, 400, "PGRST200"),
        ({"select": "id,outcomes(label)"}, 300, "PGRST201"),
        ({"select": "id,markets(nope)"}, 400, "42703"),
        ({"select": "id,markets(id),markets(title)"}, 400, "PGRST100"),
        ({"order": "markets(title)"}, 400, "PGRST100"),
        ({"select": "id::no such type"}, 400, "PGRST100"),
        ({"stake": "5"}, 400, "PGRST100"),
        ({"stake": "between.1.5"}, 400, "PGRST100"),
        ({"stake": "sr.x"}, 400, "PGRST100"),
        ({"market_title": "fts(nosuchconfig).x"}, 400, "42704"),
        ({"stake": "in.1,2"}, 400, "PGRST100"),
        ({"stake": "in.(1,2"}, 400, "PGRST100"),
        ({"stake": 'in.("1,2)'}, 400, "PGRST100"),
        ({"stake": "is.maybe"}, 400, "PGRST100"),
        ({"or": "(stake.eq.1"}, 400, "PGRST100"),
        ({"or": "stake.eq.1"}, 400, "PGRST100"),
        ({"or": "(stake.eq.1,)"}, 400, "PGRST100"),
        ({"markets.title": "eq.x"}, 400, "PGRST108"),
        ({"select": "nope"}, 400, "42703"),
        ({"nope": "eq.1"}, 400, "42703"),
        ({"order": "nope.asc"}, 400, "42703"),
        ({"or": "(nope.eq.1,stake.eq.1)"}, 400, "42703"),
        ({"stake": "eq.abc"}, 400, "22P02"),
        ({"stake": "eq.1.5"}, 400, "22P02"),
        ({"stake": f"gt.{10**30}"}, 400, "22003"),
        ({"created_at": "lt.yesterday-ish"}, 400, "22007"),
        ({"user_id": "eq.not-a-uuid"}, 400, "22P02"),
        ({"market_title": "eq.nul\x00byte"}, 400, "22021"),
        ({"select": "stake::nosuchtype"}, 400, "42704"),
    ],
)
def test_bad_queries_are_400_with_postgrest_codes(
    wagered: tuple[Caller, list[int]], params: dict[str, str], status: int, code: str
) -> None:
    caller, _ = wagered
    _refused(caller.get("my_wagers", params=params), status, code)


def test_unknown_views_headers_and_media_types(
    wagered: tuple[Caller, list[int]], anon: Caller
) -> None:
    caller, _ = wagered
    body = _refused(caller.get("wager"), 404, "PGRST205")
    assert body["hint"] == "Perhaps you meant the table 'public.wagers'"
    _refused(caller.get("my_wagers", headers={"Accept-Profile": "app"}), 406, "PGRST106")
    _refused(caller.get("my_wagers", headers={"Accept": "application/xml"}), 406, "PGRST107")
    # grants decide: anon may read markets, not wagers (401 for anon, as PostgREST)
    assert anon.get("markets").status_code == 200
    _refused(anon.get("my_wagers"), 401, "42501")
    # every PostgREST Accept the client sends
    for accept in ("*/*", "application/json", "application/vnd.pgrst.array+json;nulls=stripped"):
        assert caller.get("my_wagers", headers={"Accept": accept}).status_code == 200
    stripped = caller.get(
        "my_wagers",
        params={"select": "stake,reject_reason", "limit": "1"},
        headers={"Accept": "application/vnd.pgrst.array+json;nulls=stripped"},
    )
    assert list(stripped.json()[0]) == ["stake"]
    one = caller.get(
        "my_wagers",
        params={"select": "stake", "stake": "eq.300"},
        headers={"Accept": "application/vnd.pgrst.object+json"},
    )
    assert one.json() == {"stake": 300}
    assert one.headers["content-type"].startswith("application/vnd.pgrst.object+json")


def test_head_gives_the_count_without_a_body(wagered: tuple[Caller, list[int]]) -> None:
    caller, _ = wagered
    answer = caller.http.head(
        "/rest/v1/my_wagers", params={"stake": "gte.200"}, headers={"Prefer": "count=exact"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-range"] == "0-1/2"
    assert answer.content == b""
    refused = caller.http.head("/rest/v1/nope")
    assert refused.status_code == 404 and refused.content == b""


def test_writes_to_views_and_other_verbs_on_functions_are_refused(
    wagered: tuple[Caller, list[int]], anon: Caller, service: Caller
) -> None:
    caller, _ = wagered
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        body = _refused(
            caller.http.request(method, "/rest/v1/wagers?id=eq.1", json={"stake": 1}),
            403,
            "42501",
        )
        assert body["message"] == "permission denied for view wagers"
        _refused(anon.http.request(method, "/rest/v1/markets", json={}), 401, "42501")
        _refused(service.http.request(method, "/rest/v1/ledger", json={}), 403, "42501")
        _refused(caller.http.request(method, "/rest/v1/nope", json={}), 404, "PGRST205")
    for method in ("PATCH", "PUT", "DELETE"):
        _refused(caller.http.request(method, "/rest/v1/rpc/deposit", json={}), 405, "PGRST101")
    assert len(caller.get("my_wagers").json()) == 3
