"""Queries through the official supabase client: `.single()`, `.maybe_single()` and head
counts; an admin's RPC rows filtered, and stable functions called with GET; embedded resources,
full-text search and CSV."""

import uuid
from collections.abc import Callable
from typing import Any

from supabase import Client

from tests.api.supabase_client.calls import (
    EXACT,
    error,
    new_market,
    obj,
    outcome_ids,
    rows,
)
from tests.support.supabase_users import SupabaseUser


def test_single_maybe_single_and_head_count(
    bettor: Callable[[], SupabaseUser[Client]], market: dict[str, Any]
) -> None:
    eve = bettor()
    home, away = outcome_ids(eve.client, market["id"])
    for outcome in (home, away):
        eve.client.rpc(
            "place_wager", {"market_id": market["id"], "outcome_id": outcome, "stake": 100}
        ).execute()

    one = eve.client.table("my_wagers").select("outcome_id").eq("outcome_id", away).single()
    assert one.execute().data == {"outcome_id": away}
    none = error(lambda: eve.client.table("my_wagers").select("*").eq("id", -1).single().execute())
    assert none.code == "PGRST116" and none.details == "The result contains 0 rows"
    many = error(lambda: eve.client.table("my_wagers").select("*").single().execute())
    assert many.code == "PGRST116" and many.details == "The result contains 2 rows"
    assert eve.client.table("my_wagers").select("*").eq("id", -1).maybe_single().execute() is None

    counted = eve.client.table("my_wagers").select("*", count=EXACT, head=True).execute()
    assert counted.count == 2 and counted.data == []
    nothing = eve.client.table("my_wagers").select("*", count=EXACT).eq("stake", 12345).execute()
    assert nothing.count == 0 and nothing.data == []


def test_admin_rpc_rows_take_filters_and_stable_functions_take_get(
    admin: SupabaseUser[Client], bettor: Callable[[], SupabaseUser[Client]]
) -> None:
    held = new_market(admin, "Approval Cup", requires_approval=True)
    fay = bettor()
    home, away = outcome_ids(fay.client, held["id"])
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

    volatile = error(lambda: fay.client.rpc("get_wallet", {}, get=True).execute())
    assert volatile.code == "PGRST101"
    refused = error(lambda: fay.client.rpc("admin_list_pending_wagers", {}).execute())
    assert (refused.code, refused.message) == ("PT403", "not_admin")


def test_embedding_full_text_search_and_csv_through_the_client(
    admin: SupabaseUser[Client], bettor: Callable[[], SupabaseUser[Client]]
) -> None:
    """What apps ask of supabase-js, through supabase-py's equivalents: `select` with embedded
    resources (filtered, ordered, limited through `foreign_table`/`reference_table`),
    `.text_search()` and its shorthands, and `.csv()`."""
    word = uuid.uuid4().hex[:8]
    market = new_market(admin, f"Client Derby {word}")
    gil = bettor()
    home, away = outcome_ids(gil.client, market["id"])
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
    ambiguous = error(lambda: markets.select("id, outcomes(id)").execute())
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
