"""The affiliate program (docs/side-effects.md, "Affiliate commission"): a referral code per
player, set_referrer once and before the first bet (its refusals), the referrer's share of their
players' GGR accrued exactly by the house_affiliate handler and counted once however often its
jobs run, a negative GGR carried over, and the claim through the ledger, replayed by its key."""

from fractions import Fraction
from math import ceil, floor
from typing import Any

from tests.db import mines_play
from tests.db.affiliates import losing_dice, next_nonce
from tests.db.helpers import make_market, scalar
from tests.db.house_effects import small_bets
from tests.db.house_play import play
from tests.db.invariants import assert_invariants, violations
from tests.db.personas import Persona, detail, persona
from tests.db.side_effects import drain
from tests.pgserver import Connection

DICE = {"target": 5000, "over": True}


def owed(conn: Connection, referrer: Persona) -> Fraction:
    """The referrer's commission, exactly, recomputed from the bets of the players they referred:
    sum(stake - payout) x affiliate_share_bps / 10000 (the share unchanged through the test)."""
    share = scalar(conn, "select affiliate_share_bps from app.config")
    ggr = scalar(
        conn,
        """select coalesce(sum(b.stake - b.payout), 0) from app.house_bets as b
           inner join app.referrals as r on r.user_id = b.user_id
           where r.referrer_id = %s and b.status = 'settled'
               and b.result ->> 'refunded' is distinct from 'true'""",
        [referrer.user_id],
    )
    return Fraction(ggr * share, 10_000)


def accrued(conn: Connection, referrer: Persona) -> tuple[Fraction, int]:
    row = conn.execute(
        "select accrued_parts, bets from app.affiliate_commission where referrer_id = %s",
        [referrer.user_id],
    ).fetchone()
    assert row is not None
    return Fraction(int(row[0]), 10_000), row[1]


