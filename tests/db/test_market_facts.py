"""The facts the engine publishes so that no client decides them (docs/engine.md, "Views"):
whether a market takes wagers now (the markets view's `accepting_wagers`, the very rule by which
place_wager refuses with market_not_open), whether it is a BetMarket game (`betmarket_game`, in
the view and in every market message), and whether a caller acts as an admin now
(`public.acts_as_admin()`, the rule app._require_admin enforces)."""

from collections.abc import Callable

import psycopg
import pytest

from tests.db.helpers import Market, make_market
from tests.db.personas import Persona, persona
from tests.db.stream import StreamReader
from tests.pgserver import Connection


def _accepting(who: Persona, market_id: int) -> bool:
    [(accepting,)] = who.rows(
        "select accepting_wagers from public.markets where id = %s", [market_id]
    )
    return bool(accepting)


def _game(who: Persona, market_id: int) -> bool:
    [(game,)] = who.rows("select betmarket_game from public.markets where id = %s", [market_id])
    return bool(game)


def _stake(bettor: Persona, market: Market) -> None:
    bettor.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100)


def _no_stake_taken(who: Persona, market: Market) -> None:
    who.refused(
        "market_not_open",
        "place_wager",
        market_id=market.id,
        outcome_id=market.outcomes[0],
        stake=100,
    )


def test_an_open_market_accepts_wagers_and_takes_them(admin: Persona, bettor: Persona) -> None:
    market = make_market(admin)
    assert _accepting(bettor, market.id) is True
    _stake(bettor, market)


def test_a_draft_or_closed_market_accepts_none_and_refuses_them(
    admin: Persona, bettor: Persona
) -> None:
    draft = make_market(admin, status="draft")
    assert _accepting(admin, draft.id) is False
    _no_stake_taken(admin, draft)
    closed = make_market(admin)
    admin.call("close_market", market_id=closed.id)
    assert _accepting(bettor, closed.id) is False
    _no_stake_taken(bettor, closed)


def test_an_open_market_past_its_closing_time_accepts_none_before_anyone_closes_it(
    conn: Connection, admin: Persona, bettor: Persona
) -> None:
    market = make_market(admin)
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 second' where id = %s",
        [market.id],
    )
    assert _accepting(bettor, market.id) is False
    [(status,)] = bettor.rows("select status from public.markets where id = %s", [market.id])
    assert status == "open"
    _no_stake_taken(bettor, market)


def test_a_betmarket_game_is_a_two_outcome_fixed_odds_market(
    admin: Persona, bettor: Persona
) -> None:
    assert _game(bettor, make_market(admin).id) is True
    assert _game(bettor, make_market(admin, outcomes=["A", "B", "C"]).id) is False
    assert _game(bettor, make_market(admin, kind="parimutuel").id) is False


def test_every_market_message_says_whether_its_market_is_a_game(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    with psycopg.connect(url) as actor, StreamReader(url) as stream:
        admin = persona(actor, "admin", admin=True)
        game = make_market(admin)
        podium = make_market(admin, outcomes=["A", "B", "C"])
        pool = make_market(admin, kind="parimutuel")
        actor.commit()
        said = {
            payload["market_id"]: payload["betmarket_game"]
            for channel, payload in stream.read()
            if channel == "wagerbase_market"
        }
    assert said == {game.id: True, podium.id: False, pool.id: False}


@pytest.mark.parametrize("who", ["anon", "bettor", "admin", "service_role"])
def test_acts_as_admin_says_who_the_engine_lets_act_as_admin(
    request: pytest.FixtureRequest, who: str
) -> None:
    """What it answers is what an admin call then does: goes through, or is refused not_admin
    (anon may not call admin functions at all: no grant)."""
    caller: Persona = request.getfixturevalue(who)
    allowed = caller.call("acts_as_admin")
    assert allowed is (who in ("admin", "service_role"))
    if allowed:
        make_market(caller)
    elif who == "bettor":
        caller.refused("not_admin", "create_market", title="Mine?", outcomes=["Yes", "No"])


def test_a_demoted_admin_whose_token_still_says_admin_acts_as_admin_no_more(
    conn: Connection, admin: Persona
) -> None:
    assert admin.call("acts_as_admin") is True
    conn.execute(
        "update auth.users set raw_app_meta_data = raw_app_meta_data - 'role' where id = %s",
        [admin.user_id],
    )
    assert admin.claims["app_metadata"] == {"role": "admin"}
    assert admin.call("acts_as_admin") is False
    admin.refused("not_admin", "create_market", title="Still mine?", outcomes=["Yes", "No"])
