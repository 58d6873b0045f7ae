-- Settlement review (docs/settlement-review.md): preview a settlement; settle in two steps (one
-- admin proposes, another confirms through settle_market), gated by the trigger
-- settlements_review_gate (migration 0003). Locks: market, proposal, settle_market's accounts.

-- _settlement_outcome: the market's outcome `p_outcome_id`, checked as settle_market does.
-- Raises: outcome_not_found.
create or replace function app._settlement_outcome(p_market app.markets, p_outcome_id bigint)
returns app.outcomes
language plpgsql stable
set search_path = ''
as $$
declare
    v_outcome app.outcomes;
begin
    select * into v_outcome
    from app.outcomes as o
    where o.id = p_outcome_id and o.market_id = p_market.id;
    if not found then
        perform app._fail('outcome_not_found', pg_catalog.jsonb_build_object(
            'market_id', p_market.id, 'outcome_id', p_outcome_id));
    end if;
    return v_outcome;
end
$$;

-- _settlement_preview: what settling `p_market` with `p_winner` would do now, computed as
-- settle_market does (same rows and formulas; rake and payouts are exact floors, by div).
-- `payout_per_unit`: net (parimutuel) or paid (fixed odds) per unit of winning stake, or null.
create or replace function app._settlement_preview(p_market app.markets, p_winner app.outcomes)
returns jsonb
language plpgsql stable
set search_path = ''
as $$
declare
    v_total bigint;
    v_winning_pool bigint;
    v_refund_all boolean;
    v_rake bigint := 0;
    v_net bigint;
    v_paid bigint;
    v_dust bigint := 0;
    v_figures jsonb;
    v_pending jsonb;
