"""The affiliate commission under concurrency, committed, on a database of its own: workers running
the referred players' jobs at once (and every job again) count each bet once for the referrer,
and two claims of the commission at once pay it once. The invariants hold after each."""

from collections.abc import Callable
from fractions import Fraction
from math import ceil, floor

import psycopg

from tests.db import mines_play
from tests.db.actors import Actor, actors, make_users
from tests.db.affiliates import losing_dice, next_nonce
from tests.db.concurrent import all_at_once
from tests.db.house_effects import small_bets, work_until_idle
from tests.db.invariants import assert_invariants

PLAYERS = ["ann", "bob", "cyd"]


def owed_and_counted(url: str) -> tuple[Fraction, int, Fraction, int]:
    """What the referred players' settled bets owe the referrer, exactly, and their count; and what
    the handler accrued, and for how many bets."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            """select (select sum(b.ggr) * c.affiliate_share_bps from app.house_bets as b
                       inner join app.referrals as r on r.user_id = b.user_id
                       where b.status = 'settled'),
                      (select count(*) from app.house_bets as b
                       inner join app.referrals as r on r.user_id = b.user_id),
                      a.accrued_parts, a.bets
               from app.affiliate_commission as a cross join app.config as c"""
        ).fetchone()
    assert row is not None
    return (Fraction(int(row[0]), 10_000), row[1], Fraction(int(row[2]), 10_000), row[3])


def test_workers_at_once_count_each_referred_bet_once_and_two_claims_pay_once(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    referrer = make_users(url, ["ref"])["ref"]
    users = make_users(url, PLAYERS)
    with psycopg.connect(url, autocommit=True) as conn:
        mines_play.install_pair(conn, users["ann"])
    with Actor(url, referrer) as ref:
        code = ref.call("get_affiliate")["code"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update app.config set affiliate_share_bps = 10000")
    for name, user in users.items():
        with Actor(url, user) as player:
            player.call("set_referrer", code=code)
            for i, (game, params) in enumerate(small_bets(20)):
                player.call(f"play_{game}", **params, idempotency_key=f"{name}-{i}")
            player.call(
                "auto_bet", game="dice", stake=300, params={"target": 5000, "over": True}, count=10
            )
    all_at_once(4, lambda _: work_until_idle(url))
    owed, bets, accrued, counted = owed_and_counted(url)
    assert (accrued, counted) == (owed, bets) and bets == 3 * 30
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update app.side_effect_jobs set status = 'pending', done_at = null")
    assert all_at_once(4, lambda _: work_until_idle(url)) == [0, 0, 0, 0]
    assert owed_and_counted(url) == (owed, bets, accrued, counted)

    # the claims want something owed: one bet of ann's that the house surely wins, of what it
    # takes (at most what bob's and cyd's 30 bets could have won: ann can pay it)
    if owed < 100:
        with psycopg.connect(url, autocommit=True) as conn:
            nonce = next_nonce(conn, users["ann"])
        with Actor(url, users["ann"]) as ann:
            ann.call("play_dice", **losing_dice(nonce, ceil(100 - owed)))
        work_until_idle(url)
        owed, bets, accrued, counted = owed_and_counted(url)
        assert (accrued, counted) == (owed, bets)
    with actors(url, 2, referrer) as clients:
        claims = all_at_once(
            2,
            lambda i: clients[i].call("claim_affiliate_commission", idempotency_key=f"claim-{i}"),
        )
    assert sorted(c["paid"] for c in claims) == [0, floor(owed)]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            """select count(*), sum(e.amount) from app.ledger_transactions as t
               inner join app.ledger_entries as e on e.transaction_id = t.id
               inner join app.accounts as a on a.id = e.account_id
               where t.kind = 'affiliate_commission' and a.user_id = %s""",
            [referrer],
        ).fetchone()
        assert rows == (1, floor(owed))
        assert_invariants(conn)


def test_a_referrer_set_while_the_first_bet_is_placed_counts_every_bet_or_none(
    fresh_db: Callable[[], str],
) -> None:
    """set_referrer and a first play at once, for several new players: either the referral is
    refused (the bet committed first) or it stands and the bet is counted for the referrer."""
    url = fresh_db()
    referrer = make_users(url, ["ref"])["ref"]
    players = make_users(url, [f"player{i}" for i in range(6)])
    with Actor(url, referrer) as ref:
        code = ref.call("get_affiliate")["code"]
    outcomes = []
    for name, user in players.items():
        with Actor(url, user) as a, Actor(url, user) as b:

            def call(i: int, a: Actor = a, b: Actor = b, key: str = name) -> object:
                try:
                    if i == 0:
                        return a.call("set_referrer", code=code)
                    return b.call(
                        "play_dice", stake=100, target=5000, over=True, idempotency_key=key
                    )
                except psycopg.Error as error:
                    return error.diag.message_primary

            referral, bet = all_at_once(2, call)
        assert isinstance(bet, dict), bet
        outcomes.append(isinstance(referral, dict))
        if not isinstance(referral, dict):
            assert referral == "referrer_refused"
    work_until_idle(url)
    with psycopg.connect(url, autocommit=True) as conn:
        referred = conn.execute("select count(*) from app.referrals").fetchone()
        assert referred == (sum(outcomes),)
        # every referred player's bet counted for the referrer, no other player's
        assert conn.execute(
            "select coalesce(sum(bets), 0) from app.affiliate_commission"
        ).fetchone() == (sum(outcomes),)
        assert_invariants(conn)


def test_two_players_naming_each_other_at_once_are_not_both_referred(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    users = make_users(url, ["ann", "bob"])
    with Actor(url, users["ann"]) as ann, Actor(url, users["bob"]) as bob:
        codes = {"ann": ann.call("get_affiliate")["code"], "bob": bob.call("get_affiliate")["code"]}

        def call(i: int) -> object:
            try:
                if i == 0:
                    return ann.call("set_referrer", code=codes["bob"])
                return bob.call("set_referrer", code=codes["ann"])
            except psycopg.Error as error:
                return (error.diag.message_primary, error.diag.message_detail)

        answers = all_at_once(2, call)
    assert sorted(isinstance(a, dict) for a in answers) == [False, True]
    assert [a for a in answers if not isinstance(a, dict)] == [
        ("referrer_refused", '{"reason": "mutual"}')
    ]
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select count(*) from app.referrals").fetchone() == (1,)
