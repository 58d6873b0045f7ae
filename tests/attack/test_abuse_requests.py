"""Requests shaped to break the parsers are a clear 400 naming the limit, never a 500: logic trees
nested deeper than the limit (`or=`, `and=`, `not.or=`...), more conditions than the limit, a
`select=` wider than the limit (PostgreSQL's own is 1,664 columns), more `order=` terms than the
limit, JSON bodies nested deeper than the limit on every surface (/rest/v1's PostgREST body,
/auth/v1's GoTrue body, /api's BetMarket body), and numeric arguments sent as strings or, in a
query string, as anything but a plain decimal. Each is logged as one short line, never with a
traceback. Requests as large as the limits allow still work."""

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.api.betmarket_client import User, register
from tests.api.betmarket_client import client as betmarket_client
from tests.attack.over_http import RestActor, client, new_user
from tests.serving import Node
from wagerbase.http.request_limits import (
    MAX_CONDITIONS,
    MAX_JSON_DEPTH,
    MAX_LOGIC_DEPTH,
    MAX_ORDER_TERMS,
    MAX_SELECT_COLUMNS,
)

LOG_DEADLINE = 30.0  # seconds to wait for the node to write a request's log line
LONGEST_LOG_LINE = 1000  # characters: a request line is short whatever the request


@pytest.fixture(scope="module")
def anon(node: Node) -> RestActor:
    return RestActor(node, "anonymous", node.anon_key)


@pytest.fixture(scope="module")
def market(service: RestActor) -> dict[str, Any]:
    created: dict[str, Any] = service.call(
        "create_market", title=f"Abuse {uuid.uuid4().hex[:6]}", outcomes=["Home", "Away"]
    )
    return created


# --- the log ---------------------------------------------------------------------------------


def log_offset(node: Node) -> int:
    return node.log_path.stat().st_size


def logged_through(node: Node, offset: int, marker: str) -> str:
    """What the node logged from `offset` to the end of the request line holding `marker`
    (waiting for it: the line is written once the answer is sent)."""
    deadline = time.monotonic() + LOG_DEADLINE
    while True:
        with node.log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        end = text.find(marker)
        if end != -1:
            line_end = text.find("\n", end)
            return text if line_end == -1 else text[: line_end + 1]
        assert time.monotonic() < deadline, f"no log line with {marker!r}: {text[-2000:]}"
        time.sleep(0.1)


def assert_logged_short(node: Node, offset: int, marker: str) -> None:
    text = logged_through(node, offset, marker)
    assert "Traceback" not in text, text[:3000]
    longest = max(text.splitlines(), key=len)
    assert len(longest) <= LONGEST_LOG_LINE, f"a log line of {len(longest)} characters"


def request_line(path: str) -> str:
    return f'"path": "{path}"'


# --- refusals, surface by surface --------------------------------------------------------------


def refused_by_postgrest(answer: httpx.Response, code: str, limit: int) -> dict[str, Any]:
    assert answer.status_code == 400, answer.text
    body: dict[str, Any] = answer.json()
    assert set(body) == {"code", "message", "details", "hint"}, body
    assert body["code"] == code, body
    assert str(limit) in body["message"], body
    return body


