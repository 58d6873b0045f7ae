"""/rest/v1 driven by the official, unmodified supabase client: bettors deposit, wager and read
their own rows; another bettor sees none of them; the engine's refusals arrive as
`postgrest.APIError` with the documented codes; writes to views are refused."""

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import psycopg
import pytest
from postgrest import APIError
from postgrest.types import CountMethod
from supabase import Client, create_client

from tests.serving import Node

PASSWORD = "correct horse 1"


EXACT = CountMethod.exact


def rows(response: Any) -> list[dict[str, Any]]:
    """A response's rows (the client types `data` as any JSON)."""
    return cast(list[dict[str, Any]], response.data)


def obj(response: Any) -> dict[str, Any]:
    """A response's JSON object (a scalar RPC result or `.single()`)."""
    assert isinstance(response.data, dict), response.data
    return cast(dict[str, Any], response.data)


@dataclass
class Person:
    client: Client
    user_id: str
    email: str


def _sign_up(node: Node, email: str) -> Person:
    client = create_client(node.url, node.anon_key)
    session = client.auth.sign_up({"email": email, "password": PASSWORD}).session
    assert session is not None and session.user is not None
    return Person(client, session.user.id, email)


@pytest.fixture
def bettor(node: Node, unique: Callable[[str], str]) -> Callable[[], Person]:
    return lambda: _sign_up(node, f"{unique('bettor')}@example.test")


@pytest.fixture(scope="module")
def admin(node: Node, api_database: str) -> Iterator[Person]:
    """A user promoted at the database (as `wagerbase users promote` does), then signed in again
    so that the token carries app_metadata.role = admin."""
    email = f"admin_{uuid.uuid4().hex[:8]}@example.test"
    _sign_up(node, email)
    with psycopg.connect(api_database, autocommit=True) as conn:
        conn.execute("select app._set_admin(%s, true)", [email])
    client = create_client(node.url, node.anon_key)
    session = client.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session
    assert session is not None and session.user is not None
    assert session.user.app_metadata.get("role") == "admin"
    yield Person(client, session.user.id, email)


def _market(admin: Person, title: str, **options: Any) -> dict[str, Any]:
    return obj(
        admin.client.rpc(
            "create_market",
            {"title": title, "outcomes": ["Home", "Away"], "options": options},
        ).execute()
    )


@pytest.fixture(scope="module")
def market(admin: Person) -> dict[str, Any]:
    return _market(admin, "Client FC v Server United")


def _outcome_ids(client: Client, market_id: int) -> list[int]:
    outcomes = client.table("outcomes").select("id").eq("market_id", market_id).order("position")
    return [row["id"] for row in rows(outcomes.execute())]


def _error(call: Callable[[], Any]) -> APIError:
    with pytest.raises(APIError) as caught:
        call()
    return caught.value


def test_a_bettor_deposits_wagers_and_reads_own_rows(
    bettor: Callable[[], Person], market: dict[str, Any]
) -> None:
    ana = bettor()
    home, away = _outcome_ids(ana.client, market["id"])

    deposit = ana.client.rpc("deposit", {"amount": 5000, "idempotency_key": "d1"}).execute()
    assert obj(deposit)["balance"] == 15000  # the 100.00 grant, then 50.00
    first = ana.client.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 1000}
    ).execute()
    assert obj(first)["stake"] == 1000 and obj(first)["balance"] == 14000
    ana.client.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": away, "stake": 300}
    ).execute()

    mine = (
        ana.client.table("my_wagers")
        .select("id, stake, outcome_id, user_id", count=EXACT)
        .eq("market_id", market["id"])
        .order("stake", desc=True)
        .limit(10)
        .execute()
    )
    assert mine.count == 2
    assert [(w["stake"], w["outcome_id"]) for w in rows(mine)] == [(1000, home), (300, away)]
    assert {w["user_id"] for w in rows(mine)} == {ana.user_id}

    big = (
        ana.client.table("wagers")
        .select("stake")
        .eq("user_id", ana.user_id)
        .gte("stake", 500)
        .lte("stake", 5000)
        .execute()
    )
    assert big.data == [{"stake": 1000}]
    outcomes = ana.client.table("my_wagers").select("stake").in_("outcome_id", [away, -1]).execute()
    assert outcomes.data == [{"stake": 300}]
    page = ana.client.table("my_wagers").select("stake", count=EXACT).range(1, 1).execute()
    assert page.count == 2 and len(rows(page)) == 1

    wallet = ana.client.table("my_wallet").select("*").single().execute()
    assert obj(wallet)["user_id"] == ana.user_id and obj(wallet)["balance"] == 13700


