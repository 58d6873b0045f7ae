"""House games (docs/house-games.md): each player's seed pairs, whose server seed nobody reads
before its owner rotates it; dice, limbo and roulette, each bet one transaction, recomputed here
from the revealed seed by the Python model (tests/support/house_fair.py); every refusal changes
nothing and uses no nonce; a key replays its bet; the settings an admin changes, logged."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.db.helpers import house, ledger_snapshot, make_market, scalar, superuser_refused
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail, persona
from tests.db.stream import Live, one
from tests.pgserver import Connection
from tests.support import house_fair as fair

INITIAL = 10000


def play(who: Persona, game: str, params: dict[str, Any], **extra: Any) -> Any:
    return who.call(f"play_{game}", **params, **extra)


def model(game: str, seeds: tuple[str, str], nonce: int, params: dict[str, Any]) -> fair.Play:
    """What the Python model says a bet of the default edge (1%) draws and pays."""
    stake = params["stake"]
    if game == "dice":
        return fair.dice(seeds, nonce, stake, params["target"], params["over"], 100)
    if game == "limbo":
        return fair.limbo(seeds, nonce, stake, params["target_multiplier"], 100)
    return fair.roulette(seeds, nonce, stake, params["bet"])


def plan(count: int) -> list[tuple[str, dict[str, Any]]]:
    """`count` bets going through each game's range of choices: dice both ways from the edges of
    the targets to the middle, limbo from 1.01x to 50x, every roulette bet."""
    targets = (1, 199, 2500, 4950, 5000, 7500, 9000, 9800, 9998)
    # a win of 1.00 must pay more than it: chance 98.00% at most (over from 1.99, under to 98.00)
    dice = [
        (t, over) for t in targets for over in (True, False) if (t >= 199 if over else t <= 9800)
    ]
    limbo = [101, 110, 150, 200, 333, 500, 1000, 5000]
    bets: list[tuple[str, dict[str, Any]]] = []
    for i in range(count):
        game = ("dice", "limbo", "roulette")[i % 3]
        stake = 100 * (1 + i % 9)  # at most 900: 9900x of it stays below the max profit
        if game == "dice":
            target, over = dice[i // 3 % len(dice)]
            bets.append((game, {"stake": stake, "target": target, "over": over}))
        elif game == "limbo":
            bets.append((game, {"stake": stake, "target_multiplier": limbo[i // 3 % len(limbo)]}))
        else:
            bet = fair.ROULETTE_BETS[i // 3 % len(fair.ROULETTE_BETS)]
            bets.append((game, {"stake": stake, "bet": bet}))
    return bets


def state(conn: Connection, who: Persona) -> tuple[Any, ...]:
    """Everything a play could change: the books, the player's seed pairs (nonces, reveals), the
    bets and the player's idempotency keys."""
    return (
        ledger_snapshot(conn),
        conn.execute(
            "select id, next_nonce, revealed_at from app.seed_pairs where user_id = %s order by id",
            [who.user_id],
        ).fetchall(),
        scalar(conn, "select count(*) from app.house_bets"),
        scalar(conn, "select count(*) from app.idempotency_keys where user_id = %s", [who.user_id]),
    )


def secret(conn: Connection, who: Persona) -> str:
    """The server seed of the player's active pair, as the superuser."""
    row = conn.execute(
        "select server_seed from app.seed_pairs where user_id = %s and revealed_at is null",
        [who.user_id],
    ).fetchone()
    assert row is not None
    return str(row[0])


# seeds -------------------------------------------------------------------------------------------


def test_a_player_s_pair_is_made_on_first_use_and_shows_only_its_commitment(
    bettor: Persona,
) -> None:
    first = bettor.call("get_seed")
    assert set(first) == {
        "seed_pair_id",
        "server_seed_hash",
        "client_seed",
        "next_nonce",
        "created_at",
        "revealed",
    }
    assert (first["next_nonce"], first["revealed"]) == (0, False)
    assert len(first["server_seed_hash"]) == 64 and len(first["client_seed"]) == 32
    assert bettor.call("get_seed") == first


