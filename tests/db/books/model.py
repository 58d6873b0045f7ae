"""The model's data: app.config's defaults, the run's personas, and a market, a wager, a debt, a
proposal and a user's limits as the model keeps them, written from the documented formulas."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.db.actors import catalog_keys
from tests.support.formulas import fixed_cap, fixed_odds, pari_odds

CATALOG = catalog_keys()

# app.config defaults (migrations/0001_engine.sql)
INITIAL_BALANCE = 10000
MAX_DEPOSIT = 1_000_000
MAX_WITHDRAWAL = 1_000_000
TOLERANCE = Decimal("0.01")
DEFAULTS = {
    "virtual_stake": 10000,
    "commission_bps": 5000,
    "margin": 5000,
    "min_cap": 1000,
    "rake_bps": 500,
    "max_payout": 100_000_000,
}
MAX_STAKE = 10**15  # a stake above is refused as invalid_amount (it would overflow the pools)
BIGINT_MAX = 2**63 - 1
MISSING = 10**12  # an id no market, outcome, wager or proposal has
# app.config.snapshot_interval_seconds is set to its maximum for the run, so the scheduler takes
# an interval snapshot of an open market exactly when it has none yet (never a second one: no
# example lasts a day)
SNAPSHOT_INTERVAL = 86400

# the owner of credit_wallet's idempotency keys in the model (one space for every admin)
CREDITS = "credits"
# bea and bob bet; so does cal, who alone may exclude himself (for the rest of the example)
BETTORS = ["bea", "bob", "cal"]
EXCLUDER = "cal"
ADMIN = "ada"
# the second admin: four eyes on settlement (confirm_settlement refuses the proposer)
SECOND_ADMIN = "abe"
ADMINS = (ADMIN, SECOND_ADMIN)


@dataclass
class ModelMarket:
    """What the model expects of one market of the engine: its settings, pools, state."""

    id: int
    kind: str
    outcomes: list[int]
    status: str
    requires_approval: bool
    virtual_stake: int
    commission_bps: int
    margin: int
    min_cap: int
    rake_bps: int
    max_payout: int
    pools: dict[int, int] = field(default_factory=dict)
    liability: dict[int, int] = field(default_factory=dict)
    winner: int | None = None
    total_paid: int = 0  # the current settlement's
    requires_confirmation: bool = False
    proposal: int | None = None  # the pending proposal's id
    expired: bool = False  # closes_at has passed
    closes: int = 0  # open -> closed transitions, each with one close snapshot per outcome
    snapshotted: bool = False  # the scheduler took its interval snapshot

    @property
    def total(self) -> int:
        return sum(self.pools.values())

    @property
    def taking_wagers(self) -> bool:
        return self.status == "open" and not self.expired

    def odds(self, outcome: int) -> Decimal | None:
        """The outcome's live odds (the views' and the baseline of a quote)."""
        if self.kind == "fixed_odds":
            return fixed_odds(
                self.pools[outcome],
                self.total,
                len(self.outcomes),
                self.virtual_stake,
                self.commission_bps,
            )
        return pari_odds(self.pools[outcome], self.total, self.rake_bps)

    def effective_odds(self, outcome: int, stake: int) -> Decimal:
        """The odds a stake gets: fixed odds lock the live odds; parimutuel counts the stake."""
        if self.kind == "fixed_odds":
            odds = self.odds(outcome)
        else:
            odds = pari_odds(self.pools[outcome] + stake, self.total + stake, self.rake_bps)
        assert odds is not None
        return odds

    def cap(self, outcome: int) -> int | None:
        if self.kind != "fixed_odds":
            return None
        odds = self.odds(outcome)
        assert odds is not None
        return fixed_cap(self.total, self.margin, self.liability[outcome], odds, self.min_cap)


@dataclass
class Wager:
    id: int
    user: str
    market_id: int
    outcome_id: int
    stake: int
    potential_payout: int | None
    approval: str
    settlement: str = "open"
    payout: int | None = None
    voided: bool = False  # by void_wager


@dataclass
class Debt:
    """A row of app.user_debts: what a reversal could not take back from a winner."""

    user: str
    market_id: int
    amount: int


@dataclass
class Proposal:
    id: int
    market_id: int
    outcome_id: int
    proposer: str
    preview: dict[str, Any]  # the figures it was proposed with
    status: str = "pending"
    decided_by: str | None = None


@dataclass
class Limit:
    """One daily limit of a user: in force now, and a loosening waiting for its cooling-off."""

    current: int | None = None
    pending: bool = False
    pending_value: int | None = None


@dataclass
class Limits:
    stake: Limit = field(default_factory=Limit)
    deposit: Limit = field(default_factory=Limit)
    excluded_until: Decimal | None = None  # seconds since the epoch; Infinity for good


def epoch(moment: datetime) -> Decimal:
    """A timestamptz as extract(epoch from ...) reads it: seconds, to the microsecond."""
    return Decimal((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)).scaleb(
        -6
    )