begin
    select coalesce(sum(w.stake), 0)::bigint,
           coalesce(sum(w.stake) filter (where w.outcome_id = p_winner.id), 0)::bigint
    into v_total, v_winning_pool
    from app.wagers as w
    where w.market_id = p_market.id and w.approval = 'accepted' and w.settlement = 'open';
    v_refund_all := p_market.kind = 'parimutuel' and v_winning_pool = 0;
    if p_market.kind = 'parimutuel' and not v_refund_all then
        v_rake := div(v_total::numeric * p_market.rake_bps, 10000)::bigint;
    end if;
    v_net := v_total - v_rake;

    with paid as (
        select w.id, w.user_id, w.outcome_id, w.stake,
               case
                   when v_refund_all then 'void'
                   when w.outcome_id = p_winner.id then 'won'
                   else 'lost'
               end as settlement,
               case
                   when v_refund_all then w.stake
                   when w.outcome_id <> p_winner.id then 0
                   when p_market.kind = 'fixed_odds' then w.potential_payout
                   else div(w.stake::numeric * v_net, v_winning_pool)::bigint
               end as payout
        from app.wagers as w
        where w.market_id = p_market.id and w.approval = 'accepted' and w.settlement = 'open'
    )
    select coalesce(sum(p.payout), 0)::bigint,
           pg_catalog.jsonb_build_object(
               'winners_count', count(*) filter (where p.settlement = 'won'),
               'losers_count', count(*) filter (where p.settlement = 'lost'),
               'winning_users', count(distinct p.user_id) filter (where p.settlement = 'won'),
               'wagers', coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
                   'wager_id', p.id, 'user_id', p.user_id, 'username', u.username,
                   'outcome_id', p.outcome_id, 'stake', p.stake,
                   'settlement', p.settlement, 'payout', p.payout
               ) order by p.id), '[]'))
    into v_paid, v_figures
    from paid as p
    left join app.profiles as u on p.user_id = u.user_id;
    if p_market.kind = 'parimutuel' then
        v_dust := v_net - v_paid;
    end if;

    -- the pending wagers settle_market rejects first
    select pg_catalog.jsonb_build_object(
        'pending_refunded', pg_catalog.jsonb_build_object(
            'wagers', count(*), 'amount', coalesce(sum(w.stake), 0)::bigint),
        'pending_wagers', coalesce(jsonb_agg(pg_catalog.jsonb_build_object(
            'wager_id', w.id, 'user_id', w.user_id, 'username', u.username,
            'outcome_id', w.outcome_id, 'stake', w.stake
        ) order by w.id), '[]'))
    into v_pending
    from app.wagers as w
    left join app.profiles as u on w.user_id = u.user_id
    where w.market_id = p_market.id and w.approval = 'pending' and w.settlement = 'open';

    return v_figures || v_pending || pg_catalog.jsonb_build_object(
        'market_id', p_market.id, 'kind', p_market.kind, 'status', p_market.status,
        'market_version', p_market.version,
        'settlement_requires_confirmation', p_market.settlement_requires_confirmation,
        'winning_outcome_id', p_winner.id, 'winning_position', p_winner.position,
        'winning_label', p_winner.label,
        'total_pool', v_total, 'rake', v_rake, 'net_pool', v_net, 'winning_pool', v_winning_pool,
        'payout_per_unit', round(
            case when p_market.kind = 'parimutuel' then v_net else v_paid end::numeric
            / nullif(v_winning_pool, 0), 4),
        'total_paid', v_paid, 'dust', v_dust, 'house_result', v_total - v_paid,
        'refunded', v_refund_all,
        'summary', format('%s: pool %s, rake %s, %s paid on %s winning and %s losing wagers, '
            'dust %s, house %s%s.',
            case when v_refund_all then 'Nobody backed ' || p_winner.label || ', all refunded'
                 else p_winner.label || ' wins' end,
            (v_total / 100.0)::numeric(20, 2), (v_rake / 100.0)::numeric(20, 2),
            (v_paid / 100.0)::numeric(20, 2),
            v_figures -> 'winners_count', v_figures -> 'losers_count',
            (v_dust / 100.0)::numeric(20, 2), ((v_total - v_paid) / 100.0)::numeric(20, 2),
            case when v_pending #>> '{pending_refunded,wagers}' <> '0' then format(
                '; %s pending wagers (%s) rejected and refunded first',
                v_pending #> '{pending_refunded,wagers}',
                ((v_pending #>> '{pending_refunded,amount}')::bigint / 100.0)::numeric(20, 2))
            end)
    );
end
$$;

-- preview_settlement(market_id, outcome_id): what settle_market would do now, to the minor unit:
-- pools, rake, payout per unit, winners, losers, paid, dust, house result, refunded, the pending
-- wagers it would reject, each wager's payout, and a one-line summary.
-- Callers: admins. Changes: nothing.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, already_settled, invalid_market_state, outcome_not_found.
create or replace function public.preview_settlement(market_id bigint, outcome_id bigint)
returns jsonb
language plpgsql stable
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
declare
    v_market app.markets;
begin
    perform app._require_admin();
    select * into v_market from app.markets as m where m.id = preview_settlement.market_id;
    if not found then
        perform app._fail('market_not_found', pg_catalog.jsonb_build_object(
            'market_id', preview_settlement.market_id));
    end if;
    perform app._require_status(v_market, array['open', 'closed'], 'preview_settlement');
    return app._settlement_preview(
        v_market, app._settlement_outcome(v_market, preview_settlement.outcome_id));
end
$$;
grant execute on function public.preview_settlement(bigint, bigint) to authenticated, service_role;

-- require_settlement_confirmation(market_id, required): make the market's settlement two-step, or
-- one-step again. While on, settle_market is refused. A call that changes nothing changes, logs
-- and announces nothing.
-- Callers: admins. Changes: markets.settlement_requires_confirmation and version + 1; logs;
-- notifies settlement_confirmation to admins and, unless the market is a draft (which says
-- nothing until it opens), the market message settlement_confirmation to everyone.
-- Raises: not_admin, market_not_found, invalid_argument, already_settled, invalid_market_state.
create or replace function public.require_settlement_confirmation(market_id bigint, required boolean)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(require_settlement_confirmation.market_id);
    v_before jsonb := app._market_row(v_market.id);
    v_after jsonb;
begin
    if require_settlement_confirmation.required is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'required', 'reason', 'true or false'));
    end if;
    perform app._require_status(
        v_market, array['draft', 'open', 'closed'], 'require_settlement_confirmation');
    if v_market.settlement_requires_confirmation = require_settlement_confirmation.required then
        return v_before;
    end if;
    update app.markets as m
    set settlement_requires_confirmation = require_settlement_confirmation.required,
        version = m.version + 1
    where m.id = v_market.id;
    v_after := app._market_row(v_market.id);
    perform app._audit('require_settlement_confirmation', v_market.id, null, null, v_before, v_after);
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_confirmation', 'market_id', v_market.id, 'status', v_market.status,
        'required', require_settlement_confirmation.required, 'changed_by', v_actor));
    if v_market.status <> 'draft' then
        perform app._notify_market(v_market.id, 'settlement_confirmation',
            pg_catalog.jsonb_build_object(
                'settlement_requires_confirmation', require_settlement_confirmation.required));
    end if;
    return v_after;
