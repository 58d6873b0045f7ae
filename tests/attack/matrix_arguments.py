"""The arguments with which every function of `public` succeeds for a caller allowed to call it,
after the Stage made what the call needs (markets, wagers, proposals, pending withdrawals): the
matrix tests call each function with them as each persona (tests/attack/matrix.py)."""

import uuid
from collections.abc import Callable
from typing import Any

from tests.attack.stage import Refused, Stage, later, outcome, pending_withdrawal

Arguments = dict[str, Any]
PREPARE: dict[str, Callable[[Stage], Arguments]] = {}


def prepares(
    *functions: str,
) -> Callable[[Callable[[Stage], Arguments]], Callable[[Stage], Arguments]]:
    def register(make: Callable[[Stage], Arguments]) -> Callable[[Stage], Arguments]:
        for name in functions:
            PREPARE[name] = make
        return make

    return register


def prepare(function: str, stage: Stage) -> Arguments:
    """Arguments with which `function` succeeds for a persona allowed to call it, after making
    what it needs (recorded in stage.markets)."""
    stage.markets = []
    return PREPARE[function](stage)


@prepares("get_wallet", "house_summary", "retry_side_effects", "acts_as_admin")
def _nothing(stage: Stage) -> Arguments:
    return {}


@prepares("deposit")
def _deposit(stage: Stage) -> Arguments:
    return {"amount": 500}


@prepares("withdraw")
def _withdraw(stage: Stage) -> Arguments:
    return {"amount": 100}


@prepares("set_daily_stake_limit", "set_daily_deposit_limit")
def _limit(stage: Stage) -> Arguments:
    return {"amount": 50000}


@prepares("set_self_exclusion")
def _self_exclusion(stage: Stage) -> Arguments:
    return {"until": later(days=1)}


@prepares("preview_wager", "place_wager")
def _stake(stage: Stage) -> Arguments:
    market = stage.market()
    return {"market_id": market["id"], "outcome_id": outcome(market, 1), "stake": 100}


@prepares("get_seed")
def _seed(stage: Stage) -> Arguments:
    return {}


@prepares("rotate_seed")
def _rotation(stage: Stage) -> Arguments:
    return {"client_seed": "the matrix's"}


@prepares("get_revealed_seed")
def _revealed(stage: Stage) -> Arguments:
    """A pair the clerk revealed (not bettor A, who may be the deleted user of a test)."""
    rotated: dict[str, Any] = stage.clerk.call("rotate_seed")
    return {"server_seed_hash": rotated["revealed"]["server_seed_hash"]}


@prepares("play_dice")
def _dice(stage: Stage) -> Arguments:
    return {"stake": 100, "target": 5000, "over": True}


@prepares("play_limbo")
def _limbo(stage: Stage) -> Arguments:
    return {"stake": 100, "target_multiplier": 200}


@prepares("play_roulette")
def _roulette(stage: Stage) -> Arguments:
    return {"stake": 100, "bet": "red"}


@prepares("auto_bet")
def _auto_bet(stage: Stage) -> Arguments:
    return {"game": "dice", "stake": 100, "params": {"target": 5000, "over": True}, "count": 3}


@prepares("play_plinko")
def _plinko(stage: Stage) -> Arguments:
    return {"stake": 100, "rows": 8, "risk": "low"}


@prepares("play_keno")
def _keno(stage: Stage) -> Arguments:
    return {"stake": 100, "picks": [1, 2, 3], "risk": "classic"}


@prepares("open_mines")
def _open_mines(stage: Stage) -> Arguments:
    return {"stake": 100, "mines": 3}


NO_ROUND = {"round_id": "bet-00000000-0000-0000-0000-000000000000"}


def own_round(stage: Stage, revealed: int) -> Arguments:
    """A round of mines of the persona under test, open with `revealed` safe cells (a round that
    hits a mine is replaced by a new one); a round id nobody has when the persona cannot open one
    (they are refused before the id matters)."""
    if stage.caller is None:
        return dict(NO_ROUND)
    for _ in range(50):
        try:
            opened: dict[str, Any] = stage.caller.call("get_mines_round") or stage.caller.call(
                "open_mines", stake=100, mines=1
            )
        except Refused:
            return dict(NO_ROUND)
        for cell in range(25):
            if len(opened["revealed"]) >= revealed or opened["status"] != "created":
                break
            if cell not in opened["revealed"]:
                opened = stage.caller.call("reveal_mines_cell", round_id=opened["id"], cell=cell)
        if opened["status"] == "created":
            return {"round_id": opened["id"]}
    raise AssertionError("no round of mines stayed open")


@prepares("reveal_mines_cell")
def _reveal(stage: Stage) -> Arguments:
    arguments = own_round(stage, 0)
    if arguments == NO_ROUND or stage.caller is None:
        return {**arguments, "cell": 0}
    opened: dict[str, Any] = stage.caller.call("get_mines_round")
    return {**arguments, "cell": next(c for c in range(25) if c not in opened["revealed"])}


@prepares("cashout_mines")
def _cashout(stage: Stage) -> Arguments:
    return own_round(stage, 1)


@prepares("get_mines_round")
def _get_round(stage: Stage) -> Arguments:
    return own_round(stage, 0)


@prepares("settle_house_round")
def _settle_round(stage: Stage) -> Arguments:
    """The clerk's open round (an admin plays too; bettor A may be a deleted user)."""
    opened: dict[str, Any] = stage.clerk.call("get_mines_round") or stage.clerk.call(
        "open_mines", stake=100, mines=3
    )
    return {"round_id": opened["id"], "reason": "abandoned"}


