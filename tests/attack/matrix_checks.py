"""What the matrix asserts of a call: how a refusal must look for each Outcome (with its HTTP status
when it came over HTTP), and a digest of the rows a call could change (equal before and after a
refused call)."""

from typing import Any

from tests.attack.matrix import Outcome, PersonaKind
from tests.attack.stage import MatrixCaller, Refused


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
