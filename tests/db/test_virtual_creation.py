"""Creating a provably-fair virtual market (docs/provably-fair.md) publishes the hash of its seed
and never the seed: each market its own seed, dice outcomes from the threshold, and the
refusals."""

import hashlib
import json
from typing import Any

from tests.db.personas import Persona, detail
from tests.db.virtual import FAR, bet, draw_row, make_virtual
from tests.pgserver import Connection

# Creation: the hash is public, the seed is nobody's -------------------------------------------


def test_creation_publishes_the_hash_and_never_the_seed(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_virtual(admin)
    seed = draw_row(conn, market.id)["server_seed"]
    assert len(seed) == 64 and set(seed) <= set("0123456789abcdef")
    assert market.row["server_seed_hash"] == hashlib.sha256(seed.encode()).hexdigest()
    assert seed not in json.dumps(market.row)
    assert list(market.outcomes) == ["Red", "Black", "Green"]
    assert (market.row["category"], market.row["kind"], market.row["status"]) == (
        "virtual",
        "parimutuel",
        "open",
    )
    assert (market.row["template"], market.row["params"], market.row["nonce"]) == (
        "roulette",
        {},
        market.id,
    )
    bet(bettor, market, "Red", 100)

    for who in (anon, bettor, admin):
        who.denied("select * from app.virtual_draws")
        who.denied("select server_seed from app.virtual_draws")
        shown = who.rows(
            "select to_jsonb(d) from public.virtual_draws as d where market_id = %s", [market.id]
        )
        assert len(shown) == 1
        row = shown[0][0]
        assert row["server_seed_hash"] == market.row["server_seed_hash"]
        assert (row["revealed"], row["server_seed"], row["hmac"], row["result"]) == (
            False,
            None,
            None,
            None,
        )
        answer = who.call("verify_draw", market_id=market.id)
        assert answer["revealed"] is False and answer["drawn"] is False
        assert "server_seed" not in answer and "hmac" not in answer
        seen = json.dumps([row, answer, who.rows("select to_jsonb(m) from public.markets as m")])
        assert seed not in seen, who.name
    audit = admin.rows(
        "select action, after::text from public.admin_actions where market_id = %s order by id",
        [market.id],
    )
    assert [action for action, _ in audit] == ["create_market", "create_virtual_market"]
    assert all(seed not in after for _, after in audit)
    assert market.row["server_seed_hash"] in audit[1][1]


def test_each_market_gets_its_own_seed(conn: Connection, admin: Persona) -> None:
    seeds = {draw_row(conn, make_virtual(admin).id)["server_seed"] for _ in range(5)}
    assert len(seeds) == 5


def test_dice_outcomes_follow_the_threshold(admin: Persona) -> None:
    default = make_virtual(admin, "dice")
    assert list(default.outcomes) == ["Under 50.00", "Over 50.00"]
    assert default.row["params"] == {"threshold": 5000}
    low = make_virtual(admin, "dice", threshold=1, kind="fixed_odds")
    assert list(low.outcomes) == ["Under 0.01", "Over 0.01"]
    assert low.row["kind"] == "fixed_odds"
    assert list(make_virtual(admin, "dice", threshold=9999).outcomes) == [
        "Under 99.99",
        "Over 99.99",
    ]


def test_creation_refusals(admin: Persona, bettor: Persona, anon: Persona) -> None:
    def refused(
        key: str, template: str = "dice", closes_at: Any = FAR, **options: Any
    ) -> dict[str, Any]:
        error = admin.refused(
            key,
            "create_virtual_market",
            template=template,
            title="t",
            closes_at=closes_at,
            options=options,
        )
        return dict(detail(error))

    assert refused("invalid_argument", template="poker")["argument"] == "template"
    assert refused("invalid_argument", closes_at=None)["argument"] == "closes_at"
    assert refused("invalid_argument", closes_at="2000-01-01T00:00:00Z")["argument"] == "closes_at"
    for threshold in (0, 10000, 12.5, "50"):
        assert refused("invalid_option", threshold=threshold)["option"] == "threshold"
    assert refused("invalid_option", template="roulette", threshold=5000)["option"] == "threshold"
    assert refused("invalid_option", category="real")["option"] == "category"
    assert refused("invalid_option", status="closed")["option"] == "status"
    assert refused("invalid_option", kind="tote")["option"] == "kind"
    assert refused("invalid_option", colour="red")["option"] == "colour"
    error = admin.refused(
        "invalid_option",
        "create_virtual_market",
        template="roulette",
        title="t",
        closes_at=FAR,
        options={"closes_at": FAR},
    )
    assert detail(error)["option"] == "closes_at"
    bettor.refused("not_admin", "create_virtual_market", template="dice", title="t", closes_at=FAR)
    anon.denied("select public.create_virtual_market('dice', 't', now() + interval '1 day')")