def test_bets_are_what_the_seed_revealed_later_draws_and_pays(
    conn: Connection, bettor: Persona
) -> None:
    """Ninety bets of every kind; then the rotation reveals the seed, whose SHA-256 is the hash
    shown before the first bet, and the Python model redraws every bet from it: result, won,
    multiplier, payout, id, nonce, and each balance after."""
    bettor.call("deposit", amount=1_000_000)
    shown = bettor.call("get_seed")
    bets = plan(90)
    answers = [play(bettor, game, params) for game, params in bets]
    rotated = bettor.call("rotate_seed", client_seed="after")
    assert "server_seed" not in rotated["revealed"]
    revealed = bettor.call("get_revealed_seed", server_seed_hash=shown["server_seed_hash"])

    assert fair.sha256_hex(revealed["server_seed"]) == shown["server_seed_hash"]
    assert (revealed["next_nonce"], revealed["last_nonce"]) == (90, 89)
    seeds = (revealed["server_seed"], shown["client_seed"])
    balance = INITIAL + 1_000_000
    won = 0
    for nonce, ((game, params), answer) in enumerate(zip(bets, answers, strict=True)):
        expected = model(game, seeds, nonce, params)
        assert answer["nonce"] == nonce
        assert answer["id"] == fair.bet_id(shown["server_seed_hash"], shown["client_seed"], nonce)
        assert (answer["result"], answer["won"], answer["payout"]) == (
            expected.result,
            expected.won,
            expected.payout,
        ), (game, params, nonce)
        assert Decimal(str(answer["multiplier"])) == expected.multiplier
        assert (answer["server_seed_hash"], answer["client_seed"]) == (
            shown["server_seed_hash"],
            shown["client_seed"],
        )
        balance += expected.payout - params["stake"]
        assert answer["balance"] == balance
        won += expected.won
    assert 0 < won < 90
    viewed = bettor.rows(
        "select id, game, nonce, payout, won, server_seed, multiplier from public.house_bets"
        " order by nonce"
    )
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in viewed] == [
        (a["id"], g, a["nonce"], a["payout"], a["won"])
        for (g, _), a in zip(bets, answers, strict=True)
    ]
    assert {r[5] for r in viewed} == {revealed["server_seed"]}
    assert [r[6] for r in viewed] == [
        model(g, seeds, n, p).multiplier for n, (g, p) in enumerate(bets)
    ]
    assert_invariants(conn)


def test_nonces_count_the_bets_and_a_rotation_starts_a_new_pair_at_zero(
    conn: Connection, bettor: Persona
) -> None:
    old = bettor.call("get_seed")
    nonces = [bettor.call("play_roulette", stake=100, bet="odd")["nonce"] for _ in range(5)]
    assert nonces == [0, 1, 2, 3, 4]
    assert bettor.call("get_seed")["next_nonce"] == 5

    rotated = bettor.call("rotate_seed", client_seed="my own seed: 42!")
    assert rotated["revealed"] == {
        **old,
        "next_nonce": 5,
        "last_nonce": 4,
        "revealed": True,
        "revealed_at": rotated["revealed"]["revealed_at"],
    }
    new = rotated["active"]
    assert (new["client_seed"], new["next_nonce"], new["revealed"]) == (
        "my own seed: 42!",
        0,
        False,
    )
    assert new["server_seed_hash"] != old["server_seed_hash"]
    assert bettor.call("get_seed") == new
    after = bettor.call("play_dice", stake=100, target=5000, over=True)
    assert (after["nonce"], after["seed_pair_id"]) == (0, new["seed_pair_id"])

    pairs = bettor.rows(
        "select id, next_nonce, revealed, server_seed is not null from public.my_seed_pairs"
        " order by id"
    )
    assert pairs == [(old["seed_pair_id"], 5, True, True), (new["seed_pair_id"], 1, False, False)]
    shown = bettor.rows(
        "select seed_pair_id, count(*), count(server_seed) from public.house_bets"
        " group by seed_pair_id order by 1"
    )
    assert shown == [(old["seed_pair_id"], 5, 5), (new["seed_pair_id"], 1, 0)]
    # a rotation without a client seed picks a random one
    assert len(bettor.call("rotate_seed")["active"]["client_seed"]) == 32
    assert_invariants(conn)