def test_another_bettor_gets_no_one_elses_rows(
    bettor: Callable[[], Person], market: dict[str, Any]
) -> None:
    ana, ben = bettor(), bettor()
    home, _ = _outcome_ids(ana.client, market["id"])
    ana.client.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 200}
    ).execute()

    assert ben.client.table("wagers").select("*").eq("user_id", ana.user_id).execute().data == []
    theirs = ben.client.table("wagers").select("id", count=EXACT).execute()
    assert theirs.count == 0 and theirs.data == []
    assert ben.client.table("ledger").select("*").eq("user_id", ana.user_id).execute().data == []
    wallets = rows(ben.client.table("wallets").select("user_id").execute())
    assert all(w["user_id"] == ben.user_id for w in wallets)
    # the admin-only views answer with no rows, not with someone's data
    assert ben.client.table("admin_actions").select("*").execute().data == []


def test_engine_refusals_arrive_with_their_codes(
    bettor: Callable[[], Person], market: dict[str, Any], node: Node
) -> None:
    cy = bettor()
    home, _ = _outcome_ids(cy.client, market["id"])

    cy.client.rpc("withdraw", {"amount": 9900}).execute()
    broke = _error(
        lambda: cy.client.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 500}
        ).execute()
    )
    assert (broke.code, broke.message) == ("PT402", "insufficient_funds")
    assert json.loads(str(broke.details))["balance"] == 100

    moved = _error(
        lambda: cy.client.rpc(
            "place_wager",
            {"market_id": market["id"], "outcome_id": home, "stake": 50, "expected_odds": 7.5},
        ).execute()
    )
    assert (moved.code, moved.message) == ("PT409", "odds_changed")
    assert "current_odds" in json.loads(str(moved.details))

    not_admin = _error(
        lambda: cy.client.rpc("create_market", {"title": "Mine", "outcomes": ["a", "b"]}).execute()
    )
    assert (not_admin.code, not_admin.message) == ("PT403", "not_admin")

    anon = create_client(node.url, node.anon_key)
    nobody = _error(
        lambda: anon.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 50}
        ).execute()
    )
    assert nobody.code == "42501"
    assert cy.client.table("my_wagers").select("id").execute().data == []


def test_writes_to_views_are_refused(
    bettor: Callable[[], Person], market: dict[str, Any], node: Node
) -> None:
    dee = bettor()
    home, _ = _outcome_ids(dee.client, market["id"])
    wager = {"market_id": market["id"], "outcome_id": home, "stake": 1, "user_id": dee.user_id}
    attempts: list[Callable[[], Any]] = [
        lambda: dee.client.table("wagers").insert(wager).execute(),
        lambda: dee.client.table("wagers").upsert(wager).execute(),
        lambda: (
            dee.client.table("my_wallet")
            .update({"balance": 10**9})
            .eq("user_id", dee.user_id)
            .execute()
        ),
        lambda: dee.client.table("ledger").delete().eq("user_id", dee.user_id).execute(),
    ]
    for attempt in attempts:
        refused = _error(attempt)
        assert refused.code == "42501"
    anon = create_client(node.url, node.anon_key)
    assert _error(lambda: anon.table("markets").insert({"title": "x"}).execute()).code == "42501"
    wallet = dee.client.table("my_wallet").select("balance").execute().data
    assert wallet in ([], [{"balance": 10000}])
    assert dee.client.table("my_wagers").select("id").execute().data == []