end
$$;
grant execute on function public.require_settlement_confirmation(bigint, boolean)
to authenticated, service_role;

-- _proposal_row: a proposal as answers and the log show it (the gate's stamp left out).
create or replace function app._proposal_row(p_proposal app.settlement_proposals)
returns jsonb
language sql stable
set search_path = ''
as $$
    select to_jsonb(p_proposal) - 'confirmed_xact'
$$;

-- _lock_pending_proposal: the market's pending proposal (`p_proposal_id` if given), locked.
-- Raises: no_pending_proposal.
create or replace function app._lock_pending_proposal(p_market_id bigint, p_proposal_id bigint)
returns app.settlement_proposals
language plpgsql
set search_path = ''
as $$
declare
    v_proposal app.settlement_proposals;
begin
    select * into v_proposal
    from app.settlement_proposals as p
    where p.market_id = p_market_id and p.status = 'pending'
    for update;
    if v_proposal.id is null or v_proposal.id <> coalesce(p_proposal_id, v_proposal.id) then
        perform app._fail('no_pending_proposal', pg_catalog.jsonb_build_object(
            'market_id', p_market_id, 'proposal_id', p_proposal_id,
            'pending_proposal_id', v_proposal.id));
    end if;
    return v_proposal;
end
$$;

-- propose_settlement(market_id, outcome_id, note): propose the winner, for another admin (or the
-- service role) to confirm. It stops betting: an open market is closed first. One pending
-- proposal per market; while pending, only confirming it settles the market.
-- Callers: admins. Changes: an open market -> closed (logged as close_market, notifies closed); a
-- pending proposal holding the preview's figures; logs; notifies settlement_proposed to admins.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, already_settled, invalid_market_state, outcome_not_found,
-- invalid_argument (note over 500 characters), proposal_exists.
create or replace function public.propose_settlement(
    market_id bigint,
    outcome_id bigint,
    note text default null
)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
#variable_conflict use_column
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(propose_settlement.market_id);
    v_note text := nullif(btrim(propose_settlement.note), '');
    v_winner app.outcomes;
    v_preview jsonb;
    v_proposal app.settlement_proposals;
begin
    perform app._require_status(v_market, array['open', 'closed'], 'propose_settlement');
    v_winner := app._settlement_outcome(v_market, propose_settlement.outcome_id);
    if length(v_note) > 500 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'note', 'reason', 'at most 500 characters'));
    end if;

    if v_market.status = 'open' then
        perform app._transition(v_market, 'closed', 'close_market', 'closed', 'settlement proposed');
        select * into v_market from app.markets as m where m.id = v_market.id;
    end if;
    v_preview := app._settlement_preview(v_market, v_winner);

    -- behind the unique index (one pending per market), never checked first
    insert into app.settlement_proposals (
        market_id, outcome_id, note, preview, market_version, proposed_by, proposed_role
    )
    values (
        v_market.id, v_winner.id, v_note, v_preview - 'wagers' - 'pending_wagers',
        v_market.version, auth.uid(), auth.role()
    )
    on conflict (market_id) where status = 'pending' do nothing
    returning * into v_proposal;
    if v_proposal.id is null then
        perform app._fail('proposal_exists', (
            select pg_catalog.jsonb_build_object('market_id', p.market_id, 'proposal_id', p.id,
                'outcome_id', p.outcome_id, 'proposed_by', p.proposed_by)
            from app.settlement_proposals as p
            where p.market_id = v_market.id and p.status = 'pending'));
    end if;

    perform app._audit('propose_settlement', v_market.id, null, v_note, null,
        app._proposal_row(v_proposal));
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_proposed', 'proposal_id', v_proposal.id, 'market_id', v_market.id,
        'outcome_id', v_winner.id, 'proposed_by', v_actor, 'note', v_note,
        'total_pool', v_preview -> 'total_pool', 'total_paid', v_preview -> 'total_paid',
        'house_result', v_preview -> 'house_result', 'refunded', v_preview -> 'refunded'));
    return app._proposal_row(v_proposal) || pg_catalog.jsonb_build_object('preview', v_preview);