def test_set_referrer_refuses_oneself_a_pair_a_second_referrer_and_a_late_one(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    codes = {p.name: p.call("get_affiliate")["code"] for p in (admin, bettor, other)}
    assert len(set(codes.values())) == 3
    assert bettor.call("get_affiliate")["code"] == codes["bettor"]  # made once, kept
    bettor.refused("referral_code_not_found", "set_referrer", code="0000000000")
    bettor.refused("invalid_argument", "set_referrer", code="")
    assert detail(bettor.refused("referrer_refused", "set_referrer", code=codes["bettor"])) == {
        "reason": "self"
    }
    set_ = bettor.call("set_referrer", code=codes["other"].lower())  # case does not matter
    assert set_["referrer"] == "other"
    # set once: the same again answers as the first; another is refused
    assert bettor.call("set_referrer", code=codes["other"]) == set_
    assert detail(bettor.refused("referrer_refused", "set_referrer", code=codes["admin"])) == {
        "reason": "already_set"
    }
    # the other cannot name the player they referred
    assert detail(other.refused("referrer_refused", "set_referrer", code=codes["bettor"])) == {
        "reason": "mutual"
    }
    affiliate = other.call("get_affiliate")
    assert (affiliate["referred_players"], affiliate["referred_by"]) == (1, None)
    assert bettor.call("get_affiliate")["referred_by"] == "other"

    # after a first bet, a house bet or a market wager: too late
    late = persona(conn, "late")
    play(late, "dice", {"stake": 100, **DICE})
    assert detail(late.refused("referrer_refused", "set_referrer", code=codes["admin"])) == {
        "reason": "after_first_bet"
    }
    wagerer = persona(conn, "wagerer")
    market = make_market(admin)
    wagerer.call("place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=100)
    assert detail(wagerer.refused("referrer_refused", "set_referrer", code=codes["admin"])) == {
        "reason": "after_first_bet"
    }
    assert scalar(conn, "select count(*) from app.referrals") == 1


def test_the_referrer_accrues_the_share_of_the_ggr_exactly_once_and_claims_it(
    conn: Connection, admin: Persona, bettor: Persona, other: Persona
) -> None:
    conn.execute("update app.config set affiliate_share_bps = 3333")
    bettor.call("set_referrer", code=other.call("get_affiliate")["code"])
    mines_play.install_pair(conn, bettor.user_id)
    stranger = persona(conn, "stranger")  # not referred: credits no one
    for game, params in small_bets(60):
        play(bettor, game, params)
        play(stranger, game, params)
    bettor.call("auto_bet", game="dice", stake=120, params=DICE, count=40)
    bettor.call(
        "auto_bet", game="keno", stake=110, params={"picks": [4, 9], "risk": "low"}, count=20
    )
    # and a bet the house surely wins, of what it takes for the referrer to be owed 1.00 at
    # least (the bettor can pay it: they have what they won)
    bets = 121
    stake = max(ceil((100 - owed(conn, other)) * Fraction(10_000, 3333)), 100)
    play(bettor, "dice", losing_dice(next_nonce(conn, bettor.user_id), stake))
    # only the referred player's bets go to house_affiliate
    assert (
        scalar(
            conn, "select count(*) from app.house_effects_pending where handler = 'house_affiliate'"
        )
        == bets
    )
    drain(conn)
    exact = owed(conn, other)
    assert accrued(conn, other) == (exact, bets)
    # every job again, as a re-delivery would: nothing more
    conn.execute("update app.side_effect_jobs set status = 'pending', done_at = null")
    drain(conn)
    assert accrued(conn, other) == (exact, bets)
    assert scalar(conn, "select count(*) from app.affiliate_commission") == 1

    figures = other.call("get_affiliate")
    assert (figures["accrued"], figures["paid"], figures["bets"]) == (floor(exact), 0, bets)
    assert figures["share_bps"] == 3333
    balance = other.call("get_wallet")["balance"]
    claim = other.call("claim_affiliate_commission", idempotency_key="a-1")
    assert (claim["paid"], claim["balance"]) == (floor(exact), balance + floor(exact))
    assert claim["claimable"] == 0
    assert other.call("claim_affiliate_commission", idempotency_key="a-1") == claim | {
        "replayed": True
    }
    again = other.call("claim_affiliate_commission", idempotency_key="a-2")
    assert (again["paid"], again["transaction_id"]) == (0, None)
    entries = conn.execute(
        """select e.account_id, e.amount from app.ledger_entries as e
           inner join app.ledger_transactions as t on t.id = e.transaction_id
           where t.kind = 'affiliate_commission' order by e.amount"""
    ).fetchall()
    assert [a for _, a in entries] == [-floor(exact), floor(exact)]
    assert_invariants(conn)
    # the books' checks see a payment the ledger does not show, and a GGR not as settled
    with conn.transaction(force_rollback=True):
        conn.execute("update app.affiliate_commission set paid = paid + 1")
        assert set(violations(conn)) == {"affiliate commission paid differs from the ledger"}
    with conn.transaction(force_rollback=True):
        conn.execute("alter table app.house_bets disable trigger house_bets_guard")
        conn.execute(
            "update app.house_bets set ggr_commission = ggr_commission + 0.0001"
            " where id = (select min(id) from app.house_bets)"
        )
        assert set(violations(conn)) == {"house bet ggr not as settled"}


def test_a_negative_ggr_carries_over_and_what_was_paid_stays_paid(
    conn: Connection, bettor: Persona, other: Persona
) -> None:
    conn.execute("update app.config set affiliate_share_bps = 10000")
    bettor.call("set_referrer", code=other.call("get_affiliate")["code"])
    mines_play.install_pair(conn, bettor.user_id)

    def mines_win() -> Any:
        """A round of mines cashed out after its first safe cell: always a win (GGR < 0)."""
        nonce = next_nonce(conn, bettor.user_id)
        opened = bettor.call("open_mines", stake=1000, mines=20)
        bettor.call(
            "reveal_mines_cell", round_id=opened["id"], cell=mines_play.safe_cells(nonce, 20)[0]
        )
        return bettor.call("cashout_mines", round_id=opened["id"])

    # losses first: bets the house surely wins
    for _ in range(3):
        play(bettor, "dice", losing_dice(next_nonce(conn, bettor.user_id), 200))
    drain(conn)
    assert owed(conn, other) == 600
    first = other.call("claim_affiliate_commission", idempotency_key="n-1")
    assert first["paid"] == floor(owed(conn, other)) > 0
    won = mines_win()
    drain(conn)
    assert won["payout"] - 1000 > owed(conn, other) - first["paid"]  # the win sinks below paid
    figures = other.call("get_affiliate")
    assert figures["accrued"] == floor(owed(conn, other))
    assert figures["accrued"] < figures["paid"] == first["paid"]
    assert figures["claimable"] == 0
    assert other.call("claim_affiliate_commission", idempotency_key="n-2")["paid"] == 0
    # later losses fill the hole before anything more is claimable
    hole = first["paid"] - owed(conn, other)
    play(bettor, "dice", losing_dice(next_nonce(conn, bettor.user_id), ceil(hole) - 1))
    drain(conn)
    assert other.call("get_affiliate")["claimable"] == 0
    play(bettor, "dice", losing_dice(next_nonce(conn, bettor.user_id), 101))
    drain(conn)
    later = other.call("claim_affiliate_commission", idempotency_key="n-3")
    assert later["paid"] == floor(owed(conn, other)) - first["paid"]
    assert_invariants(conn)
