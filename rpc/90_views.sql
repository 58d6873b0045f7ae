-- The read side: views in the exposed schema. Each is security_invoker, so the caller's role and
-- the RLS policies on the app tables (policies/) decide which rows come back. `my_*` views narrow
-- to the caller's own rows; the plain ones show an admin every row and a bettor their own.
-- Column lists change only by dropping a view, so each view is dropped and created again.

drop view if exists public.my_wallet;
drop view if exists public.my_wagers;
drop view if exists public.my_ledger;
drop view if exists public.markets;
drop view if exists public.outcomes;
drop view if exists public.settlements;
drop view if exists public.wallets;
drop view if exists public.wagers;
drop view if exists public.ledger;
drop view if exists public.admin_actions;
drop view if exists public.quote_telemetry;
drop view if exists public.settings;
drop view if exists public.pool_snapshots;
drop view if exists public.wager_results;
drop view if exists public.my_withdrawals;
drop view if exists public.withdrawals;

-- Every market anyone may see (drafts: admins only), with live odds, caps and pools, whether
-- its settlement needs a second admin (settlement review: propose, then another admin confirms),
-- whether it takes wagers now (accepting_wagers) and whether it is a BetMarket game
-- (betmarket_game): rpc/02_market_facts.sql.
create view public.markets with (security_invoker = true) as
select
    m.id,
    m.title,
    m.description,
    m.kind,
    m.category,
    m.status,
    m.closes_at,
    app._accepting_wagers(m.status, m.closes_at) as accepting_wagers,
    app._betmarket_game(m.kind, m.outcome_count) as betmarket_game,
    m.total_pool,
    m.version,
    m.outcome_count,
    m.requires_approval,
    m.settlement_requires_confirmation,
    m.virtual_stake,
    m.commission_bps,
    m.margin,
    m.min_cap,
    m.rake_bps,
    m.max_payout,
    m.winning_outcome_id,
    m.void_reason,
    m.created_at,
    m.opened_at,
    m.closed_at,
    m.settled_at,
    m.voided_at,
    (
        select
            jsonb_agg(jsonb_build_object(
                'outcome_id', q.outcome_id, 'position', q.position, 'label', q.label,
                'color', q.color, 'abbreviation', q.abbreviation, 'pool', q.pool,
                'share', q.share, 'odds', q.odds, 'cap', q.cap, 'wager_count', q.wager_count
            ) order by q.position)
        from app.outcome_quotes as q
        where q.market_id = m.id
    ) as outcomes
from app.markets as m;

-- Every outcome of a visible market, with its live odds, cap, pool and share.
create view public.outcomes with (security_invoker = true) as
select
    q.outcome_id as id,
    q.market_id,
    q.position,
    q.label,
    q.color,
    q.abbreviation,
    q.pool,
    q.share,
    q.odds,
    q.cap,
    q.wager_count,
    q.market_version
from app.outcome_quotes as q;

-- Settlement records: public, the ground truth of every payout.
create view public.settlements with (security_invoker = true) as
select
    s.market_id,
    s.winning_outcome_id,
    s.kind,
    s.total_pool,
    s.rake,
    s.net_pool,
    s.winning_pool,
    s.total_paid,
    s.dust,
    s.house_result,
    s.refunded,
    s.winners_count,
    s.losers_count,
    s.winning_users,
    s.settled_at
from app.settlements as s;

-- Wallets: a bettor sees their own, an admin every one.
create view public.wallets with (security_invoker = true) as
select
    a.user_id,
    a.balance,
    a.version,
    a.created_at
from app.accounts as a
where a.kind = 'user';

create view public.my_wallet with (security_invoker = true) as
select
    w.user_id,
    w.balance,
    w.version,
    w.created_at
from public.wallets as w
where w.user_id = (select auth.uid());

-- Wagers with their market and outcome: a bettor sees their own, an admin every one. `is_big`:
-- the stake reached app.config.big_wager_min_stake (read now, so a new setting re-flags them all).
create view public.wagers with (security_invoker = true) as
select
    w.id,
    w.user_id,
    w.market_id,
    m.title as market_title,
    m.kind,
    m.category,
    m.status as market_status,
    m.winning_outcome_id,
    w.outcome_id,
    o.label as outcome_label,
    o.position,
    w.stake,
    w.stake >= (select c.big_wager_min_stake from app.config as c) as is_big,
    w.odds,
    w.potential_payout,
    w.expected_odds,
    w.approval,
    w.settlement,
    w.payout,
    w.payout - w.stake as profit,
    w.reject_reason,
    w.idempotency_key,
    w.created_at,
    w.decided_at,
    w.settled_at
from app.wagers as w
inner join app.markets as m on w.market_id = m.id
inner join app.outcomes as o on w.outcome_id = o.id;

create view public.my_wagers with (security_invoker = true) as
select w.*
from public.wagers as w
where w.user_id = (select auth.uid());

-- Each settled wager's result and the bettor's running profit or loss: one row per wager that won
-- or lost (those user_stats counts; a void or refunded wager moves nothing, payout = stake), with
-- `profit` = payout - stake and `running_profit` = the sum of profit over the same user's won and
-- lost wagers up to this one, in the order (settled_at, id). RLS on app.wagers runs before the
-- sum: a bettor's rows and totals are their own, an admin's are every bettor's, each summed per
-- user. Filtering on user_id narrows the rows first; any other filter leaves the totals whole.
-- An unsettled wager is open again and leaves the sum.
create view public.wager_results with (security_invoker = true) as
select
    w.id,
    w.user_id,
    w.market_id,
    m.title as market_title,
    w.outcome_id,
    o.label as outcome_label,
    w.settlement,
    w.stake,
    w.payout,
    w.payout - w.stake as profit,
    (sum(w.payout - w.stake) over (
        partition by w.user_id order by w.settled_at, w.id
        rows between unbounded preceding and current row
    ))::bigint as running_profit,
    w.settled_at
