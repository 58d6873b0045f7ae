"""The attack matrix, written down: for every view and every function of schema `public`, what each
kind of caller may do. Everything not allowed here is refused.

The callers (personas):

- anonymous: no token, or the anon key (role `anon`);
- bettor: a signed-in user (role `authenticated`), bettor A, who owns rows in every view;
- other bettor: bettor B acting on A's rows (A's user id in a filter, A's wager id guessed);
- admin: a user whose `app_metadata.role` is `admin` in the token AND in auth.users;
- service_role: the service key (RLS bypassed, no user).

Reads (`select`) are one of the Scopes below. Writes (insert, update, delete, and over HTTP
POST, PATCH, PUT and DELETE on a view) are refused for every persona: no client role holds a
write privilege anywhere (42501; HTTP 401 for anonymous, 403 for the others). Money moves only
through the functions, whose `execute` is one of the Outcomes below.

tests/attack/test_catalog.py fails when a view or function of `public` is missing here (or listed
here and gone), and when docs/reliability.md's tables differ from `markdown()`; print them with
`.venv/bin/python -m tests.attack.matrix`.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class PersonaKind(StrEnum):
    """A kind of caller: a column of the matrix (one caller of a kind is a tests.db Persona at the
    database, a RestActor over HTTP)."""

    ANONYMOUS = "anonymous"
    BETTOR = "bettor"
    OTHER = "other bettor"
    ADMIN = "admin"
    SERVICE = "service_role"


PERSONAS = tuple(PersonaKind)


class Scope(StrEnum):
    """What a select returns."""

    ALL = "all rows"
    PUBLIC = "all but drafts"  # every row except those of draft markets
    OWN = "own rows"  # only the caller's own rows (the `owner` column is the caller)
    NONE = "no rows"  # allowed, and RLS leaves nothing
    DENIED = "refused"  # no select grant: 42501 (HTTP 401 anonymous / 403 others)


class Outcome(StrEnum):
    """What calling a function does."""

    ALLOWED = "allowed"
    DENIED = "refused: 42501"  # no execute grant (HTTP 401 anonymous / 403 others)
    NOT_ADMIN = "refused: not_admin"  # PT403, HTTP 403
    NOT_AUTHENTICATED = "refused: not_authenticated"  # PT401, HTTP 401


@dataclass(frozen=True)
class Relation:
    """A view of `public`: its select scope per persona (in PERSONAS order), the column that
    names the user a row belongs to (OWN), and the column that names its market (PUBLIC)."""

    name: str
    select: tuple[Scope, Scope, Scope, Scope, Scope]
    owner: str | None = None
    market: str | None = None

    def scope(self, persona: PersonaKind) -> Scope:
        return self.select[PERSONAS.index(persona)]


@dataclass(frozen=True)
class Function:
    """A function of `public`: the outcome of calling it, per persona (in PERSONAS order)."""

    name: str
    execute: tuple[Outcome, Outcome, Outcome, Outcome, Outcome]

    def outcome(self, persona: PersonaKind) -> Outcome:
        return self.execute[PERSONAS.index(persona)]


ALL, PUBLIC, OWN, NONE, DENIED = Scope.ALL, Scope.PUBLIC, Scope.OWN, Scope.NONE, Scope.DENIED
#                       anonymous  bettor  other   admin   service_role
MARKET_ROWS = (PUBLIC, PUBLIC, PUBLIC, ALL, ALL)  # drafts: admins and the service role
EVERYONE = (ALL, ALL, ALL, ALL, ALL)
USERS_OWN = (DENIED, OWN, OWN, ALL, ALL)  # a bettor their own; admins and service every row
MY_OWN = (DENIED, OWN, OWN, OWN, NONE)  # the my_* views: the caller's own, whoever they are
ADMINS_ONLY = (DENIED, NONE, NONE, ALL, ALL)

RELATIONS: tuple[Relation, ...] = (
    Relation("markets", MARKET_ROWS, market="id"),
    Relation("outcomes", MARKET_ROWS, market="market_id"),
    Relation("pool_snapshots", MARKET_ROWS, market="market_id"),
    Relation("settlements", EVERYONE, market="market_id"),
    # the draws are read through a security definer function that shows drafts to admins only
    # (the service role is not an admin there, and bypasses no RLS inside it)
    Relation("virtual_draws", (PUBLIC, PUBLIC, PUBLIC, ALL, PUBLIC), market="market_id"),
    Relation("leaderboard", EVERYONE),
    Relation("big_wins", EVERYONE, market="market_id"),
    Relation("market_stats", EVERYONE, market="market_id"),
    Relation("settings", EVERYONE),  # the engine's settings a client may read: one row
    Relation("wallets", USERS_OWN, owner="user_id"),
    Relation("my_wallet", MY_OWN, owner="user_id"),
    Relation("wagers", USERS_OWN, owner="user_id", market="market_id"),
    Relation("my_wagers", MY_OWN, owner="user_id", market="market_id"),
    Relation("wager_results", USERS_OWN, owner="user_id", market="market_id"),
    Relation("ledger", USERS_OWN, owner="user_id"),
    Relation("my_ledger", MY_OWN, owner="user_id"),
    Relation("play_limits", USERS_OWN, owner="user_id"),
    Relation("my_play_limits", MY_OWN, owner="user_id"),
    Relation("play_limit_changes", USERS_OWN, owner="user_id"),
    Relation("user_stats", USERS_OWN, owner="user_id"),
    Relation("withdrawals", USERS_OWN, owner="user_id"),  # those that waited for an admin
    Relation("my_withdrawals", MY_OWN, owner="user_id"),
    Relation("admin_actions", ADMINS_ONLY, market="market_id"),
    Relation("quote_telemetry", ADMINS_ONLY, owner="user_id", market="market_id"),
    Relation("settlement_proposals", ADMINS_ONLY, market="market_id"),
    # a bettor does not see even their own debt rows: the collection is the house's business
    Relation("user_debts", ADMINS_ONLY, owner="user_id", market="market_id"),
    Relation("side_effect_jobs", ADMINS_ONLY, market="market_id"),
    # house games (docs/house-games.md): the settings are public; the bets are read like wagers;
    # the seed pairs only by their owner, through a security definer function (no client role
    # reads app.seed_pairs, which holds the unrevealed server seeds)
    Relation("house_games", EVERYONE),
    Relation("house_bets", USERS_OWN, owner="user_id"),
    Relation("my_seed_pairs", MY_OWN, owner="user_id"),
    # the revenue per game (stakes - payouts): the house's business, like its summary
    Relation("house_game_results", ADMINS_ONLY),
    # the side effects of house bets: the levels and the XP ranking by public name are public; a
    # player reads their own XP and rakeback through get_level
    Relation("levels", EVERYONE),
    Relation("xp_leaderboard", EVERYONE),
    # the live-bets feed by public name, and each game's volume (not what the house won)
    Relation("live_bets", EVERYONE),
    Relation("house_game_volume", EVERYONE),
)

# the views with rows of single users that bettor B may read: where B looks for bettor A's rows
OWNED = tuple(r for r in RELATIONS if r.owner and r.scope(PersonaKind.OTHER) is not Scope.DENIED)


def in_scope(
    relation: Relation,
    scope: Scope,
    truth: list[dict[str, Any]],
    drafts: set[int],
    user_id: str | None,
) -> list[dict[str, Any]]:
    """The rows a select of `relation` with `scope` returns: of `truth`, the rows the superuser
    reads with the caller's claims, every one (ALL), those whose market is not one of `drafts`
    (PUBLIC), those whose owner is `user_id`, the caller (OWN), or none (NONE)."""
    if scope is Scope.ALL:
        return truth
    if scope is Scope.PUBLIC:
        assert relation.market is not None, relation.name
        return [r for r in truth if r[relation.market] not in drafts]
    if scope is Scope.OWN:
        assert relation.owner is not None, relation.name
        return [r for r in truth if r[relation.owner] == user_id]
    assert scope is Scope.NONE, f"{relation.name}: {scope} is a refusal, not rows"
    return []


ALLOWED, REFUSED = Outcome.ALLOWED, Outcome.DENIED
NOT_ADMIN, NOT_AUTHENTICATED = Outcome.NOT_ADMIN, Outcome.NOT_AUTHENTICATED
#                       anonymous  bettor     other      admin    service_role
ADMIN_CALL = (REFUSED, NOT_ADMIN, NOT_ADMIN, ALLOWED, ALLOWED)
USER_CALL = (REFUSED, ALLOWED, ALLOWED, ALLOWED, REFUSED)  # on the caller's own wallet only
ANYONE = (ALLOWED, ALLOWED, ALLOWED, ALLOWED, ALLOWED)

FUNCTIONS: tuple[Function, ...] = (
    # anyone: quotes, depth and draw checks (drafts: admins only), and whether one acts as admin
    Function("preview_wager", ANYONE),
    Function("acts_as_admin", ANYONE),
    Function("get_market_depth", ANYONE),
    Function("verify_draw", ANYONE),
    Function("get_revealed_seed", ANYONE),  # a revealed pair by its hash; never an active one
    # a user's own money and limits
    Function("get_wallet", (REFUSED, ALLOWED, ALLOWED, ALLOWED, NOT_AUTHENTICATED)),
    Function("deposit", USER_CALL),
    Function("withdraw", USER_CALL),
    Function("place_wager", USER_CALL),
    Function("set_daily_stake_limit", USER_CALL),
    Function("set_daily_deposit_limit", USER_CALL),
    Function("set_self_exclusion", USER_CALL),
    # house games: the caller's own seed pair and bets
    Function("get_seed", USER_CALL),
    Function("rotate_seed", USER_CALL),
    Function("play_dice", USER_CALL),
    Function("play_limbo", USER_CALL),
    Function("play_roulette", USER_CALL),
    Function("auto_bet", USER_CALL),
    Function("play_plinko", USER_CALL),
    Function("play_keno", USER_CALL),
    # mines: the caller's own rounds (another's is round_not_found, tests/db/test_mines_refusals.py)
    Function("open_mines", USER_CALL),
    Function("reveal_mines_cell", USER_CALL),
    Function("cashout_mines", USER_CALL),
    Function("get_mines_round", USER_CALL),
    Function("get_level", USER_CALL),
    Function("claim_rakeback", USER_CALL),
    # the affiliate program: the caller's own code, referrer and commission
    Function("get_affiliate", USER_CALL),
    Function("set_referrer", USER_CALL),
    Function("claim_affiliate_commission", USER_CALL),
    # admins (and the service role, the operator's back office)
    Function("create_market", ADMIN_CALL),
    Function("create_virtual_market", ADMIN_CALL),
    Function("open_market", ADMIN_CALL),
    Function("close_market", ADMIN_CALL),
    Function("void_market", ADMIN_CALL),
    Function("admin_list_pending_wagers", ADMIN_CALL),
    Function("approve_wager", ADMIN_CALL),
    Function("reject_wager", ADMIN_CALL),
    Function("void_wager", ADMIN_CALL),
    Function("settle_market", ADMIN_CALL),
    Function("preview_settlement", ADMIN_CALL),
    Function("require_settlement_confirmation", ADMIN_CALL),
    Function("propose_settlement", ADMIN_CALL),
    Function("confirm_settlement", ADMIN_CALL),
    Function("cancel_settlement_proposal", ADMIN_CALL),
    Function("unsettle_market", ADMIN_CALL),
    Function("resettle_market", ADMIN_CALL),
    Function("house_summary", ADMIN_CALL),
    Function("retry_side_effects", ADMIN_CALL),
    # real money (docs/operations.md): settings, credits from outside, withdrawal approvals
    Function("update_settings", ADMIN_CALL),
    Function("update_house_game", ADMIN_CALL),
    Function("settle_house_round", ADMIN_CALL),
    Function("credit_wallet", ADMIN_CALL),
    Function("admin_list_pending_withdrawals", ADMIN_CALL),
    Function("approve_withdrawal", ADMIN_CALL),
    Function("reject_withdrawal", ADMIN_CALL),
    Function("revoke_sessions", ADMIN_CALL),
)

WRITES = "refused"  # every persona, every view: see the module heading


def relation(name: str) -> Relation:
    return next(r for r in RELATIONS if r.name == name)


def function(name: str) -> Function:
    return next(f for f in FUNCTIONS if f.name == name)


def markdown() -> str:
    """The two tables of docs/reliability.md's "Attack matrix", exactly."""
    heads = " | ".join(p.value for p in PERSONAS)
    lines = [
        f"| view | {heads} | insert / update / delete |",
        "| --- |" + " --- |" * (len(PERSONAS) + 1),
    ]
    for r in RELATIONS:
        cells = " | ".join(s.value for s in r.select)
        lines.append(f"| `{r.name}` | {cells} | {WRITES} |")
    lines += ["", f"| function | {heads} |", "| --- |" + " --- |" * len(PERSONAS)]
    for f in FUNCTIONS:
        cells = " | ".join(o.value for o in f.execute)
        lines.append(f"| `{f.name}` | {cells} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
