"""What the state machine's rules draw: stakes, amounts, keys, options, who calls, and which
market, wager or proposal a call is about."""

from hypothesis import strategies as st

from tests.db.books.model import (
    ADMIN,
    BETTORS,
    BIGINT_MAX,
    DEFAULTS,
    MAX_DEPOSIT,
    MAX_STAKE,
    SECOND_ADMIN,
)

stakes = st.one_of(
    st.integers(min_value=1, max_value=3000),
    st.integers(min_value=1, max_value=3000),
    st.integers(min_value=1, max_value=3000),
    st.integers(min_value=-1000, max_value=0),
    st.sampled_from([20000, 10**6, MAX_STAKE, MAX_STAKE + 1, 2**62, BIGINT_MAX - 1, BIGINT_MAX]),
)
amounts = st.one_of(
    st.integers(min_value=1, max_value=20000),
    st.integers(min_value=1, max_value=20000),
    st.integers(min_value=1, max_value=20000),
    st.integers(min_value=-100, max_value=0),
    st.sampled_from([MAX_DEPOSIT, MAX_DEPOSIT + 1, 10**15, BIGINT_MAX]),
)
# mostly none; k1..k3 are re-sent (replayed, or refused when the arguments differ); two invalid
keys = st.sampled_from([None] * 6 + ["k1", "k2", "k3", "", "x" * 201])
# ada and abe are the admins; bea, a bettor, calling an admin function is refused with not_admin
admins = st.sampled_from([ADMIN] * 4 + [SECOND_ADMIN] * 2 + ["bea"])
# who confirms a proposal: mostly the other admin (four eyes), sometimes the proposer
# (same_admin) or a bettor (not_admin)
confirmers = st.sampled_from(["other"] * 2 + ["proposer"] * 2 + ["bea"])
# how far the expected odds are from the live odds: None sends none; 0 exactly; 0.005 and
# -0.009 are within the tolerance; 0.012 and more are not (stale); 'absurd' is no price at all
odds_offsets = st.sampled_from(
    [None, None, None, "0", "0", "0.005", "-0.009", "0.012", "-0.02", "0.5", "absurd"]
)
# which wager an admin decides on: a pending one (when there is one), any, or a missing one
wager_picks = st.sampled_from(["pending"] * 6 + ["any", "missing"])
# which wager void_wager is about: an accepted, open one (when there is one; now and then one of
# a user who owes a debt from its market, or one of a market with a pending proposal), any, or
# none
void_picks = st.sampled_from(["voidable"] * 4 + ["debtor", "proposed", "any", "missing"])
# an option out of range (or unknown) now and then: invalid_option
bad_options = st.sampled_from(
    [None] * 12
    + [("virtual_stake", 0), ("commission_bps", 10000), ("rake_bps", 2501), ("colour", "red")]
)
options = st.fixed_dictionaries(
    {"requires_approval": st.booleans()},
    optional={
        "status": st.sampled_from(["open", "open", "open", "draft"]),
        "virtual_stake": st.integers(1, 20000),
        "commission_bps": st.integers(0, 9999),
        "margin": st.integers(0, 20000),
        "min_cap": st.integers(1, 5000),
        "rake_bps": st.integers(0, 2500),
        "max_payout": st.one_of(st.integers(1, 100000), st.just(DEFAULTS["max_payout"])),
    },
)
# an admin's reason: blank now and then (invalid_argument)
reasons = st.sampled_from(["wrong result"] * 5 + ["  "])
# a proposal's note: none, a note, blank (none), one over 500 characters (invalid_argument)
notes = st.sampled_from([None, None, "checked twice", "   ", "n" * 501])
# which proposal confirm_settlement names: none (the pending one), the pending one by id, an old
# one (confirmed or cancelled), or none that exists
proposal_picks = st.sampled_from([None] * 4 + ["pending", "old", "missing"])
# a daily limit: none (removes it), 0 (no wager or deposit at all), amounts, or negative
limit_amounts = st.sampled_from([None, 0, 500, 1500, 1500, 3000, 3000, 6000, 6000, -1])
# the end of a self-exclusion, from the example's start: in a day, in a month, for good, an hour
# ago or none (both invalid_argument)
exclusion_ends = st.sampled_from(["day", "day", "month", "month", "infinity", "past", None])


# the common case, often: one to four sensible stakes at the live odds, each (bettor, market pick,
# outcome pick, stake, expected odds)
plain_bets = st.lists(
    st.tuples(
        st.sampled_from(BETTORS),
        st.integers(0, 1000),
        st.integers(0, 3),
        st.integers(min_value=1, max_value=2000),
        st.sampled_from([None, "0"]),
    ),
    min_size=1,
    max_size=4,
)

# which market a call is about: mostly one whose status allows the call (when there is one),
# sometimes any market, or one that does not exist
market_picks = st.tuples(
    st.integers(0, 1000), st.sampled_from(["fitting"] * 6 + ["any", "missing"])
)
