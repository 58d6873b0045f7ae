"""/rest/v1 over raw HTTP, the shapes of an answer beyond JSON (docs/rest.md): CSV, `Prefer:
return=minimal` on calls and the counts of `Prefer: count=`, and PostgREST's messages for what
does not parse. `.csv()` through the official client: tests/api/supabase_client/."""

import csv
import io
import json
import uuid

import httpx
import pytest

from tests.api.rest_support import Derby, refused

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