def test_single_maybe_single_and_head_count(
    bettor: Callable[[], Person], market: dict[str, Any]
) -> None:
    eve = bettor()
    home, away = _outcome_ids(eve.client, market["id"])
    for outcome in (home, away):
        eve.client.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": 100}
        ).execute()

    one = eve.client.table("my_wagers").select("outcome_id").eq("outcome_id", away).single()
    assert one.execute().data == {"outcome_id": away}
    none = _error(lambda: eve.client.table("my_wagers").select("*").eq("id", -1).single().execute())
    assert none.code == "PGRST116" and none.details == "The result contains 0 rows"
    many = _error(lambda: eve.client.table("my_wagers").select("*").single().execute())
    assert many.code == "PGRST116" and many.details == "The result contains 2 rows"
    assert eve.client.table("my_wagers").select("*").eq("id", -1).maybe_single().execute() is None

    counted = eve.client.table("my_wagers").select("*", count=EXACT, head=True).execute()
    assert counted.count == 2 and counted.data == []
    nothing = eve.client.table("my_wagers").select("*", count=EXACT).eq("stake", 12345).execute()
    assert nothing.count == 0 and nothing.data == []


def test_admin_rpc_rows_take_filters_and_stable_functions_take_get(
    admin: Person, bettor: Callable[[], Person]
) -> None:
    held = _market(admin, "Approval Cup", requires_approval=True)
    fay = bettor()
    home, away = _outcome_ids(fay.client, held["id"])
    for outcome, stake in ((home, 100), (away, 200), (home, 300)):
        placed = fay.client.rpc(
            "place_wager", {"market_id": held["id"], "outcome_id": outcome, "stake": stake}
        ).execute()
        assert obj(placed)["approval"] == "pending"

    pending = (
        admin.client.rpc("admin_list_pending_wagers", {"market_id": held["id"]}, count=EXACT)
        .select("wager_id, stake, outcome_label")
        .eq("outcome_id", home)
        .order("stake", desc=True)
        .limit(1)
        .execute()
    )
    ((wager,),) = [rows(pending)]
    assert wager == {"wager_id": wager["wager_id"], "stake": 300, "outcome_label": "Home"}
    assert pending.count == 2

    summary = admin.client.rpc("house_summary", {}, get=True).execute()
    assert obj(summary)
    as_get = admin.client.rpc("admin_list_pending_wagers", {"market_id": held["id"]}, get=True)
    assert len(rows(as_get.execute())) == 3

    volatile = _error(lambda: fay.client.rpc("get_wallet", {}, get=True).execute())
    assert volatile.code == "PGRST101"
    refused = _error(lambda: fay.client.rpc("admin_list_pending_wagers", {}).execute())
    assert (refused.code, refused.message) == ("PT403", "not_admin")


