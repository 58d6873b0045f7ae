"""House games, the plays (docs/house-games.md): dice pays the edge's multiplier on the win
chance, a bet keeps the edge it was played at, the player and admins are told, the house summary
counts the games, and a key replays its bet and moves money once."""

from tests.db.helpers import house
from tests.db.house_play import state
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, persona
from tests.db.stream import Live, one
from tests.pgserver import Connection

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