@pytest.mark.parametrize("client_seed", ["", "x" * 65, "café", "tab\there", "line\nbreak"])
def test_a_client_seed_must_be_1_to_64_printable_ascii_characters(
    conn: Connection, bettor: Persona, client_seed: str
) -> None:
    bettor.call("get_seed")
    before = state(conn, bettor)
    error = bettor.refused("invalid_argument", "rotate_seed", client_seed=client_seed)
    assert detail(error)["argument"] == "client_seed"
    assert state(conn, bettor) == before
    assert bettor.call("rotate_seed", client_seed="~" * 64)["active"]["client_seed"] == "~" * 64


def test_a_rotation_waits_for_an_open_round_to_end(conn: Connection, bettor: Persona) -> None:
    """No multi-step game exists yet; the check reads the bets table's `created` status, which
    mines will use, so an open round is written here by hand."""
    pair = bettor.call("get_seed")
    conn.execute(
        """insert into app.house_bets (id, user_id, game, seed_pair_id, server_seed_hash,
               client_seed, nonce, stake, params, multiplier, status)
           select app._house_bet_id(s.server_seed_hash, s.client_seed, s.next_nonce), s.user_id,
               'dice', s.id, s.server_seed_hash, s.client_seed, s.next_nonce, 100, '{}', 2,
               'created'
           from app.seed_pairs as s where s.id = %s""",
        [pair["seed_pair_id"]],
    )
    before = state(conn, bettor)
    error = bettor.refused("round_in_progress", "rotate_seed", client_seed="new")
    assert detail(error) == {
        "bet_id": fair.bet_id(pair["server_seed_hash"], pair["client_seed"], 0),
        "seed_pair_id": pair["seed_pair_id"],
    }
    assert state(conn, bettor) == before