def refused_by_gotrue(answer: httpx.Response, limit: int) -> None:
    """GoTrue's first error shape: the request names no API version (surfaces/gotrue/errors.py)."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["code"], body["error_code"]) == (400, "validation_failed"), body
    assert str(limit) in body["msg"], body
    assert "x-supabase-api-version" not in answer.headers


def refused_by_betmarket(answer: httpx.Response, limit: int) -> None:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert str(limit) in body["error"], body


# --- logic trees, conditions, select, order ------------------------------------------------------


def nested(operator: str, depth: int, leaf: str = "id.gt.0") -> str:
    """A logic tree `depth` levels deep: or=(or(or(...(leaf)...)))."""
    inner = leaf
    for _ in range(depth - 1):
        inner = f"{operator}({inner})"
    return f"({inner})"


@pytest.mark.parametrize("key", ["or", "and", "not.or", "not.and"])
@pytest.mark.parametrize("depth", [MAX_LOGIC_DEPTH + 1, 157])
def test_a_logic_tree_nested_deeper_than_the_limit_is_a_400(
    node: Node, anon: RestActor, key: str, depth: int
) -> None:
    operator = key.removeprefix("not.")
    offset = log_offset(node)
    answer = anon.get("markets", {"select": "id", key: nested(operator, depth)})
    refused_by_postgrest(answer, "PGRST100", MAX_LOGIC_DEPTH)
    assert_logged_short(node, offset, request_line("/rest/v1/markets"))


def test_not_chains_inside_a_tree_count_as_levels(anon: RestActor) -> None:
    inner = "id.gt.0"
    for level in range(MAX_LOGIC_DEPTH):
        inner = f"{'not.or' if level % 2 else 'not.and'}({inner})"
    answer = anon.get("markets", {"select": "id", "or": f"({inner})"})
    refused_by_postgrest(answer, "PGRST100", MAX_LOGIC_DEPTH)


def test_a_logic_tree_as_deep_as_the_limit_works(anon: RestActor, market: dict[str, Any]) -> None:
    leaf = f"id.eq.{market['id']}"
    answer = anon.get("markets", {"select": "id", "or": nested("and", MAX_LOGIC_DEPTH, leaf)})
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"id": market["id"]}]


def test_more_conditions_than_the_limit_are_a_400(anon: RestActor, market: dict[str, Any]) -> None:
    many = [("id", "gt.0")] * (MAX_CONDITIONS + 1)
    refused_by_postgrest(anon.get("markets", many), "PGRST100", MAX_CONDITIONS)
    in_a_tree = ",".join(["id.gt.0"] * MAX_CONDITIONS)
    answer = anon.get("markets", [("id", "gt.0"), ("or", f"({in_a_tree})")])
    refused_by_postgrest(answer, "PGRST100", MAX_CONDITIONS)
    just_enough = [("id", f"eq.{market['id']}"), *[("id", "gt.0")] * (MAX_CONDITIONS - 1)]
    answer = anon.get("markets", [("select", "id"), *just_enough])
    assert answer.status_code == 200, answer.text
    assert answer.json() == [{"id": market["id"]}]


@pytest.mark.parametrize(
    "where",
    [
        ("title", r"match.^(.*)\1$"),
        ("title", r"imatch.(a)\1"),
        ("title", r"match(any).{x,(y)\1}"),
        ("or", r"(title.match.(a)\1,id.gt.0)"),
        ("title", r"not.match.(.)\9"),
    ],
)
def test_a_regex_with_a_backreference_is_refused_before_it_runs(
    anon: RestActor, where: tuple[str, str]
) -> None:
    answer = anon.get("markets", [("select", "id"), where])
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["code"], "backreference" in body["message"]) == ("PGRST100", True), body


def test_a_regex_without_a_backreference_runs(anon: RestActor, market: dict[str, Any]) -> None:
    # an escaped backslash before a digit is a literal backslash, not a backreference
    title = anon.get("markets", {"select": "id,title", "id": f"eq.{market['id']}"}).json()[0]
    for pattern in ("^" + title["title"][:3], r"\\1|" + title["title"][:3], r"[0-9]{1,3}|."):
        answer = anon.get(
            "markets", {"select": "id", "id": f"eq.{market['id']}", "title": f"match.{pattern}"}
        )
        assert answer.status_code == 200, (pattern, answer.text)
        assert answer.json() == [{"id": market["id"]}], pattern


@pytest.mark.parametrize("width", [MAX_SELECT_COLUMNS + 1, 1700])
def test_a_select_wider_than_the_limit_is_a_400(node: Node, anon: RestActor, width: int) -> None:
    offset = log_offset(node)
    answer = anon.get("markets", {"select": ",".join(["id"] * width)})
    refused_by_postgrest(answer, "PGRST100", MAX_SELECT_COLUMNS)
    assert_logged_short(node, offset, request_line("/rest/v1/markets"))


def test_stars_count_as_every_column_they_stand_for(anon: RestActor) -> None:
    stars = ",".join(["*"] * 60)
    refused_by_postgrest(anon.get("markets", {"select": stars}), "PGRST100", MAX_SELECT_COLUMNS)
    assert anon.get("markets", {"select": "*", "limit": "1"}).status_code == 200


def test_a_select_as_wide_as_the_limit_works(anon: RestActor, market: dict[str, Any]) -> None:
    columns = ",".join(f"c{i}:id" for i in range(MAX_SELECT_COLUMNS))
    answer = anon.get("markets", {"select": columns, "id": f"eq.{market['id']}"})
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()
    assert len(row) == MAX_SELECT_COLUMNS and set(row.values()) == {market["id"]}


def test_more_order_terms_than_the_limit_are_a_400(anon: RestActor) -> None:
    terms = ",".join(["id.desc"] * (MAX_ORDER_TERMS + 1))
    refused_by_postgrest(anon.get("markets", {"order": terms}), "PGRST100", MAX_ORDER_TERMS)
    split = [("order", "id"), *[("order", "title")] * MAX_ORDER_TERMS]
    refused_by_postgrest(anon.get("markets", split), "PGRST100", MAX_ORDER_TERMS)
    enough = ",".join(["id.desc"] * MAX_ORDER_TERMS)
    answer = anon.get("markets", {"select": "id", "order": enough, "limit": "1"})
    assert answer.status_code == 200, answer.text


# --- JSON bodies --------------------------------------------------------------------------------


def deep_json(depth: int) -> bytes:
    """An object whose one value nests arrays until the whole is `depth` levels deep."""
    return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.fixture(scope="module")
def bettor(node: Node) -> RestActor:
    return new_user(node, "deep_body")


@pytest.fixture(scope="module")
def player(node: Node) -> User:
    return register(betmarket_client(node.url), "deep_body")


def post_raw(node: Node, path: str, body: bytes, token: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json", "apikey": node.anon_key}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return client(node.url).post(path, content=body, headers=headers)


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2000])
@pytest.mark.parametrize(
    "path", ["/rest/v1/rpc/get_wallet", "/rest/v1/rpc/create_market", "/rest/v1/rpc/nowhere"]
)
def test_a_rest_body_nested_deeper_than_the_limit_is_a_400(
    node: Node, bettor: RestActor, path: str, depth: int
) -> None:
    offset = log_offset(node)
    answer = post_raw(node, path, deep_json(depth), bettor.token)
    refused_by_postgrest(answer, "PGRST102", MAX_JSON_DEPTH)
    assert_logged_short(node, offset, request_line(path))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2000])
@pytest.mark.parametrize("path", ["/auth/v1/signup", "/auth/v1/token?grant_type=password"])
def test_an_auth_body_nested_deeper_than_the_limit_is_a_400(
    node: Node, path: str, depth: int
) -> None:
    offset = log_offset(node)
    refused_by_gotrue(post_raw(node, path, deep_json(depth)), MAX_JSON_DEPTH)
    assert_logged_short(node, offset, request_line(path.partition("?")[0]))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2000])
@pytest.mark.parametrize(
    "path", ["/api/auth/register", "/api/auth/login", "/api/bet", "/api/balance"]
)
def test_a_betmarket_body_nested_deeper_than_the_limit_is_a_400(
    node: Node, player: User, path: str, depth: int
) -> None:
    offset = log_offset(node)
    refused_by_betmarket(post_raw(node, path, deep_json(depth), player.token), MAX_JSON_DEPTH)
    assert_logged_short(node, offset, request_line(path))


def test_brackets_inside_strings_are_not_nesting(node: Node, bettor: RestActor) -> None:
    text = "[{" * 5000
    answer = post_raw(node, "/rest/v1/rpc/get_wallet", f'{{"a": "{text}"}}'.encode(), bettor.token)
    assert answer.status_code == 404 and answer.json()["code"] == "PGRST202", answer.text


def test_a_body_as_deep_as_the_limit_is_parsed(node: Node, bettor: RestActor) -> None:
    answer = post_raw(node, "/rest/v1/rpc/get_wallet", deep_json(MAX_JSON_DEPTH), bettor.token)
    # parsed: the arguments are read, and there is no get_wallet(a)
    assert answer.status_code == 404 and answer.json()["code"] == "PGRST202", answer.text


def found(call: Callable[[], httpx.Response]) -> httpx.Response:
    """A call of a probe function, again while the node's schema cache has not read it yet."""
    deadline = time.monotonic() + LOG_DEADLINE
    while (answer := call()).status_code == 404 and time.monotonic() < deadline:
        time.sleep(0.2)
    return answer


