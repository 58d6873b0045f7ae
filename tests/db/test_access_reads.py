"""Access, reads: each bettor reads only their own wallet, wagers and ledger; anonymous callers read
no money at all; admins read every wallet, wager and ledger entry; drafts are invisible to all
but admins; settlement records and open markets are public; telemetry and the admin log are for
admins only."""

import pytest

from tests.db.helpers import make_market
from tests.db.personas import Persona
from tests.pgserver import Connection

# reads -------------------------------------------------------------------------------------------

OWN_ROWS = {
    "public.my_wallet": "user_id",
    "public.my_wagers": "user_id",
    "public.my_ledger": "user_id",
    "public.wallets": "user_id",
    "public.wagers": "user_id",
    "public.wager_results": "user_id",
    "public.ledger": "user_id",
    "app.accounts": "user_id",
    "app.wagers": "user_id",
    "app.ledger_entries": "user_id",
    "app.profiles": "user_id",
}


@pytest.fixture
def two_bettors_with_money(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_market(admin)
    for who, amount in ((bettor, 1000), (other, 2000)):
        who.call("deposit", amount=amount)
        who.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=amount)
        who.call("withdraw", amount=1)
    # both lose: a result each, and no ledger entry of theirs
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[1])


@pytest.mark.usefixtures("two_bettors_with_money")
def test_a_bettor_reads_only_their_own_wallet_wagers_and_ledger(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    for relation, column in OWN_ROWS.items():
        for me, them in ((bettor, other), (other, bettor)):
            owners = [owner for (owner,) in me.rows(f"select {column} from {relation}")]
            assert owners, relation
            assert set(owners) == {me.user_id}, relation
            assert me.rows(f"select 1 from {relation} where {column} = %s", [them.user_id]) == []
    assert bettor.rows("select count(*) from public.my_ledger") == [(4,)]
    assert bettor.rows("select balance from public.my_wallet") == [(10000 + 1000 - 1000 - 1,)]
    assert bettor.rows("select id from app.ledger_transactions") == []
    bettor.denied("select * from app.idempotency_keys")


@pytest.mark.usefixtures("two_bettors_with_money")
def test_anonymous_callers_read_no_money_at_all(anon: Persona) -> None:
    for relation in (
        "public.my_wallet",
        "public.my_wagers",
        "public.my_ledger",
        "public.wallets",
        "public.wagers",
        "public.wager_results",
        "public.ledger",
        "public.admin_actions",
        "public.quote_telemetry",
        "app.accounts",
        "app.wagers",
        "app.ledger_entries",
        "app.ledger_transactions",
        "app.idempotency_keys",
        "auth.users",
    ):
        anon.denied(f"select * from {relation}")


@pytest.mark.usefixtures("two_bettors_with_money")
def test_admins_read_every_wallet_wager_and_ledger_entry(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    for relation, superuser_query in (
        ("public.wallets", "select user_id from app.accounts where kind = 'user'"),
        ("public.wagers", "select user_id from app.wagers"),
        (
            "public.wager_results",
            "select user_id from app.wagers where settlement in ('won', 'lost')",
        ),
        ("public.ledger", "select user_id from app.ledger_entries where user_id is not null"),
    ):
        seen = sorted(str(u) for (u,) in admin.rows(f"select user_id from {relation}"))
        assert seen == sorted(str(u) for (u,) in conn.execute(superuser_query).fetchall())
        assert {str(bettor.user_id), str(other.user_id)} <= set(seen)
    assert admin.rows("select user_id from public.my_wallet") == []


def test_drafts_are_invisible_to_everyone_but_admins(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    draft = make_market(admin, status="draft")
    shown = make_market(admin)
    for market in (draft, shown):
        conn.execute("select app._snapshot_market(%s, 'interval')", [market.id])
    for who in (bettor, anon):
        for market, count in ((draft, 0), (shown, 2)):
            assert who.rows(
                "select count(*) from public.pool_snapshots where market_id = %s", [market.id]
            ) == [(count,)]
        assert who.rows(
            "select id from public.markets where id = any(%s)", [[draft.id, shown.id]]
        ) == [(shown.id,)]
        assert who.rows(
            "select count(*) from public.outcomes where market_id = %s", [draft.id]
        ) == [(0,)]
        assert who.rows(
            "select count(*) from public.outcomes where market_id = %s", [shown.id]
        ) == [(2,)]
    assert admin.rows("select status from public.markets where id = %s", [draft.id]) == [("draft",)]
    assert admin.rows("select count(*) from public.outcomes where market_id = %s", [draft.id]) == [
        (2,)
    ]
    assert admin.rows(
        "select count(*) from public.pool_snapshots where market_id = %s", [draft.id]
    ) == [(2,)]


def test_settlement_records_and_open_markets_are_public(
    admin: Persona, anon: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    assert anon.rows(
        "select winning_outcome_id from public.settlements where market_id = %s", [market.id]
    ) == [(market.outcomes[0],)]
    assert anon.rows("select status from public.markets where id = %s", [market.id]) == [
        ("settled",)
    ]


def test_telemetry_and_the_admin_log_are_for_admins_only(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    bettor.call("preview_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100)
    assert bettor.rows("select count(*) from public.quote_telemetry") == [(0,)]
    assert bettor.rows("select count(*) from public.admin_actions") == [(0,)]
    assert bettor.rows("select count(*) from app.quote_telemetry") == [(0,)]
    assert admin.rows(
        "select user_id from public.quote_telemetry where market_id = %s", [market.id]
    ) == [(bettor.user_id,)]
    assert admin.rows(
        "select action from public.admin_actions where market_id = %s", [market.id]
    ) == [("create_market",)]