def test_a_revealed_pair_is_found_by_its_hash_by_anyone_and_an_active_one_by_nobody(
    conn: Connection,
    bettor: Persona,
    other: Persona,
    admin: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    active = bettor.call("get_seed")["server_seed_hash"]
    everyone = (bettor, other, admin, anon, service_role)
    for who in everyone:
        for unknown in (active, "0" * 64, "not a hash"):
            error = who.refused("seed_not_found", "get_revealed_seed", server_seed_hash=unknown)
            assert detail(error) == {"server_seed_hash": unknown}
    bettor.call("play_limbo", stake=100, target_multiplier=300)
    bettor.call("rotate_seed")
    answers = [who.call("get_revealed_seed", server_seed_hash=active) for who in everyone]
    assert all(a == answers[0] for a in answers)
    assert fair.sha256_hex(answers[0]["server_seed"]) == active
    assert "user_id" not in answers[0]
    assert bettor.call("get_revealed_seed", server_seed_hash=f" {active.upper()} ") == answers[0]
    assert_invariants(conn)


def test_nobody_reads_a_server_seed_before_its_rotation(
    conn: Connection,
    bettor: Persona,
    other: Persona,
    admin: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    """Not the owner, another bettor, an admin or the service role: not from the table (no
    grant), not from any view of `public` (the seed appears in no row any of them reads), not
    from any answer. Once rotated, the owner reads it in their views."""
    for who in (bettor, other, admin):
        who.call("play_dice", stake=100, target=5000, over=False)
    seed = secret(conn, bettor)
    pair = bettor.call("get_seed")
    for who in (bettor, other, admin, anon, service_role):
        who.denied("select server_seed from app.seed_pairs")
        for (view,) in conn.execute(
            """select c.relname from pg_catalog.pg_class as c
               where c.relnamespace = 'public'::regnamespace and c.relkind = 'v'
                 and has_table_privilege(%s, c.oid, 'select') order by 1""",
            [who.claims["role"]],
        ).fetchall():
            shown = who.rows(
                f"select coalesce(string_agg(to_jsonb(v)::text, ''), '') from {view} v"
            )
            assert seed not in shown[0][0], (who.name, view)
        if who is not anon:
            assert who.rows("select app._revealed_server_seed(%s)", [pair["seed_pair_id"]]) == [
                (None,)
            ]
    assert seed not in json.dumps(bettor.call("get_seed"))
    rotated = bettor.call("rotate_seed", client_seed="next")
    assert seed not in json.dumps(rotated)

    assert bettor.rows(
        "select server_seed from public.my_seed_pairs where id = %s", [pair["seed_pair_id"]]
    ) == [(seed,)]
    assert bettor.rows("select distinct server_seed from public.house_bets") == [(seed,)]
    assert admin.rows(
        "select server_seed from public.house_bets where user_id = %s", [bettor.user_id]
    ) == [(seed,)]
    assert other.rows("select count(*) from public.house_bets where server_seed = %s", [seed]) == [
        (0,)
    ]
    assert_invariants(conn)


# the games --------------------------------------------------------------------------------------


def test_dice_pays_the_edge_s_multiplier_on_the_win_chance(
    conn: Connection, bettor: Persona
) -> None:
    """Under 49.50: the rolls 0.00 to 49.49, chance 4950 hundredths of a percent, multiplier
    9900 / 4950 = 2, a win pays floor(1000 * 9900 / 4950) = 2000. Over 50.49: the rolls 50.50 to
    99.99, the same chance. Over 49.50: the rolls 49.51 to 99.99, chance 5049, 1.9608x."""
    under = bettor.call("play_dice", stake=1000, target=4950, over=False)
    assert (under["chance"], under["multiplier"], under["house_edge_bps"]) == (4950, 2, 100)
    assert under["payout"] == (2000 if under["result"]["roll"] < 4950 else 0)
    over = bettor.call("play_dice", stake=1000, target=5049, over=True)
    assert (over["chance"], over["multiplier"]) == (4950, 2)
    assert over["payout"] == (2000 if over["result"]["roll"] > 5049 else 0)
    wider = bettor.call("play_dice", stake=1000, target=4950, over=True)
    assert (wider["chance"], wider["multiplier"]) == (5049, 1.9608)
    assert wider["payout"] == (1960 if wider["result"]["roll"] > 4950 else 0)
    assert_invariants(conn)


def test_a_bet_keeps_the_edge_it_was_played_at(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    admin.call("update_house_game", game="dice", settings={"house_edge_bps": 200})
    bet = bettor.call("play_dice", stake=1000, target=4950, over=False)
    assert (bet["house_edge_bps"], bet["multiplier"]) == (200, 1.9798)
    assert bet["payout"] in (0, 1979)  # floor(1000 * 9800 / 4950)
    admin.call("update_house_game", game="dice", settings={"house_edge_bps": 100})
    assert bettor.rows("select house_edge_bps from public.house_bets") == [(200,)]
    assert_invariants(conn)


def test_a_play_tells_its_player_the_balance_and_admins_the_profit(live: Live) -> None:
    bettor = persona(live.actor, "player")
    bettor.call("get_wallet")
    live.commit_and_read()
    bet = bettor.call("play_roulette", stake=500, bet="black")
    messages = live.commit_and_read()
    assert sorted((c, p["type"]) for c, p in messages) == [
        ("wagerbase_admin", "profit"),
        ("wagerbase_user", "balance"),
    ]
    balance = one(messages, "wagerbase_user", "balance")
    assert (balance["reason"], balance["delta"], balance["balance"], balance["version"]) == (
        "house_bet",
        bet["payout"] - 500,
        bet["balance"],
        bet["balance_version"],
    )
    assert balance["transaction_id"] == bet["transaction_id"]
    assert one(messages, "wagerbase_admin", "profit")["profit"] == 500 - bet["payout"]
    assert_invariants(live.actor)


def test_the_house_summary_counts_the_games(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    before = admin.call("house_summary")
    bets = [bettor.call("play_limbo", stake=100, target_multiplier=150) for _ in range(4)]
    after = admin.call("house_summary")
    kept = sum(100 - b["payout"] for b in bets)
    assert after["house_games_result"] == before["house_games_result"] + kept
    assert after["profit"] == before["profit"] + kept == house(conn)
    assert_invariants(conn)


# refusals ---------------------------------------------------------------------------------------


def _later() -> str:
    return (datetime.now(UTC) + timedelta(days=2)).isoformat()


@dataclass(frozen=True)
class Refusal:
    key: str
    game: str
    params: dict[str, Any]
    setup: Callable[[Persona, Persona], Any] = field(default=lambda admin, bettor: None)


DICE = {"stake": 100, "target": 5000, "over": True}
REFUSALS = {
    "disabled": Refusal(
        "game_disabled",
        "dice",
        DICE,
        lambda admin, _: admin.call("update_house_game", game="dice", settings={"enabled": False}),
    ),
    "max profit": Refusal(
        "max_profit_exceeded",
        "limbo",
        {"stake": 100, "target_multiplier": 1200},  # a win would pay 1200, 1100 above the stake
        lambda admin, _: admin.call(
            "update_house_game", game="limbo", settings={"max_profit": 1000}
        ),
    ),
    "insufficient funds": Refusal("insufficient_funds", "roulette", {"stake": 20000, "bet": "red"}),
    "self-excluded": Refusal(
        "self_excluded",
        "roulette",
        {"stake": 100, "bet": "red"},
        lambda _, bettor: bettor.call("set_self_exclusion", until=_later()),
    ),
    "stake limit": Refusal(
        "daily_stake_limit_reached",
        "dice",
        DICE,  # 100 already staked today, 100 more is above 150
        lambda _, bettor: bettor.call("set_daily_stake_limit", amount=150),
    ),
    "stake zero": Refusal("invalid_amount", "dice", {**DICE, "stake": 0}),
    "stake negative": Refusal("invalid_amount", "limbo", {"stake": -5, "target_multiplier": 200}),
    "stake missing": Refusal("invalid_amount", "roulette", {"stake": None, "bet": "red"}),
    "stake absurd": Refusal("invalid_amount", "roulette", {"stake": 10**15 + 1, "bet": "red"}),
    "dice over 99.99": Refusal("invalid_argument", "dice", {**DICE, "target": 9999}),
    "dice under 0": Refusal("invalid_argument", "dice", {**DICE, "target": 0, "over": False}),
    "dice under 100": Refusal("invalid_argument", "dice", {**DICE, "target": 10000, "over": False}),
    "dice over -1": Refusal("invalid_argument", "dice", {**DICE, "target": -1}),
    "dice no side": Refusal("invalid_argument", "dice", {**DICE, "over": None}),
    "dice no profit": Refusal(  # chance 98.00%: a win of 1 pays floor(9900 / 9800) = 1
        "invalid_argument", "dice", {"stake": 1, "target": 9800, "over": False}
    ),
    "dice pays less": Refusal("invalid_argument", "dice", {**DICE, "target": 9950, "over": False}),
    "limbo 1.00x": Refusal("invalid_argument", "limbo", {"stake": 100, "target_multiplier": 100}),
    "limbo above the top": Refusal(
        "invalid_argument", "limbo", {"stake": 100, "target_multiplier": 425201762305}
    ),
    "limbo missing": Refusal(
        "invalid_argument", "limbo", {"stake": 100, "target_multiplier": None}
    ),
    "limbo no profit": Refusal(
        "invalid_argument", "limbo", {"stake": 99, "target_multiplier": 101}
    ),
    "roulette purple": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "purple"}),
    "roulette 37": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "37"}),
    "roulette 00": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "00"}),
    "roulette dozen 4": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": "dozen4"}),
    "roulette nothing": Refusal("invalid_argument", "roulette", {"stake": 100, "bet": None}),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_each_refusal_changes_nothing_and_uses_no_nonce(
    conn: Connection, admin: Persona, bettor: Persona, case: Refusal
) -> None:
    first = bettor.call("play_dice", **DICE)  # nonce 0 used, 100 staked today
    case.setup(admin, bettor)
    before = state(conn, bettor)
    bettor.refused(case.key, f"play_{case.game}", **case.params, idempotency_key="refused-1")
    assert state(conn, bettor) == before
    assert bettor.call("get_seed")["next_nonce"] == 1
    assert first["nonce"] == 0
    assert_invariants(conn)