def test_a_json_argument_in_a_query_string_is_bounded_too(anon: RestActor, probes: str) -> None:
    fine = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    answer = found(lambda: anon.get(f"rpc/{probes}_echo", {"j": fine}))
    assert answer.status_code == 200 and answer.text.startswith("[["), answer.text
    for depth in (MAX_JSON_DEPTH + 1, 2000):
        deep = "[" * depth + "]" * depth
        answer = anon.get(f"rpc/{probes}_echo", {"j": deep})
        refused_by_postgrest(answer, "PGRST100", MAX_JSON_DEPTH)


# --- numeric arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("stake", ["0x10", "  1000 ", "1000", "1e3", ""])
def test_a_string_for_a_numeric_argument_is_a_400_naming_it(
    bettor: RestActor, market: dict[str, Any], stake: str
) -> None:
    outcome = market["outcomes"][0]["outcome_id"]
    answer = bettor.rpc(
        "preview_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": stake}
    )
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "22P02", body
    assert "stake" in body["message"] and "number" in body["message"], body


def test_a_string_for_an_id_is_refused_too_and_numbers_work(
    bettor: RestActor, market: dict[str, Any]
) -> None:
    outcome = market["outcomes"][0]["outcome_id"]
    answer = bettor.rpc(
        "preview_wager", {"market_id": str(market["id"]), "outcome_id": outcome, "stake": 1000}
    )
    assert answer.status_code == 400 and "market_id" in answer.json()["message"], answer.text
    answer = bettor.rpc(
        "preview_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": 1000}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["stake"] == 1000


