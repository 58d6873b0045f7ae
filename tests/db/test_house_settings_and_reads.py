"""House games, reads, settings and guards (docs/house-games.md): each bettor reads only their
own bets and pairs and admins every bet; an admin changes a game and the log says so; pairs and
settled bets are never rewritten, not even by the superuser."""

from tests.db.helpers import scalar, superuser_refused
from tests.db.invariants import assert_invariants
from tests.db.personas import Persona
from tests.pgserver import Connection

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
        "select game, enabled, house_edge_bps, max_profit from public.house_games order by game"
    ) == [
        ("dice", True, 100, 10000000),
        ("keno", True, None, 10000000),
        ("limbo", True, 100, 10000000),
        ("mines", True, 100, 10000000),
        ("plinko", True, None, 10000000),
        ("roulette", True, None, 10000000),
    ]
    assert_invariants(conn)


def test_an_admin_changes_a_game_and_the_log_says_so(
    conn: Connection, admin: Persona, bettor: Persona, service_role: Persona, anon: Persona
) -> None:
    was = {
        "game": "dice",
        "enabled": True,
        "house_edge_bps": 100,
        "max_profit": 10000000,
        "round_idle_minutes": None,  # multi-step games only (mines)
        "ggr_commission_bps": 0,  # the GGR commission rate (migration 0030)
    }
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
        ("blackjack", {"enabled": True}),
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