def test_embedding_full_text_search_and_csv_through_the_client(
    admin: Person, bettor: Callable[[], Person]
) -> None:
    """What apps ask of supabase-js, through supabase-py's equivalents: `select` with embedded
    resources (filtered, ordered, limited through `foreign_table`/`reference_table`),
    `.text_search()` and its shorthands, and `.csv()`."""
    word = uuid.uuid4().hex[:8]
    market = _market(admin, f"Client Derby {word}")
    gil = bettor()
    home, away = _outcome_ids(gil.client, market["id"])
    for outcome, stake in ((home, 100), (away, 250)):
        gil.client.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": stake}
        ).execute()

    markets = gil.client.table("markets")
    embedded = (
        markets.select("id, title, outcomes!market_id(label, position)")
        .eq("id", market["id"])
        .order("position", desc=True, foreign_table="outcomes")
        .execute()
    )
    assert rows(embedded) == [
        {
            "id": market["id"],
            "title": f"Client Derby {word}",
            "outcomes": [{"label": "Away", "position": 2}, {"label": "Home", "position": 1}],
        }
    ]
    first = (
        markets.select("outcomes!market_id(label)")
        .eq("id", market["id"])
        .order("position", foreign_table="outcomes")
        .limit(1, foreign_table="outcomes")
        .execute()
    )
    assert rows(first) == [{"outcomes": [{"label": "Home"}]}]
    mine = (
        gil.client.table("my_wagers")
        .select("stake, market:markets(title), outcomes!outcome_id!inner(label)", count=EXACT)
        .eq("outcomes.label", "Away")
        .execute()
    )
    assert rows(mine) == [
        {"stake": 250, "market": {"title": f"Client Derby {word}"}, "outcomes": {"label": "Away"}}
    ]
    assert mine.count == 1
    either = (
        markets.select("outcomes!market_id(label)")
        .eq("id", market["id"])
        .or_("label.eq.Home,label.eq.Draw", reference_table="outcomes")
        .execute()
    )
    assert rows(either) == [{"outcomes": [{"label": "Home"}]}]
    ambiguous = _error(lambda: markets.select("id, outcomes(id)").execute())
    assert ambiguous.code == "PGRST201" and "outcomes!outcomes_market_id_fkey" in str(
        ambiguous.hint
    )

    def found(query: Any) -> list[Any]:
        return [row["id"] for row in rows(query.execute())]

    ids = markets.select("id")
    assert found(ids.text_search("title", f"{word} & derbies", {"config": "english"})) == [
        market["id"]
    ]
    assert found(ids.text_search("title", f"derby {word}", {"type": "plain"})) == [market["id"]]
    assert found(ids.text_search("title", f"client derby {word}", {"type": "phrase"})) == [
        market["id"]
    ]
    assert found(ids.text_search("title", f'"derby {word}" -cup', {"type": "web_search"})) == [
        market["id"]
    ]
    assert found(ids.fts("title", f"{word} & client")) == [market["id"]]
    assert found(ids.wfts("title", f"{word} -client")) == []

    table = (
        gil.client.table("my_wagers")
        .select("stake, outcome_label")
        .eq("market_id", market["id"])
        .order("stake")
        .csv()
        .execute()
    )
    assert table.data == "stake,outcome_label\n100,Home\n250,Away"


@pytest.fixture
def anonymous_sign_ins(node: Node) -> Iterator[None]:
    """Anonymous sign-ins on (an engine setting, off by default), off again afterwards."""

    def switch(on: bool) -> None:
        service = create_client(node.url, node.service_key)
        assert obj(
            service.rpc("update_settings", {"settings": {"anonymous_sign_ins": on}}).execute()
        )

    switch(True)
    try:
        yield
    finally:
        switch(False)


@pytest.mark.usefixtures("anonymous_sign_ins")
def test_an_anonymous_user_plays_with_the_grant_but_withdraws_only_once_converted(
    node: Node, market: dict[str, Any], unique: Callable[[str], str]
) -> None:
    """What an anonymous user may do with money (docs/api.md, "Anonymous users"): they get the
    sign-up grant and deposit and wager like anyone; money leaves only for a user with an email."""
    guest = create_client(node.url, node.anon_key)
    signed_in = guest.auth.sign_in_anonymously()
    assert signed_in.user is not None and signed_in.user.is_anonymous
    home, _ = _outcome_ids(guest, market["id"])

    assert obj(guest.rpc("get_wallet", {}).execute())["balance"] == 10000  # the grant
    placed = guest.rpc(
        "place_wager", {"market_id": market["id"], "outcome_id": home, "stake": 700}
    ).execute()
    assert obj(placed)["balance"] == 9300
    assert obj(guest.rpc("deposit", {"amount": 500}).execute())["balance"] == 9800
    refused = _error(lambda: guest.rpc("withdraw", {"amount": 100}).execute())
    assert (refused.code, refused.message) == ("PT403", "anonymous_user")
    assert obj(guest.rpc("get_wallet", {}).execute())["balance"] == 9800
    mine = guest.table("my_wagers").select("stake, user_id").execute()
    assert rows(mine) == [{"stake": 700, "user_id": signed_in.user.id}]

    email = f"{unique('guest')}@example.test"
    guest.auth.update_user({"email": email, "password": PASSWORD})
    # the same token, the same wallet: the database decides, and they have an email now
    assert obj(guest.rpc("withdraw", {"amount": 100}).execute())["balance"] == 9700