@prepares("get_level")
def _level(stage: Stage) -> Arguments:
    return {}


@prepares("claim_rakeback")
def _claim(stage: Stage) -> Arguments:
    return {"idempotency_key": f"claim-{uuid.uuid4()}"}


@prepares("get_affiliate")
def _affiliate(stage: Stage) -> Arguments:
    return {}


@prepares("set_referrer")
def _referrer(stage: Stage) -> Arguments:
    """The clerk's code (the clerk is never the persona under test, who has not bet)."""
    return {"code": stage.clerk.call("get_affiliate")["code"]}


@prepares("claim_affiliate_commission")
def _claim_affiliate(stage: Stage) -> Arguments:
    return {"idempotency_key": f"claim-{uuid.uuid4()}"}


@prepares("update_house_game")
def _house_game(stage: Stage) -> Arguments:
    """A setting set to the value it holds, as for update_settings."""
    return {"game": "dice", "settings": {"enabled": True}}


@prepares("revoke_sessions")
def _sessions(stage: Stage) -> Arguments:
    """Bettor A's sessions (the persona under test is never bettor A once a call is allowed)."""
    return {"user_id": stage.owner.user_id, "reason": "a lost phone"}


@prepares("get_market_depth")
def _depth(stage: Stage) -> Arguments:
    return {"market_id": stage.market()["id"], "window": "1h"}


@prepares("verify_draw")
def _draw(stage: Stage) -> Arguments:
    return {"market_id": stage.virtual()["id"]}


@prepares("create_market")
def _new_market(stage: Stage) -> Arguments:
    return {"title": "Made by the caller", "outcomes": ["Yes", "No"]}


@prepares("create_virtual_market")
def _new_virtual(stage: Stage) -> Arguments:
    return {"template": "roulette", "title": "Made by the caller", "closes_at": later(hours=6)}


@prepares("open_market")
def _draft(stage: Stage) -> Arguments:
    return {"market_id": stage.market(status="draft")["id"]}


@prepares("close_market")
def _open(stage: Stage) -> Arguments:
    return {"market_id": stage.market()["id"]}


@prepares("require_settlement_confirmation")
def _two_step(stage: Stage) -> Arguments:
    return {"market_id": stage.market()["id"], "required": True}


@prepares("void_market")
def _void(stage: Stage) -> Arguments:
    return {"market_id": stage.market()["id"], "reason": "called off"}


@prepares("admin_list_pending_wagers")
def _pending_list(stage: Stage) -> Arguments:
    market = stage.market(requires_approval=True)
    stage.wager(market)
    return {"market_id": market["id"]}


@prepares("approve_wager")
def _pending(stage: Stage) -> Arguments:
    return {"wager_id": stage.wager(stage.market(requires_approval=True))}


@prepares("reject_wager")
def _reject(stage: Stage) -> Arguments:
    return {"wager_id": stage.wager(stage.market(requires_approval=True)), "reason": "not today"}


@prepares("void_wager")
def _void_wager(stage: Stage) -> Arguments:
    return {"wager_id": stage.wager(stage.market()), "reason": "palpable error"}


@prepares("settle_market", "preview_settlement", "propose_settlement")
def _with_a_wager(stage: Stage) -> Arguments:
    market = stage.market()
    stage.wager(market, 0)
    return {"market_id": market["id"], "outcome_id": outcome(market, 0)}


@prepares("confirm_settlement")
def _proposed(stage: Stage) -> Arguments:
    """Four eyes: the clerk proposed, the caller confirms."""
    arguments = _with_a_wager(stage)
    stage.clerk.call("propose_settlement", **arguments, note="the clerk's")
    return {"market_id": arguments["market_id"]}


@prepares("cancel_settlement_proposal")
def _cancel(stage: Stage) -> Arguments:
    return {**_proposed(stage), "reason": "wrong"}


@prepares("unsettle_market")
def _settled(stage: Stage) -> Arguments:
    arguments = _with_a_wager(stage)
    stage.clerk.call("settle_market", **arguments)
    return {"market_id": arguments["market_id"], "reason": "wrong result"}


@prepares("resettle_market")
def _resettle(stage: Stage) -> Arguments:
    """The clerk settled on the first outcome; the caller corrects it to the second."""
    arguments = _settled(stage)
    return {**arguments, "outcome_id": stage.outcomes[arguments["market_id"]][1]}


@prepares("update_settings")
def _settings(stage: Stage) -> Arguments:
    """A setting set to the value it holds: an allowed call changes nothing that other calls of
    the matrix (on a shared node, over HTTP) depend on."""
    return {"settings": {"max_withdrawal": 1000000}}


@prepares("credit_wallet")
def _credit(stage: Stage) -> Arguments:
    stage.serial += 1
    return {
        "user_id": stage.owner.user_id,
        "amount": 500,
        "reference": f"matrix credit {stage.serial}",
        "idempotency_key": str(uuid.uuid4()),
    }


@prepares("admin_list_pending_withdrawals")
def _pending_withdrawals(stage: Stage) -> Arguments:
    pending_withdrawal(stage.clerk, stage.owner)
    return {}


@prepares("approve_withdrawal")
def _withdrawal(stage: Stage) -> Arguments:
    return {"withdrawal_id": pending_withdrawal(stage.clerk, stage.owner)}


@prepares("reject_withdrawal")
def _reject_withdrawal(stage: Stage) -> Arguments:
    return {"withdrawal_id": pending_withdrawal(stage.clerk, stage.owner), "reason": "not today"}
