"""/rest/v1 over raw HTTP: the query grammar's edges, the bad-input matrix (every refusal a 4xx
with PostgREST's four-key body, nothing written), tokens, profiles and the OpenAPI document."""

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from tests.serving import Node

FOUR_KEYS = {"code", "message", "details", "hint"}


@dataclass
class Caller:
    http: httpx.Client
    user_id: str | None = None

    def rpc(self, fn: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(f"/rest/v1/rpc/{fn}", json=body or {}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(f"/rest/v1/{path}", **kwargs)


def _client(node: Node, token: str | None) -> httpx.Client:
    headers = {"apikey": node.anon_key}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=node.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
def service(node: Node) -> Iterator[Caller]:
    with _client(node, node.service_key) as http:
        yield Caller(http)


@pytest.fixture(scope="module")
def anon(node: Node) -> Iterator[Caller]:
    with _client(node, node.anon_key) as http:
        yield Caller(http)


@pytest.fixture
def bettor(node: Node) -> Iterator[Callable[[], Caller]]:
    opened: list[httpx.Client] = []

    def make() -> Caller:
        email = f"rest_{uuid.uuid4().hex[:10]}@example.test"
        answer = httpx.post(
            f"{node.url}/auth/v1/signup",
            headers={"apikey": node.anon_key},
            json={"email": email, "password": "correct horse 1"},
        )
        assert answer.status_code == 200, answer.text
        session = answer.json()
        http = _client(node, session["access_token"])
        opened.append(http)
        return Caller(http, session["user"]["id"])

    yield make
    for http in opened:
        http.close()


@pytest.fixture(scope="module")
def market(service: Caller) -> dict[str, Any]:
    answer = service.rpc(
        "create_market", {"title": "Grammar Derby", "outcomes": ["Red", "Blue", "Green, Ltd."]}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def wagered(node: Node, market: dict[str, Any]) -> Iterator[tuple[Caller, list[int]]]:
    """One bettor with three wagers on `market` (stakes 100, 200, 300 on the three outcomes)."""
    email = f"rest_{uuid.uuid4().hex[:10]}@example.test"
    session = httpx.post(
        f"{node.url}/auth/v1/signup",
        headers={"apikey": node.anon_key},
        json={"email": email, "password": "correct horse 1"},
    ).json()
    with _client(node, session["access_token"]) as http:
        caller = Caller(http, session["user"]["id"])
        outcomes = [o["outcome_id"] for o in market["outcomes"]]
        for outcome, stake in zip(outcomes, (100, 200, 300), strict=True):
            placed = caller.rpc(
                "place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": stake}
            )
            assert placed.status_code == 200, placed.text
        yield caller, outcomes


def _refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, (answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = answer.json()
    assert set(body) == FOUR_KEYS and body["code"] == code, body
    return body


# --- reads: the grammar -----------------------------------------------------------------------


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


# --- RPC --------------------------------------------------------------------------------------


def test_rpc_results_scalars_rows_and_get(
    wagered: tuple[Caller, list[int]], service: Caller
) -> None:
    caller, _ = wagered
    wallet = caller.rpc("get_wallet")
    assert wallet.status_code == 200
    assert wallet.headers["content-type"] == "application/json; charset=utf-8"
    assert wallet.json()["balance"] == 10000 - 600

    summary = service.http.get("/rest/v1/rpc/house_summary")
    assert summary.status_code == 200 and isinstance(summary.json(), dict)
    headed = service.http.head("/rest/v1/rpc/house_summary")
    assert headed.status_code == 200 and headed.content == b""
    rows = service.http.get(
        "/rest/v1/rpc/admin_list_pending_wagers",
        params={"market_id": "-1", "select": "wager_id", "limit": "5"},
    )
    assert rows.status_code == 200 and rows.json() == []
    _refused(
        service.http.get("/rest/v1/rpc/admin_list_pending_wagers", params={"market_id": "x"}),
        400,
        "22P02",
    )
    # a volatile function cannot be called read only
    body = _refused(caller.http.get("/rest/v1/rpc/get_wallet"), 405, "PGRST101")
    assert body["message"].startswith("The function public.get_wallet is volatile")
    # filters apply to functions that return rows, not to scalars
    _refused(service.http.get("/rest/v1/rpc/house_summary", params={"x": "eq.1"}), 400, "PGRST100")


STAKE_MATRIX: list[tuple[Any, int, str]] = [
    (1.5, 400, "22P02"),
    (-5, 400, "PT400"),
    (0, 400, "PT400"),
    (1e30, 400, "22003"),
    (10**30, 400, "22003"),
    ("abc", 400, "22P02"),
    ("", 400, "22P02"),
    (True, 400, "22P02"),
    ({"minor": 5}, 400, "22P02"),
    ([5], 400, "22P02"),
]


def test_bad_rpc_input_is_refused_and_writes_nothing(
    bettor: Callable[[], Caller], market: dict[str, Any]
) -> None:
    caller = bettor()
    outcome = market["outcomes"][0]["outcome_id"]
    before = caller.rpc("get_wallet").json()["balance"]
    entries = len(caller.get("my_ledger").json())

    def place(stake: Any) -> httpx.Response:
        return caller.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": stake}
        )

    for stake, status, code in STAKE_MATRIX:
        body = _refused(place(stake), status, code)
        if code == "PT400":
            assert body["message"] == "invalid_amount"

    raw = "/rest/v1/rpc/place_wager"
    json_headers = {"Content-Type": "application/json"}
    for text in ("{", "[1, 2]", '"stake"', "null", "12", '{"stake": NaN}', "\xff"):
        content = text.encode("latin-1")
        _refused(caller.http.post(raw, content=content, headers=json_headers), 400, "PGRST102")
    _refused(caller.rpc("place_wager", {"market_id": market["id"]}), 404, "PGRST202")
    _refused(caller.rpc("place_wager", {"stake": 5, "x": 1}), 404, "PGRST202")
    unknown = _refused(caller.rpc("place_wagers", {"stake": 5}), 404, "PGRST202")
    assert (
        unknown["message"]
        == "Could not find the function public.place_wagers(stake) in the schema cache"
    )
    _refused(
        caller.rpc("place_wager", {"market_id": "one", "outcome_id": outcome, "stake": 5}),
        400,
        "22P02",
    )
    _refused(
        caller.rpc(
            "place_wager",
            {"market_id": market["id"], "outcome_id": outcome, "stake": 5, "expected_odds": "x"},
        ),
        400,
        "22P02",
    )
    _refused(caller.rpc("deposit", {"amount": 5, "idempotency_key": "nul\u0000"}), 400, "22P05")
    _refused(caller.rpc("deposit", {"amount": 10**9}), 400, "PT400")
    _refused(
        caller.rpc("deposit", {"amount": 5}, headers={"Content-Profile": "app"}), 406, "PGRST106"
    )

    assert caller.rpc("get_wallet").json()["balance"] == before
    assert caller.get("my_wagers").json() == []
    assert len(caller.get("my_ledger").json()) == entries


def _unsigned(claims: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


@pytest.mark.parametrize("token_for", ["expired", "other_secret", "alg_none", "garbage", "role"])
def test_bad_tokens_are_401_pgrst301(node: Node, token_for: str) -> None:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 600,
    }
    makers: dict[str, Callable[[], str]] = {
        "expired": lambda: jwt.encode({**claims, "exp": now - 10}, node.jwt_secret, "HS256"),
        "other_secret": lambda: jwt.encode(claims, "x" * 48, "HS256"),
        "alg_none": lambda: _unsigned(claims),
        "garbage": lambda: "not.a.token",
        "role": lambda: jwt.encode({**claims, "role": "postgres"}, node.jwt_secret, "HS256"),
    }
    token = makers[token_for]()
    headers = {"apikey": node.anon_key, "Authorization": f"Bearer {token}"}
    for answer in (
        httpx.get(f"{node.url}/rest/v1/markets", headers=headers),
        httpx.post(f"{node.url}/rest/v1/rpc/deposit", headers=headers, json={"amount": 5}),
    ):
        _refused(answer, 401, "PGRST301")
        assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_openapi_lists_the_rest_routes(node: Node) -> None:
    document = httpx.get(f"{node.url}/schema/openapi.json").json()
    view = document["paths"]["/rest/v1/{name}"]
    call = document["paths"]["/rest/v1/rpc/{fn}"]
    assert {"get", "head", "post", "patch", "put", "delete"} <= set(view)
    assert {"get", "head", "post"} <= set(call)
    assert any(p["name"] == "name" and p["in"] == "path" for p in view["get"]["parameters"])
    assert any(p["name"] == "fn" and p["in"] == "path" for p in call["post"]["parameters"])
    schema = call["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object"


# --- the schema cache and the shapes of function results --------------------------------------

PROBES = """
create view public.{p}_view as select 1 as one;
grant select on public.{p}_view to authenticated;
create function public.{p}_void() returns void language sql as 'select';
create function public.{p}_set(n int) returns setof int language sql stable
    as 'select pg_catalog.generate_series(1, n)';
create function public.{p}_rows(n int default 3) returns table (i int, square int)
    language sql stable as 'select g, g * g from pg_catalog.generate_series(1, n) as g';
create function public.{p}_one(out x int, out label text) language sql immutable
    as 'select 7, ''seven''';
create function public.{p}_sum(xs int[]) returns bigint language sql immutable
    as 'select coalesce(sum(x), 0) from unnest(xs) as x';
create function public.{p}_echo(j jsonb, t text default null) returns jsonb
    language sql immutable as 'select pg_catalog.jsonb_build_object(''j'', j, ''t'', t)';
create function public.{p}_text() returns text language sql immutable as 'select ''hi "you"''';
grant execute on function public.{p}_void, public.{p}_set, public.{p}_rows, public.{p}_one,
    public.{p}_sum, public.{p}_echo, public.{p}_text to authenticated;
"""


@pytest.fixture(scope="module")
def probes(api_database: str) -> Iterator[str]:
    """Views and functions created after the node started: the cache must find them."""
    prefix = f"probe_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute(PROBES.format(p=prefix).encode())
    try:
        yield prefix
    finally:
        with psycopg.connect(api_database, autocommit=True) as conn:
            for name in ("void", "set", "rows", "one", "sum", "echo", "text"):
                conn.execute(f"drop function public.{prefix}_{name}".encode())
            conn.execute(f"drop view public.{prefix}_view".encode())


def _eventually(call: Callable[[], httpx.Response]) -> httpx.Response:
    """The cache reads the catalog again on a miss at most once a second."""
    deadline = time.monotonic() + 5
    while True:
        answer = call()
        if answer.status_code != 404 or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_new_views_and_functions_are_found_and_shaped(
    probes: str, bettor: Callable[[], Caller]
) -> None:
    caller = bettor()
    view = _eventually(lambda: caller.get(f"{probes}_view"))
    assert view.status_code == 200 and view.json() == [{"one": 1}]

    void = _eventually(lambda: caller.rpc(f"{probes}_void"))
    assert void.status_code == 200 and void.content == b"null"
    assert caller.rpc(f"{probes}_set", {"n": 3}).json() == [1, 2, 3]
    assert caller.http.get(f"/rest/v1/rpc/{probes}_set", params={"n": "2"}).json() == [1, 2]
    rows = caller.http.get(
        f"/rest/v1/rpc/{probes}_rows",
        params={"n": "4", "select": "i,square", "i": "gt.1", "order": "i.desc", "limit": "2"},
        headers={"Prefer": "count=exact"},
    )
    assert rows.status_code == 206, rows.text
    assert rows.json() == [{"i": 4, "square": 16}, {"i": 3, "square": 9}]
    assert rows.headers["content-range"] == "0-1/3"
    assert caller.rpc(f"{probes}_rows").json() == [
        {"i": 1, "square": 1},
        {"i": 2, "square": 4},
        {"i": 3, "square": 9},
    ]
    assert caller.rpc(f"{probes}_one").json() == {"x": 7, "label": "seven"}
    assert caller.rpc(f"{probes}_sum", {"xs": [1, 2, 3]}).json() == 6
    assert caller.http.get(f"/rest/v1/rpc/{probes}_sum", params={"xs": "{4,5}"}).json() == 9
    _refused(caller.rpc(f"{probes}_sum", {"xs": [1, "x"]}), 400, "22P02")
    echo = caller.http.post(
        f"/rest/v1/rpc/{probes}_echo",
        content=b'{"j": {"a": [1, 2.50, 0.10000000000000000000001, null]}, "t": 5}',
        headers={"Content-Type": "application/json"},
    )
    assert echo.status_code == 200, echo.text
    assert echo.json() == {"j": {"a": [1, 2.5, 0.1, None]}, "t": "5"}
    assert "2.50, 0.10000000000000000000001" in echo.text  # numbers keep every digit
    got = caller.http.get(f"/rest/v1/rpc/{probes}_echo", params={"j": '{"b":true}'})
    assert got.json() == {"j": {"b": True}, "t": None}
    assert caller.rpc(f"{probes}_text").json() == 'hi "you"'
