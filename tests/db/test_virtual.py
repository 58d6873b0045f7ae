"""Provably-fair virtual markets (docs/provably-fair.md): a committed seed nobody reads before it is
revealed, a close on schedule only, a draw fixed at close and settled once by the scheduler, and
every draw recomputed here, independently of the SQL, with Python's hashlib and hmac."""

import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, make_users
from tests.db.concurrent import all_at_once
from tests.db.helpers import balance, escrow, house, make_market, superuser_refused, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail, persona
from tests.db.stream import StreamReader
from tests.pgserver import Connection

FAR = "2999-01-01T00:00:00Z"
INITIAL = 10000

# European roulette's red pockets, written out here rather than read from the SQL.
RED = {1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36}


# The draw, again, in Python -------------------------------------------------------------------


def py_client_seed(market_id: int, wager_ids: list[int]) -> str:
    text = f"{market_id}:" + ",".join(str(i) for i in sorted(wager_ids))
    return hashlib.sha256(text.encode()).hexdigest()


def py_hmac(server_seed: str, client_seed: str, nonce: int) -> bytes:
    return hmac.new(server_seed.encode(), f"{client_seed}:{nonce}".encode(), "sha256").digest()


def py_number(mac: bytes, limit: int) -> int:
    """BetService's formula as written: sum(byte_i / 256^(i+1)) over four bytes, times the limit,
    rounded down (exact in a double: 32 bits of fraction times a limit below 2^14)."""
    fraction: float = sum(mac[i] / 256 ** (i + 1) for i in range(4))
    return math.floor(fraction * limit)


def py_label(template: str, number: int, threshold: int = 5000) -> str:
    if template == "roulette":
        return "Green" if number == 0 else "Red" if number in RED else "Black"
    side = "Under" if number < threshold else "Over"
    return f"{side} {threshold / 100:.2f}"


@dataclass(frozen=True)
class Virtual:
    id: int
    outcomes: dict[str, int]  # label -> outcome id
    row: dict[str, Any]


def make_virtual(creator: Persona, template: str = "roulette", **options: Any) -> Virtual:
    row = creator.call(
        "create_virtual_market",
        template=template,
        title=f"Virtual {template}",
        closes_at=FAR,
        options=options,
    )
    return Virtual(row["id"], {o["label"]: o["outcome_id"] for o in row["outcomes"]}, row)


def bet(who: Persona, market: Virtual, label: str, stake: int) -> int:
    row = who.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[label], stake=stake
    )
    return int(row["id"])


def scalar(conn: Connection, query: str, params: list[Any] | None = None) -> Any:
    """The single value a query returns, as the superuser."""
    row = conn.execute(query, params or []).fetchone()
    assert row is not None
    return row[0]


def make_due(conn: Connection, market_id: int) -> None:
    """closes_at one second ago (as the superuser: the clock of the test's transaction is fixed)."""
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 second' where id = %s", [market_id]
    )


def tick(conn: Connection) -> dict[str, Any]:
    row = conn.execute("select app.scheduler_tick()").fetchone()
    assert row is not None
    return dict(row[0])


def draw_row(conn: Connection, market_id: int) -> dict[str, Any]:
    """The draw as the superuser, the seed included."""
    cursor = conn.execute("select * from app.virtual_draws where market_id = %s", [market_id])
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {c.name: v for c, v in zip(cursor.description, row, strict=True)}


def market_status(conn: Connection, market_id: int) -> str:
    row = conn.execute("select status from app.markets where id = %s", [market_id]).fetchone()
    assert row is not None
    return str(row[0])


