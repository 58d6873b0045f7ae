-- Written by `wagerbase supabase` from migrations/0003_settlement_review.sql: edit that, not this.

-- 0003: settlement review (DBGP V2, section 6.4): a per-market switch that makes settlement
-- two-step (an admin proposes the winner, another confirms), and the proposals themselves.
--
-- The functions are in rpc/45_settlement_review.sql, the policy in policies/20_settlement_review.sql.
-- See docs/settlement-review.md.

-- When true, the market is settled only by confirming a proposal (confirm_settlement); a direct
-- settle_market is refused by the trigger below. Set by require_settlement_confirmation.
alter table app.markets
add column settlement_requires_confirmation boolean not null default false;

-- A proposed result: pending until another admin confirms it (the market is then settled with
-- its outcome) or someone cancels it. At most one pending proposal per market.
create table app.settlement_proposals (
    id bigint generated always as identity primary key,
    market_id bigint not null references app.markets (id),
    outcome_id bigint not null references app.outcomes (id),
    status text not null default 'pending',
    note text,
    -- what preview_settlement showed when the proposal was made: the figures, without the wagers
    preview jsonb not null,
    -- the market's version then: a different one at confirmation means its pools changed since
    market_version bigint not null,
    proposed_by uuid,
    proposed_role text,
    proposed_at timestamptz not null default now(),
    decided_by uuid,
    decided_role text,
    decided_at timestamptz,
    cancel_reason text,
    -- the transaction that confirmed the proposal: the only one the trigger below lets settle
    confirmed_xact xid8,
    constraint settlement_proposals_status_known check (
        status in ('pending', 'confirmed', 'cancelled')
    ),
    constraint settlement_proposals_decided_unless_pending check (
        (status = 'pending') = (decided_at is null)
    ),
    constraint settlement_proposals_confirmed_by_a_transaction check (
        (status = 'confirmed') = (confirmed_xact is not null)
    ),
    constraint settlement_proposals_cancelled_with_a_reason check (
        (status = 'cancelled') = (cancel_reason is not null)
    ),
    constraint settlement_proposals_note_length check (note is null or length(note) <= 500),
    -- four eyes, kept twice (STYLE.md, SQL rule 7): confirm_settlement refuses `same_admin`, and
    -- this refuses a confirmation by the proposer (the service role, null, counts as one actor)
    constraint settlement_proposals_four_eyes check (
        status <> 'confirmed' or decided_by is distinct from proposed_by
    )
);
-- At most one pending proposal per market: propose_settlement inserts behind this index.
create unique index settlement_proposals_one_pending on app.settlement_proposals (market_id)
where status = 'pending';
create index settlement_proposals_market_idx on app.settlement_proposals (market_id, id);
alter table app.settlement_proposals enable row level security;

-- The gate on every settlement. A market that requires confirmation, or that has a pending
-- proposal, is settled only inside the transaction that confirmed its proposal, and only with the
-- proposed outcome. confirm_settlement marks the proposal confirmed (stamping the transaction id)
-- before it calls settle_market, so the settlements row that settle_market inserts passes here;
-- a direct settle_market fails here and everything it did is rolled back. Only security definer
-- functions can write proposals, so no client can forge the stamp (a session setting could be).
create function app._settlement_review_gate() returns trigger
language plpgsql
set search_path = ''
as $$
declare
    v_required boolean;
    v_pending bigint;
begin
    select m.settlement_requires_confirmation into v_required
    from app.markets as m
    where m.id = new.market_id;
    select p.id into v_pending
    from app.settlement_proposals as p
    where p.market_id = new.market_id and p.status = 'pending';
    if (v_required or v_pending is not null) and not exists (
        select 1
        from app.settlement_proposals as p
        where p.market_id = new.market_id
            and p.status = 'confirmed'
            and p.outcome_id = new.winning_outcome_id
            and p.confirmed_xact = pg_catalog.pg_current_xact_id()
    ) then
        perform app._fail('settlement_needs_confirmation', pg_catalog.jsonb_build_object(
            'market_id', new.market_id,
            'outcome_id', new.winning_outcome_id,
            'settlement_requires_confirmation', v_required,
            'pending_proposal_id', v_pending));
    end if;
    return new;
end
$$;

create trigger settlements_review_gate
before insert on app.settlements
for each row execute function app._settlement_review_gate();
