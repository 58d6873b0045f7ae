"""What the matrix tests share between the database level and HTTP: callers that either answer or
raise Refused, the arguments with which every function of `public` succeeds for a caller allowed
to call it (and the state they need, made by a clerk admin and bettor A), how a refusal must look
for each Outcome, and a digest of the rows a call could change.

A Stage has two callers of its own, neither of them the persona under test: `clerk`, an admin who
makes markets and proposals, and `owner` (bettor A, who owns the wagers). Each prepared call gets
fresh markets, so a call never depends on what another did.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tests.attack.matrix import Outcome, PersonaKind


@dataclass
class Refused(Exception):
    """A refusal, at either level: `code` is the SQLSTATE (PostgREST's `code`), `key` the engine's
    catalog key (the message), `status` the HTTP status (None at the database level)."""

    code: str
    key: str
    status: int | None = None


class MatrixCaller(Protocol):
    """Whoever the matrix tests call as, at the database (test_matrix_db's DbActor) or over HTTP
    (over_http's RestActor): a name, a user id, and calls that answer or raise Refused."""

    @property
    def name(self) -> str: ...

    @property
    def user_id(self) -> str | None: ...

    def call(self, function: str, **arguments: Any) -> Any:
        """The function's result; raises Refused."""
        ...


@dataclass
class Stage:
    clerk: MatrixCaller  # an admin, not the one under test
    owner: MatrixCaller  # bettor A
    # the persona under test, for the calls on the caller's own rounds (None: not said)
    caller: MatrixCaller | None = None
    markets: list[int] = field(default_factory=list)  # made for the call being prepared
    outcomes: dict[int, list[int]] = field(default_factory=dict)  # market id -> outcome ids
    serial: int = 0

    def market(self, kind: str = "fixed_odds", **options: Any) -> dict[str, Any]:
        self.serial += 1
        row: dict[str, Any] = self.clerk.call(
            "create_market",
            title=f"Matrix market {self.serial}",
            outcomes=["Home", "Away"],
            kind=kind,
            options=options,
        )
        self._made(row)
        return row

    def _made(self, row: dict[str, Any]) -> None:
        self.markets.append(int(row["id"]))
        self.outcomes[int(row["id"])] = [int(o["outcome_id"]) for o in row["outcomes"]]

    def virtual(self) -> dict[str, Any]:
        self.serial += 1
        row: dict[str, Any] = self.clerk.call(
            "create_virtual_market",
            template="dice",
            title=f"Matrix dice {self.serial}",
            closes_at=later(hours=6),
            options={},
        )
        self._made(row)
        return row

    def wager(self, market: dict[str, Any], position: int = 0, stake: int = 100) -> int:
        placed = self.owner.call(
            "place_wager",
            market_id=market["id"],
            outcome_id=outcome(market, position),
            stake=stake,
        )
        return int(placed["id"])


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def outcome(market: dict[str, Any], position: int) -> int:
    return int(market["outcomes"][position]["outcome_id"])


# arguments that succeed for an allowed caller ----------------------------------------------------

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


def pending_withdrawal(clerk: MatrixCaller, who: MatrixCaller, amount: int = 100) -> int:
    """A withdrawal of `who` waiting for an admin: approval switched on for it, then off again
    (the default), so that every other call withdraws as it always did."""
    clerk.call("update_settings", settings={"withdrawals_require_approval": True})
    try:
        return int(who.call("withdraw", amount=amount)["withdrawal_id"])
    finally:
        clerk.call("update_settings", settings={"withdrawals_require_approval": False})


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


# rows in every view ------------------------------------------------------------------------------


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


# what a refusal looks like -----------------------------------------------------------------------


def expect(
    outcome_: Outcome, persona: PersonaKind, actor: MatrixCaller, function: str, **arguments: Any
) -> Any:
    """Call `function` as `actor` and assert it ends as the matrix says: the result when allowed,
    else the refusal of that Outcome (with its HTTP status when it came over HTTP)."""
    if outcome_ is Outcome.ALLOWED:
        try:
            return actor.call(function, **arguments)
        except Refused as refused:
            raise AssertionError(f"{persona}: allowed, but refused with {refused}") from None
    try:
        result = actor.call(function, **arguments)
    except Refused as refused:
        code, key, status = refused.code, refused.key, refused.status
        if outcome_ is Outcome.DENIED:
            assert code == "42501", refused
            assert status in (None, 401 if persona is PersonaKind.ANONYMOUS else 403), refused
        elif outcome_ is Outcome.NOT_ADMIN:
            assert (code, key, status) in (("PT403", "not_admin", s) for s in (None, 403)), refused
        else:
            assert (code, key) == ("PT401", "not_authenticated"), refused
            assert status in (None, 401), refused
        return None
    raise AssertionError(f"{persona}: should be {outcome_}, but it answered {result!r}")


# what a call could change ------------------------------------------------------------------------

DIGEST = """
select md5(coalesce(string_agg(x, '|' order by x), '')) from (
    select format('markets %%s', count(*)) as x from app.markets
    union all
    select format('market %%s %%s %%s %%s', id, status, version, settlement_requires_confirmation)
    from app.markets where id = any(%(markets)s)
    union all
    select format('wager %%s %%s %%s %%s', id, approval, settlement, payout)
    from app.wagers where market_id = any(%(markets)s) or user_id = any(%(users)s)
    union all
    select format('account %%s %%s %%s', user_id, balance, version)
    from app.accounts where user_id = any(%(users)s)
    union all
    select format('limits %%s', to_jsonb(l) - 'window_started_at')
    from app.play_limits as l where user_id = any(%(users)s)
    union all
    select format('limit change %%s', id) from app.play_limit_changes where user_id = any(%(users)s)
    union all
    select format('proposal %%s %%s', id, status)
    from app.settlement_proposals where market_id = any(%(markets)s)
    union all
    select format('action %%s', id) from app.admin_actions where market_id = any(%(markets)s)
    union all
    select format('quote %%s', id) from app.quote_telemetry where user_id = any(%(users)s)
    union all
    select format('withdrawal %%s %%s', id, status)
    from app.withdrawals where user_id = any(%(users)s)
    union all
    select format('settings %%s', to_jsonb(c)) from app.config as c
    union all
    select format('retried jobs %%s', count(*))
    from app.side_effect_jobs where retried_at is not null
    union all
    select format('session %%s %%s', id, ended_at is null)
    from app.sessions where user_id = any(%(users)s)
    union all
    select format('seed pair %%s %%s %%s', id, next_nonce, revealed_at is null)
    from app.seed_pairs where user_id = any(%(users)s)
    union all
    select format('house bet %%s %%s %%s', id, status, moves)
    from app.house_bets where user_id = any(%(users)s)
    union all
    select format('house game %%s', to_jsonb(g)) from app.house_games as g
) as rows
"""
