"""The engine's invariants, each a query of invariants.sql that returns the rows breaking it (none
when all hold).

Run by `wagerbase db check` (after a restore, say) and by the tests after every concurrency and
property-based run (tests/db/invariants.py), as a role that reads the schema `app`:
- every ledger transaction has two or more entries that sum to zero;
- every account's cached balance and version equal what its entries say;
- no user wallet, market escrow or the pending-withdrawals account is negative;
- the pending-withdrawals account holds exactly the pending withdrawals; each withdrawal's money
  moved as its status says (requested from the wallet; approved to the world or rejected back to
  the wallet), and every withdrawal transaction belongs to exactly one withdrawal;
- each escrow holds exactly the stakes of its market's unsettled wagers (accepted and pending);
- the pools, promised payouts and wager counts of markets still taking or awaiting a result equal
  their accepted wagers;
- a settled market has one settlement row, its payouts add up, and its escrow is empty;
- every fixed-odds wager was within its outcome's cap when it was accepted, and one accepted at
  placement locked the live odds of that moment: the pools' history replayed in version order,
  priced by the engine's own odds and cap functions (app._odds, app._cap). The tests replay it
  once more from the documented formulas, written again in Python (tests/db/invariants.py).

And for the operations of issue 5 (docs/corrections.md, docs/settlement-review.md, docs/depth.md):
- each reversal (ledger_reversals) links the transaction it reverses to the one reversing it, of
  the right kinds and market (a settlement by an unsettlement, a wager's stake by its wager_void),
  and each unsettlement or wager_void transaction is the reversal of exactly one row;
- a voided wager (void_wager) is void, paid back its stake from the escrow, once;
- every settlement transaction belongs to exactly one settlement, the current one
  (app.settlements) or a reversed one (app.settlement_history), and every unsettle has its
  history row, whose escrow figures its reversal gave back;
- the debts (app.user_debts) are what the ledger says: for each user and market, what the
  unsettlements could not take back (paid by the settlement less debited by its reversal) less
  what debt repayments collected; no debt is larger than the reversal left, and each
  unsettlement's memo records its total;
- a settled market has no pending proposal; one that requires confirmation was settled by a
  confirmed proposal of its winner, by its confirmer; every confirmed proposal was settled;
- a market is closed once: at most one close snapshot per outcome and one close_market log row,
  and every closed or settled market has its close snapshot.

And for house games (docs/house-games.md):
- each settled one-shot house bet moved its money as it says, in one 'house_bet' transaction of
  two entries (payout - stake to the bettor's wallet, stake - payout to the house), or none when
  it paid back exactly its stake (plinko, keno); each round of a multi-step game (mines) moved
  its stake from the wallet to the held rounds when it opened ('house_round_open') and, once
  settled, from there to the house and its payout to the wallet ('house_round_settle'); every
  such transaction belongs to exactly one bet;
- the held rounds' account holds exactly the stakes of the open rounds;
- the bets of each seed pair are its nonces 0 .. next_nonce - 1, each once, all its owner's, and
  each bet's id is the one its round derives.
"""

from collections import defaultdict
from typing import Any

import psycopg

from wagerbase.sql_files import statements

Connection = psycopg.Connection[tuple[Any, ...]]

CAP_CHECK = "wager above its cap, or not at the live odds"

# Each check is a statement of invariants.sql, named by the invariant's words (`wagerbase db check`
# prints them) but for the commas a name cannot hold: those are here.
_PUNCTUATED = {
    words.replace(",", "").replace(" ", "_"): words
    for words in (CAP_CHECK, "market closed more than once, or without its close snapshot")
}

CHECKS: dict[str, str] = {
    _PUNCTUATED.get(name, name.replace("_", " ")): query
    for name, query in statements(__package__, "invariants.sql").items()
}
if not CHECKS.keys() >= set(_PUNCTUATED.values()):
    raise RuntimeError(f"invariants.sql lacks a check of {sorted(_PUNCTUATED)}")

NAMES: tuple[str, ...] = tuple(CHECKS)  # every invariant `violations` checks

# All the checks in one statement: (name, offending row as text).
_ALL_CHECKS = "\nunion all\n".join(
    f"(select '{name}', q::text from ({query}) as q)" for name, query in CHECKS.items()
)


def violations(conn: Connection) -> dict[str, list[Any]]:
    """Every broken invariant with the rows that break it (as text), checked as the superuser in
    one statement (they run after every step of the property test)."""
    found: dict[str, list[Any]] = defaultdict(list)
    for name, row in conn.execute(_ALL_CHECKS).fetchall():
        found[name].append(row)
    return dict(found)
