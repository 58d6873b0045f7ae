"""A virtual market's draw and its settlement (docs/provably-fair.md): the scheduler closes it on
schedule, draws from the wagers taken and settles it once, paying the winners (by the market's
kind); roulette's pockets and dice's thresholds; a void refunds everyone and the scheduler reveals
the seed, with the draw it did not use. Every draw recomputed here in Python."""

import hashlib
import json
import secrets

import pytest

from tests.db.helpers import balance, escrow, house, wager
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, persona
from tests.db.virtual import (
    INITIAL,
    assert_recomputed,
    bet,
    draw_row,
    make_due,
    make_virtual,
    py_client_seed,
    py_hmac,
    py_label,
    py_number,
    scalar,
    tick,
)
from tests.pgserver import Connection

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
