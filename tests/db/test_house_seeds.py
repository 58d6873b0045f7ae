"""House games, the seeds (docs/house-games.md): a player's pair is made on first use and shows
only its commitment; the bets are what the seed revealed later draws and pays; nonces count the
bets and a rotation starts a new pair; nobody reads a server seed before its rotation."""

import json

import pytest

from tests.db.house_play import INITIAL, assert_as_modelled, model, plan, play, secret, state
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona, detail
from tests.pgserver import Connection
from tests.support import house_fair as fair

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
        assert_as_modelled(answer, expected, game, params, nonce)
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
    """An open round of mines (tests/db/test_mines_refusals.py plays it to its end)."""
    pair = bettor.call("get_seed")
    bettor.call("open_mines", stake=100, mines=3)
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