end
$$;
grant execute on function public.propose_settlement(bigint, bigint, text) to authenticated, service_role;

-- confirm_settlement(market_id, proposal_id): settle with the pending proposal's outcome through
-- settle_market. Four eyes: not by the proposer (the service role counts as one actor). With
-- `proposal_id`, only that one. Answers settle_market's answer, the proposal, `matches_proposal`
-- (the figures equal the proposal's preview; approvals since can change them).
-- Callers: admins but the proposer. Changes: the proposal -> confirmed; what settle_market changes
-- (logged as settle_market); logs; notifies settlement_confirmed to admins, and settle_market's.
-- Runs for up to 5 minutes (its own statement_timeout, which the API applies before the call:
-- rpc/04_requests.sql), not the 8 s of other authenticated calls: a market of a million wagers.
-- Raises: not_admin, market_not_found, already_settled, invalid_market_state,
-- no_pending_proposal, same_admin.
create or replace function public.confirm_settlement(market_id bigint, proposal_id bigint default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
set statement_timeout = '5min'
as $$
declare
    v_actor uuid := app._require_admin();
    v_market app.markets := app._lock_market(confirm_settlement.market_id);
    v_proposal app.settlement_proposals;
    v_confirmed app.settlement_proposals;
    v_settlement jsonb;
    v_matches boolean;
begin
    perform app._require_status(v_market, array['open', 'closed'], 'confirm_settlement');
    v_proposal := app._lock_pending_proposal(v_market.id, confirm_settlement.proposal_id);
    if v_proposal.proposed_by is not distinct from v_actor then
        perform app._fail('same_admin', pg_catalog.jsonb_build_object(
            'market_id', v_market.id, 'proposal_id', v_proposal.id,
            'proposed_by', v_proposal.proposed_by, 'role', auth.role()));
    end if;

    -- the stamp the gate looks for: this transaction, this outcome
    update app.settlement_proposals as p
    set status = 'confirmed', decided_by = v_actor, decided_role = auth.role(), decided_at = now(),
        confirmed_xact = pg_catalog.pg_current_xact_id()
    where p.id = v_proposal.id
    returning * into v_confirmed;
    v_settlement := public.settle_market(v_market.id, v_proposal.outcome_id);

    select bool_and(v_proposal.preview -> k = v_settlement -> k) into v_matches
    from unnest(array[
        'total_pool', 'rake', 'net_pool', 'winning_pool', 'total_paid', 'dust', 'house_result',
        'refunded', 'winners_count', 'losers_count', 'winning_users', 'pending_refunded'
    ]) as k;

    perform app._audit('confirm_settlement', v_market.id, null, v_proposal.note,
        app._proposal_row(v_proposal),
        app._proposal_row(v_confirmed) || pg_catalog.jsonb_build_object(
            'settlement', v_settlement, 'matches_proposal', v_matches));
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_confirmed', 'proposal_id', v_proposal.id, 'market_id', v_market.id,
        'outcome_id', v_proposal.outcome_id, 'proposed_by', v_proposal.proposed_by,
        'confirmed_by', v_actor, 'total_paid', v_settlement -> 'total_paid',
        'house_result', v_settlement -> 'house_result', 'matches_proposal', v_matches));
    return v_settlement || pg_catalog.jsonb_build_object(
        'proposal', app._proposal_row(v_confirmed), 'matches_proposal', v_matches);