from app.wagers as w
inner join app.markets as m on w.market_id = m.id
inner join app.outcomes as o on w.outcome_id = o.id
where w.settlement in ('won', 'lost');

-- Ledger entries on user wallets: a bettor sees their own, an admin every one.
create view public.ledger with (security_invoker = true) as
select
    e.id,
    e.transaction_id,
    e.user_id,
    e.kind,
    e.market_id,
    e.amount,
    e.balance_before,
    e.balance_after,
    e.account_version as version,
    e.created_at
from app.ledger_entries as e
where e.user_id is not null;

create view public.my_ledger with (security_invoker = true) as
select l.*
from public.ledger as l
where l.user_id = (select auth.uid());

-- The admin actions log and the quote telemetry: admins only (RLS).
create view public.admin_actions with (security_invoker = true) as
select
    a.id,
    a.actor,
    a.actor_role,
    a.action,
    a.market_id,
    a.wager_id,
    a.reason,
    a.before,
    a.after,
    a.created_at
from app.admin_actions as a;

create view public.quote_telemetry with (security_invoker = true) as
select
    t.id,
    t.market_id,
    t.outcome_id,
    t.user_id,
    t.stake,
    t.baseline_odds,
    t.effective_odds,
    t.price_impact_pp,
    t.share_after,
    t.created_at
from app.quote_telemetry as t;

-- Pool snapshots (migration 0007; docs/depth.md): every outcome's pool, share and odds each time
-- the scheduler took them and at close, one row per outcome per snapshot, for any span
-- (get_market_depth answers the last hour at most). RLS (policies/40_depth.sql): anyone reads the
-- snapshots of a market they can see, so a draft's only admins. Filter on market_id and taken_at
-- (indexed together).
create view public.pool_snapshots with (security_invoker = true) as
select
    s.id,
    s.market_id,
    s.outcome_id,
    s.reason,
    s.market_version,
    s.outcome_pool,
    s.total_pool,
    s.takeout,
    s.share,
    s.odds,
    s.taken_at
from app.pool_snapshots as s;

-- The engine's settings a client may read (app.config's one row; only the database owner changes
-- them): the wallet's amounts, odds locking, the defaults of a new market, the cooling-off before
-- a loosened play limit applies (also in whole seconds, for clients without an interval type),
-- the depth settings, the thresholds of a big wager and a big win, whether bettors may deposit
-- and whether withdrawals wait for an admin (the real-money profile, docs/operations.md), and the
-- limits per client address on sign-ins, sign-ups and token refreshes with their window (also in
-- whole seconds) (see docs/engine.md, "Settings"), whether anonymous sign-ins are on and the
-- refresh-token reuse interval (docs/api.md, "Auth"), the most bets one auto_bet call may ask for
-- (docs/house-games.md, "Auto-bet"). The side-effect workers' tuning is left
-- out: no surface of the API shows it. Admins change the money settings and anonymous_sign_ins
-- with update_settings (rpc/07_settings.sql).
create view public.settings with (security_invoker = true) as
select
    c.initial_balance,
    c.max_deposit,
    c.max_withdrawal,
    c.odds_tolerance,
    c.default_virtual_stake,
    c.default_commission_bps,
    c.default_margin,
    c.default_min_cap,
    c.default_rake_bps,
    c.default_max_payout,
    c.play_limit_cooling_off,
    extract(epoch from c.play_limit_cooling_off)::bigint as play_limit_cooling_off_seconds,
    c.snapshot_interval_seconds,
    c.depth_impact_threshold_pp,
    c.big_wager_min_stake,
    c.big_win_min_profit,
    c.self_service_deposits,
    c.withdrawals_require_approval,
    c.sign_in_limit_per_address,
    c.sign_up_limit_per_address,
    c.refresh_limit_per_address,
    c.address_limit_window,
    extract(epoch from c.address_limit_window)::bigint as address_limit_window_seconds,
    c.anonymous_sign_ins,
    c.refresh_token_reuse_seconds,
    c.auto_bet_max_count
from app.config as c;

-- Withdrawals that waited for an admin (migration 0016, rpc/11_withdrawals.sql): a bettor sees
-- their own, an admin every one; pending, approved, or rejected with the reason.
create view public.withdrawals with (security_invoker = true) as
select
    w.id,
    w.user_id,
    p.username,
    w.amount,
    w.status,
    w.reason,
    w.idempotency_key,
    w.request_transaction_id,
    w.decision_transaction_id,
    w.requested_at,
    w.decided_at
from app.withdrawals as w
left join app.profiles as p on w.user_id = p.user_id;

create view public.my_withdrawals with (security_invoker = true) as
select w.*
from public.withdrawals as w
where w.user_id = (select auth.uid());

grant select on public.markets, public.outcomes, public.settlements, public.settings,
public.pool_snapshots
to anon, authenticated, service_role;
grant select on public.wallets, public.my_wallet, public.wagers, public.my_wagers,
public.wager_results, public.ledger, public.my_ledger, public.admin_actions,
public.quote_telemetry, public.withdrawals, public.my_withdrawals
to authenticated, service_role;
