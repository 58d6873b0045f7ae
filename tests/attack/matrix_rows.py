"""Rows in every view, for the matrix's reads: what bettors A and B and an admin leave behind on
the Stage."""

from tests.attack.stage import MatrixCaller, Stage, outcome, pending_withdrawal


def populate(stage: Stage, a: MatrixCaller, b: MatrixCaller, admin: MatrixCaller) -> set[int]:
    """Rows in every view (run BEFORE_POPULATE first and AFTER_POPULATE after, as the database
    owner, then the side-effect jobs, for the statistics, leaderboard and big wins, and the pool
    snapshots the scheduler would take, drafts' included): bettors A and B and the admin
    with wallets, wagers, ledger entries, limits, quotes, withdrawals, house bets and seed pairs
    (revealed and active); open, draft, settled, proposed, corrected (A owes a debt) and virtual
    markets. Returns the ids of the draft markets."""
    clerk = stage.clerk
    live = stage.market()
    for who, position in ((a, 0), (b, 1), (admin, 0)):
        who.call("place_wager", market_id=live["id"], outcome_id=outcome(live, position), stake=300)
        who.call("preview_wager", market_id=live["id"], outcome_id=outcome(live, 1), stake=50)
        who.call("set_daily_stake_limit", amount=90000)
        who.call("play_dice", stake=100, target=5000, over=True)
        who.call("rotate_seed")
        who.call("play_roulette", stake=100, bet="red")
        who.call("open_mines", stake=100, mines=3)  # a round open: its mines in no view
    drafts = {stage.market(status="draft")["id"]}
    draft_dice = clerk.call(
        "create_virtual_market",
        template="dice",
        title="Draft dice",
        closes_at="infinity",
        options={"status": "draft"},
    )
    drafts.add(draft_dice["id"])
    stage.virtual()
    settled = stage.market()
    a.call("place_wager", market_id=settled["id"], outcome_id=outcome(settled, 0), stake=400)
    b.call("place_wager", market_id=settled["id"], outcome_id=outcome(settled, 1), stake=200)
    clerk.call("settle_market", market_id=settled["id"], outcome_id=outcome(settled, 0))
    proposed = stage.market()
    a.call("place_wager", market_id=proposed["id"], outcome_id=outcome(proposed, 1), stake=100)
    clerk.call(
        "propose_settlement", market_id=proposed["id"], outcome_id=outcome(proposed, 1), note="?"
    )
    # withdrawals that waited for an admin: A's approved and pending, B's rejected
    for who, decide in ((a, "approve_withdrawal"), (a, None), (b, "reject_withdrawal")):
        held = pending_withdrawal(clerk, who)
        if decide == "approve_withdrawal":
            clerk.call(decide, withdrawal_id=held)
        elif decide:
            clerk.call(decide, withdrawal_id=held, reason="documents missing")
    # a debt: A wins, takes everything out, and the result is corrected
    corrected = stage.market()
    a.call("place_wager", market_id=corrected["id"], outcome_id=outcome(corrected, 0), stake=500)
    clerk.call("settle_market", market_id=corrected["id"], outcome_id=outcome(corrected, 0))
    a.call("withdraw", amount=a.call("get_wallet")["balance"])
    clerk.call("unsettle_market", market_id=corrected["id"], reason="wrong result")
    return drafts


BEFORE_POPULATE = "update app.config set big_win_min_profit = 1"
AFTER_POPULATE = "select app._snapshot_market(id, 'interval') from app.markets where id = any(%s)"