end
$$;
grant execute on function public.confirm_settlement(bigint, bigint) to authenticated, service_role;

-- cancel_settlement_proposal(market_id, reason): withdraw or turn down the pending proposal. The
-- market stays closed; a new proposal can follow.
-- Callers: admins. Changes: the proposal -> cancelled; logs; notifies settlement_cancelled.
-- Raises: not_admin, market_not_found, invalid_argument (no reason), no_pending_proposal.
create or replace function public.cancel_settlement_proposal(market_id bigint, reason text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_actor uuid := app._require_admin();
    v_reason text;
    v_market app.markets := app._lock_market(cancel_settlement_proposal.market_id);
    v_proposal app.settlement_proposals;
    v_cancelled app.settlement_proposals;
begin
    v_reason := app._required_reason(cancel_settlement_proposal.reason);
    v_proposal := app._lock_pending_proposal(v_market.id, null);

    update app.settlement_proposals as p
    set status = 'cancelled', decided_by = v_actor, decided_role = auth.role(), decided_at = now(),
        cancel_reason = v_reason
    where p.id = v_proposal.id
    returning * into v_cancelled;

    perform app._audit('cancel_settlement_proposal', v_market.id, null, v_reason,
        app._proposal_row(v_proposal), app._proposal_row(v_cancelled));
    perform app._notify('wagerbase_admin', pg_catalog.jsonb_build_object(
        'type', 'settlement_cancelled', 'proposal_id', v_proposal.id, 'market_id', v_market.id,
        'outcome_id', v_proposal.outcome_id, 'proposed_by', v_proposal.proposed_by,
        'cancelled_by', v_actor, 'reason', v_reason));
    return app._proposal_row(v_cancelled);
end
$$;
grant execute on function public.cancel_settlement_proposal(bigint, text) to authenticated, service_role;

-- Settlement proposals with market, outcome and admins' names: admins only (RLS, policies/).
drop view if exists public.settlement_proposals;
create view public.settlement_proposals with (security_invoker = true) as
select
    p.id,
    p.market_id,
    m.title as market_title,
    m.status as market_status,
    m.settlement_requires_confirmation,
    p.outcome_id,
    o.label as outcome_label,
    p.status,
    p.note,
    p.preview,
    p.market_version,
    p.proposed_by,
    pu.username as proposed_by_username,
    p.proposed_role,
    p.proposed_at,
    p.decided_by,
    du.username as decided_by_username,
    p.decided_role,
    p.decided_at,
    p.cancel_reason
from app.settlement_proposals as p
inner join app.markets as m on p.market_id = m.id
inner join app.outcomes as o on p.outcome_id = o.id
left join app.profiles as pu on p.proposed_by = pu.user_id
left join app.profiles as du on p.decided_by = du.user_id;
grant select on public.settlement_proposals to authenticated, service_role;