def assert_recomputed(
    market: Virtual, answer: dict[str, Any], wager_ids: list[int], threshold: int = 5000
) -> None:
    """verify_draw's answer, checked step by step against the Python draw."""
    template = answer["template"]
    seed = answer["server_seed"]
    assert hashlib.sha256(seed.encode()).hexdigest() == answer["server_seed_hash"]
    client_seed = py_client_seed(market.id, wager_ids)
    assert answer["client_seed"] == client_seed
    assert answer["nonce"] == market.id
    mac = py_hmac(seed, client_seed, market.id)
    assert answer["hmac"] == mac.hex()
    number = py_number(mac, 37 if template == "roulette" else 10000)
    assert answer["result"] == number
    label = py_label(template, number, threshold)
    assert answer["outcome"] == {
        "outcome_id": market.outcomes[label],
        "position": list(market.outcomes).index(label) + 1,
        "label": label,
    }


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


# Nobody picks the result -----------------------------------------------------------------------


def test_before_closes_at_nobody_closes_settles_or_proposes(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_virtual(admin)
    bet(bettor, market, "Black", 300)
    for outcome in market.outcomes.values():
        error = admin.refused(
            "virtual_market", "settle_market", market_id=market.id, outcome_id=outcome
        )
        assert detail(error)["action"] == "close"
        admin.refused(
            "virtual_market", "propose_settlement", market_id=market.id, outcome_id=outcome
        )
    admin.refused("virtual_market", "close_market", market_id=market.id)
    admin.refused(
        "virtual_market", "require_settlement_confirmation", market_id=market.id, required=True
    )
    assert market_status(conn, market.id) == "open"
    assert draw_row(conn, market.id)["client_seed"] is None
    # and the scheduler leaves it alone until closes_at
    assert market.id not in tick(conn)["closed"]
    assert market_status(conn, market.id) == "open"


def test_after_the_draw_no_admin_settles_it_whatever_the_outcome(
    conn: Connection, admin: Persona, bettor: Persona, service_role: Persona
) -> None:
    """Once closed (here by close_market, past closes_at), the draw is fixed but still secret: a
    settlement with any outcome is refused the same way, so trying outcomes reveals nothing."""
    market = make_virtual(admin)
    bet(bettor, market, "Green", 200)
    make_due(conn, market.id)
    admin.call("close_market", market_id=market.id)
    assert draw_row(conn, market.id)["client_seed"] is not None
    details = []
    for who in (admin, service_role):
        for outcome in market.outcomes.values():
            error = who.refused(
                "virtual_market", "settle_market", market_id=market.id, outcome_id=outcome
            )
            details.append(detail(error))
        who.refused(
            "virtual_market",
            "propose_settlement",
            market_id=market.id,
            outcome_id=market.outcomes["Red"],
        )
    assert all(d == details[0] for d in details)
    assert market_status(conn, market.id) == "closed"
    assert draw_row(conn, market.id)["revealed_at"] is None
    assert tick(conn)["drawn"] == [market.id]
    assert market_status(conn, market.id) == "settled"


# The draw and its settlement --------------------------------------------------------------------


def test_the_scheduler_closes_draws_and_settles_it_once_paying_the_winners(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona, anon: Persona
) -> None:
    third = persona(conn, "third")
    market = make_virtual(admin)
    stakes = [
        (bettor, "Red", 1000),
        (other, "Black", 2000),
        (third, "Green", 500),
        (bettor, "Black", 300),
    ]
    ids = [bet(who, market, label, amount) for who, label, amount in stakes]
    house_before = house(conn)
    make_due(conn, market.id)

    first = tick(conn)
    assert first["locked"] is True
    assert market.id in first["closed"] and first["drawn"] == [market.id]
    assert first["draw_failed"] == []
    second = tick(conn)
    assert second["drawn"] == [] and market.id not in second["closed"]
    assert (
        scalar(conn, "select count(*) from app.settlements where market_id = %s", [market.id]) == 1
    )

    # the draw, again, from the revealed seed, in Python
    draw = draw_row(conn, market.id)
    seed = draw["server_seed"]
    client_seed = py_client_seed(market.id, ids)
    mac = py_hmac(seed, client_seed, market.id)
    pocket = py_number(mac, 37)
    label = py_label("roulette", pocket)
    winner = market.outcomes[label]
    assert (draw["client_seed"], draw["hmac"], draw["result"]) == (client_seed, mac.hex(), pocket)
    assert draw["wager_ids"] == sorted(ids) and draw["reveal_reason"] == "settled"

    settled = conn.execute(
        "select status, winning_outcome_id from app.markets where id = %s", [market.id]
    ).fetchone()
    assert settled == ("settled", winner)
    record = conn.execute(
        "select winning_outcome_id, settled_by, total_pool from app.settlements"
        " where market_id = %s",
        [market.id],
    ).fetchone()
    assert record == (winner, None, 3800)

    # parimutuel as usual: 5% rake off 3800, the rest shared by the winning stakes, rounded down
    net = 3800 - 3800 * 500 // 10000
    winning_pool = sum(amount for _, lbl, amount in stakes if lbl == label)
    paid = {
        who.name: sum(
            amount * net // winning_pool for w, lbl, amount in stakes if w is who and lbl == label
        )
        for who, _, _ in stakes
    }
    staked = {who.name: sum(a for w, _, a in stakes if w is who) for who, _, _ in stakes}
    for who in (bettor, other, third):
        assert balance(conn, who) == INITIAL - staked[who.name] + paid[who.name], who.name
    assert house(conn) == house_before + 3800 - sum(paid.values())
    assert escrow(conn, market.id) == 0
    for wager_id, (_, lbl, _) in zip(ids, stakes, strict=True):
        assert wager(conn, wager_id)["settlement"] == ("won" if lbl == label else "lost")

    # anyone verifies it now; verify_draw recomputes rather than copies
    for who in (anon, bettor):
        answer = who.call("verify_draw", market_id=market.id)
        assert answer["revealed"] is True and answer["verified"] is True
        assert answer["server_seed"] == seed and answer["wager_ids"] == sorted(ids)
        assert answer["client_seed_input"] == f"{market.id}:" + ",".join(map(str, sorted(ids)))
        assert answer["settled_outcome_id"] == winner
        assert_recomputed(market, answer, ids)
        shown = who.rows(
            "select server_seed, result from public.virtual_draws where market_id = %s", [market.id]
        )
        assert shown == [(seed, pocket)]
    audit = conn.execute(
        "select action, actor_role from app.admin_actions where market_id = %s order by id",
        [market.id],
    ).fetchall()
    # the scheduler does all three, and says so
    assert audit[-3:] == [
        ("close_market", "scheduler"),
        ("reveal_draw", "scheduler"),
        ("settle_market", "scheduler"),
    ]
    assert_invariants(conn)


def test_a_market_without_wagers_draws_from_its_id_alone(
    conn: Connection, admin: Persona, anon: Persona
) -> None:
    market = make_virtual(admin, "dice", threshold=2500)
    make_due(conn, market.id)
    assert tick(conn)["drawn"] == [market.id]
    answer = anon.call("verify_draw", market_id=market.id)
    assert answer["client_seed_input"] == f"{market.id}:" and answer["wager_ids"] == []
    assert answer["client_seed"] == hashlib.sha256(f"{market.id}:".encode()).hexdigest()
    assert answer["verified"] is True
    assert_recomputed(market, answer, [], threshold=2500)


def test_pending_wagers_at_close_are_outside_the_draw_and_refunded(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_virtual(admin, "dice", requires_approval=True)
    accepted = bet(bettor, market, "Under 50.00", 400)
    admin.call("approve_wager", wager_id=accepted)
    pending = bet(other, market, "Over 50.00", 700)
    make_due(conn, market.id)
    admin.call("close_market", market_id=market.id)
    assert draw_row(conn, market.id)["wager_ids"] == [accepted]
    # the wagers in play are those it was drawn with
    admin.refused("virtual_market", "approve_wager", wager_id=pending)

    assert tick(conn)["drawn"] == [market.id]
    assert wager(conn, pending)["approval"] == "rejected"
    assert balance(conn, other) == INITIAL
    draw = draw_row(conn, market.id)
    assert draw["client_seed"] == py_client_seed(market.id, [accepted])


def test_dice_markets_settle_on_their_thresholds(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    markets = {
        threshold: make_virtual(admin, "dice", threshold=threshold)
        for threshold in (1, 2500, 5000, 7500, 9999)
    }
    for threshold, market in markets.items():
        under, over = market.outcomes.values()
        bet(bettor, market, f"Under {threshold / 100:.2f}", 100)
        bet(bettor, market, f"Over {threshold / 100:.2f}", 100)
        make_due(conn, market.id)
        assert (under, over) == tuple(market.outcomes.values())
    assert sorted(tick(conn)["drawn"]) == sorted(m.id for m in markets.values())
    for threshold, market in markets.items():
        answer = anon.call("verify_draw", market_id=market.id)
        roll = answer["result"]
        assert answer["result_text"] == f"{roll / 100:.2f}"
        side = "Under" if roll < threshold else "Over"
        winner = market.outcomes[f"{side} {threshold / 100:.2f}"]
        assert (
            scalar(conn, "select winning_outcome_id from app.markets where id = %s", [market.id])
            == winner
        )
        ids = [int(i) for i in answer["wager_ids"]]
        assert_recomputed(market, answer, ids, threshold=threshold)


def test_dice_at_the_threshold_is_over_and_just_below_is_under(conn: Connection) -> None:
    """A seed and a client seed found here whose roll is known, then drawn by the SQL with the
    threshold at the roll (Over: a roll below the threshold is Under) and one above it."""
    seed = secrets.token_hex(32)
    nonce = 7
    for i in range(1000):
        client_seed = hashlib.sha256(str(i).encode()).hexdigest()
        roll = py_number(py_hmac(seed, client_seed, nonce), 10000)
        if 2 <= roll <= 9998:
            break
    for threshold, position in ((roll, 2), (roll + 1, 1), (roll - 1, 2)):
        drawn = scalar(
            conn,
            "select app._virtual_draw('dice', %s, %s, %s, %s)",
            [json.dumps({"threshold": threshold}), seed, client_seed, nonce],
        )
        assert drawn == {
            "hmac": py_hmac(seed, client_seed, nonce).hex(),
            "result": roll,
            "position": position,
        }


def test_every_roulette_pocket_has_its_colour(conn: Connection) -> None:
    positions = {"Red": 1, "Black": 2, "Green": 3}
    for pocket in range(37):
        position = scalar(conn, "select app._draw_position('roulette', '{}', %s)", [pocket])
        assert position == positions[py_label("roulette", pocket)], pocket
    reds = scalar(
        conn,
        "select count(*) from generate_series(0, 36) as p"
        " where app._draw_position('roulette', '{}', p) = 1",
    )
    assert reds == 18


# Final, and the void ----------------------------------------------------------------------------


def test_a_drawn_settlement_is_final(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    market = make_virtual(admin)
    bet(bettor, market, "Red", 500)
    bet(other, market, "Black", 500)
    make_due(conn, market.id)
    tick(conn)
    winner = scalar(conn, "select winning_outcome_id from app.markets where id = %s", [market.id])
    loser = next(o for o in market.outcomes.values() if o != winner)
    before = conn.execute("select id, balance from app.accounts order by id").fetchall()

    admin.refused("virtual_market", "unsettle_market", market_id=market.id, reason="redo")
    admin.refused(
        "virtual_market", "resettle_market", market_id=market.id, outcome_id=loser, reason="redo"
    )
    admin.refused("already_settled", "settle_market", market_id=market.id, outcome_id=winner)
    admin.refused("already_settled", "void_market", market_id=market.id, reason="no")
    assert conn.execute("select id, balance from app.accounts order by id").fetchall() == before

    # the superuser cannot rewrite it either (short of dropping the triggers)
    superuser_refused(
        conn, "virtual_market", "delete from app.settlements where market_id = %s", [market.id]
    )
    for change in (
        "server_seed = repeat('0', 64),"
        " server_seed_hash = encode(sha256(convert_to(repeat('0', 64), 'UTF8')), 'hex')",
        "result = result + 1",  # always a change (the draw may have been 0)
        "revealed_at = null, reveal_reason = null, revealed_xact = null",
    ):
        superuser_refused(
            conn,
            "virtual_market",
            f"update app.virtual_draws set {change} where market_id = %s",
            [market.id],
        )
    superuser_refused(
        conn, "virtual_market", "delete from app.virtual_draws where market_id = %s", [market.id]
    )
    assert_invariants(conn)


def test_void_refunds_everyone_and_the_scheduler_reveals_the_seed(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_virtual(admin)
    bet(bettor, market, "Green", 800)
    admin.call("void_market", market_id=market.id, reason="table closed")
    assert balance(conn, bettor) == INITIAL
    # not in the voiding transaction: nobody holds a transaction where the seed is readable
    assert anon.call("verify_draw", market_id=market.id)["revealed"] is False
    assert tick(conn)["voids_revealed"] == [market.id]
    assert tick(conn)["voids_revealed"] == []

    answer = anon.call("verify_draw", market_id=market.id)
    seed = draw_row(conn, market.id)["server_seed"]
    assert answer["server_seed"] == seed and answer["reveal_reason"] == "void"
    assert hashlib.sha256(seed.encode()).hexdigest() == answer["server_seed_hash"]
    # voided before it closed: nothing was drawn, the seed only has to match its commitment
    assert (answer["drawn"], answer["seed_matches_hash"], answer["verified"]) == (False, True, True)
    assert "hmac" not in answer and "client_seed" not in answer


def test_a_market_voided_after_its_draw_shows_the_draw_it_did_not_use(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    market = make_virtual(admin, "dice")
    wager_id = bet(bettor, market, "Over 50.00", 250)
    make_due(conn, market.id)
    admin.call("close_market", market_id=market.id)
    admin.call("void_market", market_id=market.id, reason="dealer error")
    result = tick(conn)
    assert result["drawn"] == [] and result["voids_revealed"] == [market.id]
    assert balance(conn, bettor) == INITIAL
    answer = anon.call("verify_draw", market_id=market.id)
    assert answer["verified"] is True and answer["outcome_matches_settlement"] is None
    assert_recomputed(market, answer, [wager_id])


# Reading ----------------------------------------------------------------------------------------


def test_verify_draw_recomputes_and_catches_a_tampered_record(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    """verify_draw redoes the draw from the seed: a record edited behind the triggers' back (the
    superuser in replica mode) shows as a mismatch, next to the true values."""
    market = make_virtual(admin)
    wager_id = bet(bettor, market, "Red", 100)
    make_due(conn, market.id)
    tick(conn)
    true = anon.call("verify_draw", market_id=market.id)
    assert true["verified"] is True
    wrong = next(o for o in market.outcomes.values() if o != true["outcome"]["outcome_id"])
    conn.execute("set local session_replication_role = replica")
    conn.execute(
        "update app.virtual_draws set hmac = repeat('0', 64), result = 0 where market_id = %s",
        [market.id],
    )
    conn.execute("update app.markets set winning_outcome_id = %s where id = %s", [wrong, market.id])
    conn.execute("set local session_replication_role = origin")

    answer = anon.call("verify_draw", market_id=market.id)
    assert (answer["hmac"], answer["result"], answer["outcome"]) == (
        true["hmac"],
        true["result"],
        true["outcome"],
    )
    assert (answer["draw_matches"], answer["outcome_matches_settlement"]) == (False, False)
    assert (answer["seed_matches_hash"], answer["client_seed_matches"]) == (True, True)
    assert answer["verified"] is False
    assert_recomputed(market, answer, [wager_id])


def test_verify_draw_refusals_and_drafts(
    conn: Connection, admin: Persona, bettor: Persona, anon: Persona
) -> None:
    real = make_market(admin)
    anon.refused("not_virtual", "verify_draw", market_id=real.id)
    anon.refused("market_not_found", "verify_draw", market_id=-1)
    draft = make_virtual(admin, "dice", status="draft")
    for who in (anon, bettor):
        who.refused("market_not_found", "verify_draw", market_id=draft.id)
        assert who.rows(
            "select count(*) from public.virtual_draws where market_id = %s", [draft.id]
        ) == [(0,)]
    assert (
        admin.call("verify_draw", market_id=draft.id)["server_seed_hash"]
        == draft.row["server_seed_hash"]
    )
    admin.call("open_market", market_id=draft.id)
    assert anon.call("verify_draw", market_id=draft.id)["status"] == "open"


def test_a_real_market_is_untouched_by_the_gates(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin, "parimutuel", category="virtual")
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100)
    admin.call("settle_market", market_id=market.id, outcome_id=market.outcomes[0])
    admin.call("unsettle_market", market_id=market.id, reason="check")
    assert market_status(conn, market.id) == "closed"


# The HMAC ---------------------------------------------------------------------------------------

# RFC 4231, test cases 1 to 4, 6 and 7 (case 5 truncates its output; it is checked as a prefix).
RFC_4231 = [
    (
        "0b" * 20,
        b"Hi There",
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    ),
    (
        b"Jefe".hex(),
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        "aa" * 20,
        bytes.fromhex("dd" * 50),
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        "0102030405060708090a0b0c0d0e0f10111213141516171819",
        bytes.fromhex("cd" * 50),
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (
        "0c" * 20,
        b"Test With Truncation",
        "a3b6167473100ee06e0c796c2955552b",
    ),
    (
        "aa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (
        "aa" * 131,
        b"This is a test using a larger than block-size key and a larger than block-size data."
        b" The key needs to be hashed before being used by the HMAC algorithm.",
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    ),
]


def sql_hmac(conn: Connection, key: bytes, message: bytes) -> str:
    return str(scalar(conn, "select encode(app._hmac_sha256(%s, %s), 'hex')", [key, message]))


def test_the_sql_hmac_matches_rfc_4231_and_python(conn: Connection) -> None:
    for key_hex, message, expected in RFC_4231:
        key = bytes.fromhex(key_hex)
        mac = sql_hmac(conn, key, message)
        assert mac.startswith(expected)
        assert mac == hmac.new(key, message, "sha256").hexdigest()


def test_the_sql_hmac_matches_python_for_keys_of_every_size(conn: Connection) -> None:
    for size in (0, 1, 32, 63, 64, 65, 128, 200, 1000):
        key = secrets.token_bytes(size)
        for message in (b"", b"x", secrets.token_bytes(300)):
            assert sql_hmac(conn, key, message) == hmac.new(key, message, "sha256").hexdigest()


def test_the_draw_number_uses_four_bytes_exactly(conn: Connection) -> None:
    def number(mac: bytes, limit: int) -> int:
        return int(scalar(conn, "select app._draw_number(%s, %s)", [mac, limit]))

    assert number(bytes(32), 37) == 0
    assert number(b"\xff" * 4 + bytes(28), 37) == 36
    assert number(b"\xff" * 4 + bytes(28), 10000) == 9999
    for _ in range(50):
        mac = secrets.token_bytes(32)
        for limit in (37, 10000):
            assert number(mac, limit) == py_number(mac, limit)


# Two schedulers ---------------------------------------------------------------------------------


def test_two_schedulers_racing_settle_each_draw_once(fresh_db: Callable[[], str]) -> None:
    url = fresh_db()
    users = make_users(url, ["ana", "ben"])
    boss = make_users(url, ["boss"], admin=True)["boss"]
    markets: list[dict[str, Any]] = []
    with Actor(url, boss, admin=True) as admin:
        for template in ("roulette", "dice", "roulette", "dice"):
            markets.append(
                admin.call("create_virtual_market", template=template, title="race", closes_at=FAR)
            )
    for market in markets:
        for name, position in (("ana", 0), ("ben", 1)):
            with Actor(url, users[name]) as bettor:
                bettor.call(
                    "place_wager",
                    market_id=market["id"],
                    outcome_id=market["outcomes"][position]["outcome_id"],
                    stake=100,
                )
    ids = [m["id"] for m in markets]
    stream = StreamReader(url, channels=("wagerbase_market",))
    with psycopg.connect(url) as conn:
        conn.execute(
            "update app.markets set closes_at = now() - interval '1 second' where id = any(%s)",
            [ids],
        )
        conn.commit()

    def scheduler(function: str) -> Callable[[int], Any]:
        def run(_: int) -> Any:
            with psycopg.connect(url) as conn:
                row = conn.execute(f"select app.{function}()").fetchone()
                conn.commit()
                assert row is not None
                return row[0]

        return run

    # whole ticks: the advisory lock lets one node do the round
    ticks = all_at_once(2, scheduler("scheduler_tick"))
    assert not any(isinstance(t, psycopg.Error) for t in ticks), ticks
    drawn = [i for t in ticks for i in t["drawn"]]
    assert sorted(drawn) == sorted(ids)
    assert all(t["draw_failed"] == [] for t in ticks)

    # the settling step alone, without the lock: skip locked still settles each market once
    more: list[dict[str, Any]] = []
    with Actor(url, boss, admin=True) as admin:
        for _ in range(4):
            more.append(
                admin.call("create_virtual_market", template="dice", title="again", closes_at=FAR)
            )
    more_ids = [m["id"] for m in more]
    with psycopg.connect(url) as conn:
        conn.execute(
            "update app.markets set closes_at = now() - interval '1 second' where id = any(%s)",
            [more_ids],
        )
        conn.execute("select app.close_due_markets()")
        conn.commit()
    results = all_at_once(4, scheduler("settle_virtual_draws"))
    assert not any(isinstance(r, psycopg.Error) for r in results), results
    settled = [i for r in results for i in r["drawn"]]
    assert sorted(settled) == sorted(more_ids)
    assert all(r["failed"] == [] for r in results)

    with psycopg.connect(url) as conn:
        counts = conn.execute(
            "select market_id, count(*) from app.settlements where market_id = any(%s)"
            " group by market_id",
            [ids + more_ids],
        ).fetchall()
        assert sorted(counts) == sorted((i, 1) for i in ids + more_ids)
        reveals = scalar(
            conn,
            "select count(*) from app.admin_actions where action = 'reveal_draw'"
            " and market_id = any(%s)",
            [ids + more_ids],
        )
        assert reveals == len(ids + more_ids)
        assert_invariants(conn)
    with Actor(url, None) as anon:
        for market_id in ids + more_ids:
            assert anon.call("verify_draw", market_id=market_id)["verified"] is True

    # each seed announced once, with the draw it made
    revealed = [m for _, m in stream.read() if m["type"] == "draw_revealed"]
    stream.close()
    assert sorted(m["market_id"] for m in revealed) == sorted(ids + more_ids)
    for message in revealed:
        seed = message["server_seed"]
        assert hashlib.sha256(seed.encode()).hexdigest() == message["server_seed_hash"]
        mac = py_hmac(seed, message["client_seed"], message["market_id"])
        limit = 37 if message["template"] == "roulette" else 10000
        assert message["result"] == py_number(mac, limit)
        assert message["status"] == "settled" and message["reveal_reason"] == "settled"


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_a_fixed_odds_or_parimutuel_virtual_market_pays_by_its_kind(
    conn: Connection, admin: Persona, bettor: Persona, kind: str
) -> None:
    market = make_virtual(admin, "dice", kind=kind)
    under = bettor.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes["Under 50.00"], stake=1000
    )
    make_due(conn, market.id)
    tick(conn)
    won = wager(conn, under["id"])
    roll = draw_row(conn, market.id)["result"]
    if roll < 5000:
        expected = under["potential_payout"] if kind == "fixed_odds" else 1000 - 1000 * 500 // 10000
        assert (won["settlement"], won["payout"]) == ("won", expected)
    elif kind == "fixed_odds":
        assert (won["settlement"], won["payout"]) == ("lost", 0)
    else:
        # parimutuel with no stake on the drawn outcome: every stake back, as for any market
        assert (won["settlement"], won["payout"]) == ("void", 1000)
