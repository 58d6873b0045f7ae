"""The largest values the engine's functions accept are answered or refused with a catalog key,
never an overflow: stakes up to 2^63 - 1, odds above one hundred million, and every market the
options' documented ranges allow. Corners the random sequences of
tests/db/test_books_match_the_model.py reach rarely, pinned down, on the same database and model
(tests/db/books/)."""

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from tests.db.actors import Actor, refusal
from tests.db.books.database import Database
from tests.db.books.model import (
    ADMIN,
    BIGINT_MAX,
    CATALOG,
    DEFAULTS,
    MAX_DEPOSIT,
    MAX_STAKE,
    ModelMarket,
)
from tests.db.invariants import assert_invariants
from tests.support.formulas import pari_odds


def answer_or_key(actor: Actor, function: str, **args: Any) -> tuple[dict[str, Any] | None, str]:
    """(answer, "") when acknowledged, (None, key) when refused with a catalog key; any other
    error (an overflow, a check constraint) fails the test."""
    try:
        return actor.call(function, **args), ""
    except psycopg.Error as error:
        key = refusal(error)
        assert key in CATALOG, (
            f"{function}({args}): {error.sqlstate} {error.diag.message_primary} "
            f"{error.diag.context}"
        )
        return None, key


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
def test_the_largest_stakes_are_quoted_or_refused_by_key(
    fresh_db: Callable[[], str], kind: str
) -> None:
    """Stakes up to 2^63 - 1 minor units are valid bigints. Up to 10^15, preview_wager quotes
    them and place_wager refuses them for the cap or the payout ceiling; above, both refuse them
    as invalid_amount; on an empty market and on one with a wager. Never an overflow."""
    database = Database(fresh_db())
    try:
        ada, bea = database.actors[ADMIN], database.actors["bea"]
        created = ada.call("create_market", title="Huge", outcomes=["a", "b"], kind=kind)
        defaults: dict[str, Any] = dict(DEFAULTS)
        market = ModelMarket(
            id=created["id"],
            kind=kind,
            outcomes=[o["outcome_id"] for o in created["outcomes"]],
            status="open",
            requires_approval=False,
            **defaults,
        )
        market.pools = dict.fromkeys(market.outcomes, 0)
        market.liability = dict.fromkeys(market.outcomes, 0)
        first = market.outcomes[0]
        too_much = "stake_above_cap" if kind == "fixed_odds" else "payout_above_maximum"
        for _ in range(2):
            for stake in (MAX_STAKE, MAX_STAKE + 1, BIGINT_MAX - 1, BIGINT_MAX):
                args = {"market_id": market.id, "outcome_id": first, "stake": stake}
                quote, key = answer_or_key(bea, "preview_wager", **args)
                if stake > MAX_STAKE:
                    assert key == "invalid_amount"
                else:
                    assert quote is not None, key
                    assert quote["effective_odds"] == market.effective_odds(first, stake)
                _, key = answer_or_key(bea, "place_wager", **args)
                assert key == ("invalid_amount" if stake > MAX_STAKE else too_much)
            placed = bea.call("place_wager", market_id=market.id, outcome_id=first, stake=100)
            market.pools[first] += 100
            market.liability[first] += placed["potential_payout"] or 0
        assert_invariants(database.db)
    finally:
        database.close()


def test_odds_above_one_hundred_million_are_quoted_and_taken(fresh_db: Callable[[], str]) -> None:
    """A parimutuel market without rake, 1,000,000.00 on one outcome and nothing on the other:
    a stake of 0.01 on the empty outcome gets odds of 100,000,001. The quote and the wager are
    answered (or refused with a catalog key), never a numeric overflow."""
    database = Database(fresh_db())
    try:
        ada, bea = database.actors[ADMIN], database.actors["bea"]
        created = ada.call(
            "create_market",
            title="Long shot",
            outcomes=["favourite", "outsider"],
            kind="parimutuel",
            options={"rake_bps": 0, "max_payout": 10**15},
        )
        favourite, outsider = (o["outcome_id"] for o in created["outcomes"])
        for _ in range(100):
            bea.call("deposit", amount=MAX_DEPOSIT)
        bea.call("place_wager", market_id=created["id"], outcome_id=favourite, stake=10**8)
        args = {"market_id": created["id"], "outcome_id": outsider, "stake": 1}
        quote, key = answer_or_key(bea, "preview_wager", **args)
        assert key == ""
        assert quote is not None
        assert quote["effective_odds"] == pari_odds(1, 10**8 + 1, 0) == Decimal(100_000_001)
        placed, key = answer_or_key(bea, "place_wager", **args)
        if placed is not None:
            assert (placed["odds"], placed["balance"]) == (Decimal(100_000_001), 9999)
        assert_invariants(database.db)
    finally:
        database.close()


EXTREME_OPTIONS = [
    {"margin": 10**15, "commission_bps": 9999},
    {"margin": 10**15, "min_cap": 10**15, "max_payout": 10**15},
    {"virtual_stake": 10**15, "commission_bps": 0, "margin": 0, "min_cap": 1},
    {"virtual_stake": 1, "commission_bps": 9999, "max_payout": 1},
    {"rake_bps": 2500, "max_payout": 10**15},
]


@pytest.mark.parametrize("kind", ["fixed_odds", "parimutuel"])
@pytest.mark.parametrize("options", EXTREME_OPTIONS, ids=lambda o: ",".join(o))
def test_every_market_the_options_allow_is_created_and_quoted(
    fresh_db: Callable[[], str], kind: str, options: dict[str, int]
) -> None:
    """create_market documents each option's range; every market within them can be created,
    quoted, bet on and settled, each call answered or refused with a catalog key."""
    database = Database(fresh_db())
    try:
        ada, bea = database.actors[ADMIN], database.actors["bea"]
        created, key = answer_or_key(
            ada, "create_market", title="Edge", outcomes=["a", "b", "c"], kind=kind, options=options
        )
        assert created is not None, key
        first, second, _ = (o["outcome_id"] for o in created["outcomes"])
        for outcome, stake in [(first, 1), (first, MAX_STAKE), (second, 5000), (second, 1)]:
            args = {"market_id": created["id"], "outcome_id": outcome, "stake": stake}
            answer_or_key(bea, "preview_wager", **args)
            answer_or_key(bea, "place_wager", **args)
        answer_or_key(ada, "settle_market", market_id=created["id"], outcome_id=first)
        assert_invariants(database.db)
    finally:
        database.close()