@pytest.mark.parametrize("written", ["0x{id:x}", " {id} ", "{id} ", "+{id}", "{id}e0", "{id}.0e0"])
def test_a_query_argument_for_a_number_must_be_a_plain_decimal(
    anon: RestActor, market: dict[str, Any], written: str
) -> None:
    value = written.format(id=market["id"])
    answer = anon.get("rpc/get_market_depth", {"market_id": value, "window": "5m"})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "22P02" and "market_id" in body["message"], body


def test_a_plain_decimal_query_argument_works(anon: RestActor, market: dict[str, Any]) -> None:
    answer = anon.get("rpc/get_market_depth", {"market_id": str(market["id"]), "window": "5m"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["market_id"] == market["id"]


def test_an_array_of_numbers_takes_numbers_only(anon: RestActor, probes: str) -> None:
    summed = found(lambda: anon.rpc(f"{probes}_sum", {"xs": [1, 2, None]}))
    assert summed.status_code == 200 and summed.json() == 3, summed.text
    for xs in ([1, "0x10"], ["1"], [[1], [" 2"]]):
        answer = anon.rpc(f"{probes}_sum", {"xs": xs})
        assert answer.status_code == 400 and answer.json()["code"] == "22P02", answer.text
        assert "xs" in answer.json()["message"], answer.text
    assert anon.get(f"rpc/{probes}_sum", {"xs": "{4,5}"}).json() == 9
    assert anon.get(f"rpc/{probes}_sum", {"xs": "{-4,NULL,5}"}).json() == 1
    assert anon.get(f"rpc/{probes}_sum", [("xs", "4"), ("xs", "5")]).json() == 9
    for written in ("{4,0x10}", "{4, 5}", "{+4}"):
        answer = anon.get(f"rpc/{probes}_sum", {"xs": written})
        assert answer.status_code == 400 and answer.json()["code"] == "22P02", answer.text
    answer = anon.get(f"rpc/{probes}_sum", [("xs", "4"), ("xs", " 5")])
    assert answer.status_code == 400 and "xs" in answer.json()["message"], answer.text


# --- the log line ------------------------------------------------------------------------------


def test_a_long_path_is_logged_as_one_short_line(node: Node, anon: RestActor) -> None:
    marker = f"zz{uuid.uuid4().hex}"
    offset = log_offset(node)
    answer = anon.get(marker + "a" * 12000)
    assert answer.status_code == 404, answer.text
    assert_logged_short(node, offset, marker)