def test_a_win_exactly_at_the_max_profit_is_taken(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    admin.call("update_house_game", game="limbo", settings={"max_profit": 1000})
    error = bettor.refused("max_profit_exceeded", "play_limbo", stake=100, target_multiplier=1101)
    assert detail(error) == {
        "game": "limbo",
        "stake": 100,
        "payout": 1101,
        "profit": 1001,
        "max_profit": 1000,
    }
    assert bettor.call("play_limbo", stake=100, target_multiplier=1100)["nonce"] == 0
    assert_invariants(conn)


def test_house_bets_and_wagers_share_the_daily_stake_limit(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    bettor.call("set_daily_stake_limit", amount=500)
    market = make_market(admin)
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=200)
    bettor.call("play_dice", stake=300, target=5000, over=True)
    assert bettor.rows("select stake_used from public.my_play_limits") == [(500,)]
    error = bettor.refused("daily_stake_limit_reached", "play_roulette", stake=1, bet="red")
    assert detail(error) == {"limit": 500, "used": 500, "stake": 1}
    bettor.refused(
        "daily_stake_limit_reached",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=1,
    )
    assert_invariants(conn)


# idempotency ------------------------------------------------------------------------------------


def test_a_key_replays_its_bet_and_moves_money_once(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    first = bettor.call("play_roulette", stake=100, bet="red", idempotency_key="spin-1")
    assert first["replayed"] is False
    before = state(conn, bettor)
    again = bettor.call("play_roulette", stake=100, bet="red", idempotency_key="spin-1")
    assert again == {**first, "replayed": True}
    assert state(conn, bettor) == before
    for game, params in (
        ("roulette", {"stake": 100, "bet": "black"}),
        ("roulette", {"stake": 101, "bet": "red"}),
        ("dice", {"stake": 100, "target": 5000, "over": True}),
    ):
        bettor.refused("idempotency_conflict", f"play_{game}", **params, idempotency_key="spin-1")
    assert state(conn, bettor) == before
    # a key is its caller's: another player's same key is their own bet
    theirs = other.call("play_roulette", stake=100, bet="red", idempotency_key="spin-1")
    assert theirs["replayed"] is False and theirs["user_id"] == str(other.user_id)
    assert bettor.call("get_seed")["next_nonce"] == 1
    assert_invariants(conn)


# reads and settings -----------------------------------------------------------------------------


def test_each_bettor_reads_only_their_own_bets_and_pairs_and_admins_every_bet(
    conn: Connection,
    admin: Persona,
    bettor: Persona,
    other: Persona,
    anon: Persona,
    service_role: Persona,
) -> None:
    for who in (bettor, bettor, other, admin):
        who.call("play_limbo", stake=100, target_multiplier=200)
    for who in (bettor, other):
        assert {u for (u,) in who.rows("select user_id from public.house_bets")} == {who.user_id}
        assert {u for (u,) in who.rows("select user_id from public.my_seed_pairs")} == {who.user_id}
        assert who.rows(
            "select count(*) from app.house_bets where user_id <> %s", [who.user_id]
        ) == [(0,)]
    everyone = {bettor.user_id, other.user_id, admin.user_id}
    for who in (admin, service_role):
        assert {u for (u,) in who.rows("select user_id from public.house_bets")} == everyone
    assert {u for (u,) in admin.rows("select user_id from public.my_seed_pairs")} == {admin.user_id}
    assert service_role.rows("select count(*) from public.my_seed_pairs") == [(0,)]
    for relation in ("public.house_bets", "public.my_seed_pairs", "app.house_bets"):
        anon.denied(f"select * from {relation}")
    assert anon.rows(
        "select game, enabled, house_edge_bps, max_profit from public.house_games"
    ) == [
        ("dice", True, 100, 10000000),
        ("limbo", True, 100, 10000000),
        ("roulette", True, None, 10000000),
    ]
    assert_invariants(conn)


def test_an_admin_changes_a_game_and_the_log_says_so(
    conn: Connection, admin: Persona, bettor: Persona, service_role: Persona, anon: Persona
) -> None:
    was = {"game": "dice", "enabled": True, "house_edge_bps": 100, "max_profit": 10000000}
    after = admin.call(
        "update_house_game", game="dice", settings={"house_edge_bps": 150, "max_profit": 5000}
    )
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        **was,
        "house_edge_bps": 150,
        "max_profit": 5000,
    }
    service_role.call("update_house_game", game="roulette", settings={"enabled": False})
    logged = conn.execute(
        """select actor, actor_role, before, after from app.admin_actions
           where action = 'update_house_game' order by id"""
    ).fetchall()
    assert [
        (a, r, b["game"], b["house_edge_bps"], c["house_edge_bps"]) for a, r, b, c in logged
    ] == [
        (admin.user_id, "authenticated", "dice", 100, 150),
        (None, "service_role", "roulette", None, None),
    ]
    assert (logged[1][2]["enabled"], logged[1][3]["enabled"]) == (True, False)
    bettor.refused("game_disabled", "play_roulette", stake=100, bet="red")

    actions = scalar(conn, "select count(*) from app.admin_actions")
    games = conn.execute("select * from app.house_games order by game").fetchall()
    bettor.refused("not_admin", "update_house_game", game="dice", settings={"enabled": False})
    anon.denied("select public.update_house_game('dice', '{\"enabled\": false}')")
    for game, settings in (
        ("plinko", {"enabled": True}),
        ("dice", None),
        ("dice", {}),
        ("dice", []),
        ("dice", {"colour": 1}),
        ("dice", {"enabled": "yes"}),
        ("dice", {"house_edge_bps": 5001}),
        ("dice", {"house_edge_bps": -1}),
        ("dice", {"house_edge_bps": 1.5}),
        ("dice", {"house_edge_bps": "100"}),
        ("limbo", {"max_profit": 0}),
        ("limbo", {"max_profit": 10**15 + 1}),
        ("roulette", {"house_edge_bps": 100}),
        ("dice", {"enabled": True, "max_profit": None}),
    ):
        admin.refused("invalid_argument", "update_house_game", game=game, settings=settings)
    assert scalar(conn, "select count(*) from app.admin_actions") == actions
    assert conn.execute("select * from app.house_games order by game").fetchall() == games
    assert_invariants(conn)


# the guards -------------------------------------------------------------------------------------


def test_pairs_and_settled_bets_are_never_rewritten_not_even_by_the_superuser(
    conn: Connection, bettor: Persona
) -> None:
    bet = bettor.call("play_dice", stake=100, target=5000, over=True)
    old = bet["seed_pair_id"]
    for statement in (
        "update app.seed_pairs set server_seed = repeat('0', 64) where id = %(pair)s",
        "update app.seed_pairs set client_seed = 'other' where id = %(pair)s",
        "update app.seed_pairs set next_nonce = next_nonce + 2 where id = %(pair)s",
        "update app.seed_pairs set next_nonce = next_nonce - 1 where id = %(pair)s",
        "delete from app.seed_pairs where id = %(pair)s",
        "update app.house_bets set payout = payout + 1 where id = %(bet)s",
        "update app.house_bets set result = '{}' where id = %(bet)s",
        "delete from app.house_bets where id = %(bet)s",
    ):
        superuser_refused(conn, "house_history_final", statement, {"pair": old, "bet": bet["id"]})
    bettor.call("rotate_seed")
    for statement in (
        "update app.seed_pairs set revealed_at = null where id = %(pair)s",
        "update app.seed_pairs set revealed_at = now() - interval '1 day' where id = %(pair)s",
        "update app.seed_pairs set next_nonce = next_nonce + 1 where id = %(pair)s",
    ):
        superuser_refused(conn, "house_history_final", statement, {"pair": old})
    assert_invariants(conn)
