-- Written by `wagerbase supabase` from migrations/0010_virtual_markets.sql: edit that, not this.

-- 0010: provably-fair virtual markets (issue 5; BetMarket's virtual events, BetService section 4).
--
-- A virtual market (roulette or dice) is created with a server seed whose SHA-256 is published at
-- once. When it closes (on schedule, never earlier) the client seed is fixed from the wagers in
-- play, and the draw HMAC-SHA256(server seed, client seed || ':' || nonce) picks the winner; the
-- scheduler then settles it with that winner and reveals the seed. app.virtual_draws holds all of
-- it. Clients never read the table: the seed, and the draw, reach them only once revealed, through
-- public.virtual_draws and public.verify_draw (rpc/75_virtual.sql). See docs/provably-fair.md.
--
-- The triggers below are the gates, whoever calls: each is a thin wrapper around a function of
-- rpc/75_virtual.sql, where the rules live.

create table app.virtual_draws (
    market_id bigint primary key references app.markets (id),
    -- 'roulette' (37 pockets) or 'dice' (a roll of 0.00 to 99.99 against a threshold)
    template text not null,
    -- dice: {"threshold": hundredths, 1 to 9999}; roulette: {}
    params jsonb not null default '{}',
    -- 64 lowercase hex characters (32 random bytes); its text is the HMAC key
    server_seed text not null,
    -- the commitment: lowercase hex SHA-256 of the seed's text
    server_seed_hash text not null,
    -- binds the draw to the market: its id
    nonce bigint not null,
    -- fixed when the market closes: the wagers in play then, the SHA-256 of
    -- market_id || ':' || their ids (comma separated, ascending), the HMAC (hex), the number
    -- drawn (roulette: the pocket; dice: the roll in hundredths) and the outcome it names
    wager_ids bigint[],
    client_seed text,
    hmac text,
    result integer,
    winning_outcome_id bigint references app.outcomes (id),
    created_at timestamptz not null default now(),
    drawn_at timestamptz,
    -- when the seed became readable: 'settled' (by the draw's settlement) or 'void' (the market
    -- was voided); written by the scheduler only, in a transaction no client takes part in
    revealed_at timestamptz,
    reveal_reason text,
    -- the transaction that revealed the seed: the settlements gate lets only that one settle
    revealed_xact xid8,
    constraint virtual_draws_template_known check (template in ('roulette', 'dice')),
    constraint virtual_draws_params_valid check (
        (template = 'roulette' and params = '{}')
        or (
            template = 'dice'
            and jsonb_typeof(params -> 'threshold') = 'number'
            and (params ->> 'threshold')::numeric between 1 and 9999
            and (params ->> 'threshold')::numeric = trunc((params ->> 'threshold')::numeric)
            and params - 'threshold' = '{}'
        )
    ),
    constraint virtual_draws_seed_shape check (server_seed ~ '^[0-9a-f]{64}$'),
    -- the commitment, kept twice (STYLE.md, SQL rule 7): create_virtual_market writes it, and
    -- no row can hold a hash that is not its seed's
    constraint virtual_draws_commitment check (
        server_seed_hash = encode(sha256(convert_to(server_seed, 'UTF8')), 'hex')
    ),
    constraint virtual_draws_nonce_is_market check (nonce = market_id),
    constraint virtual_draws_drawn_all_at_once check (
        (client_seed is null) = (drawn_at is null)
        and (client_seed is null) = (hmac is null)
        and (client_seed is null) = (result is null)
        and (client_seed is null) = (winning_outcome_id is null)
        and (client_seed is null) = (wager_ids is null)
    ),
    constraint virtual_draws_client_seed_shape check (client_seed ~ '^[0-9a-f]{64}$'),
    constraint virtual_draws_hmac_shape check (hmac ~ '^[0-9a-f]{64}$'),
    constraint virtual_draws_result_range check (
        result between 0 and case template when 'roulette' then 36 else 9999 end
    ),
    constraint virtual_draws_revealed_all_at_once check (
        (revealed_at is null) = (reveal_reason is null)
        and (revealed_at is null) = (revealed_xact is null)
    ),
    constraint virtual_draws_reveal_reason_known check (reveal_reason in ('settled', 'void')),
    constraint virtual_draws_settled_only_when_drawn check (
        reveal_reason is distinct from 'settled' or client_seed is not null
    )
);
create index virtual_draws_unrevealed_idx on app.virtual_draws (market_id) where revealed_at is null;
alter table app.virtual_draws enable row level security;

-- Gates. Each wrapper hands the row(s) to its rule in rpc/75_virtual.sql, which raises
-- `virtual_market` to refuse.

-- The market: closes (open -> closed) only once closes_at has passed, and the draw is fixed in
-- that transaction, whoever closes it; a settled virtual market never goes back; its settlement
-- cannot be made two-step.
create function app._virtual_markets_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._virtual_market_changed(old, new);
    return null;
end
$$;

create trigger markets_virtual_draw
after update of status, settlement_requires_confirmation on app.markets
for each row
when (
    old.status is distinct from new.status
    or (new.settlement_requires_confirmation and not old.settlement_requires_confirmation)
)
execute function app._virtual_markets_trigger();

-- The settlement: inserted only by the draw's own settlement, with the drawn outcome; never
-- deleted (unsettle_market and resettle_market move it away).
create function app._virtual_settlements_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'DELETE' then
        perform app._virtual_settlement_removed(old);
        return old;
    end if;
    perform app._virtual_settlement_written(new);
    return new;
end
$$;

create trigger settlements_virtual_draw
before insert or delete on app.settlements
for each row execute function app._virtual_settlements_trigger();

-- The wagers in play are frozen once the draw is fixed: no approval after it.
create function app._virtual_wagers_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._virtual_wager_approved(new);
    return new;
end
$$;

create trigger wagers_virtual_draw
before update of approval on app.wagers
for each row
when (old.approval = 'pending' and new.approval = 'accepted')
execute function app._virtual_wagers_trigger();

-- Nobody proposes a virtual market's result.
create function app._virtual_proposals_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._virtual_proposal_made(new);
    return new;
end
$$;

create trigger settlement_proposals_virtual_draw
before insert on app.settlement_proposals
for each row execute function app._virtual_proposals_trigger();

-- The draw itself: the commitment never changes, the draw is written once, a reveal is final,
-- and no row is deleted.
create function app._virtual_draws_trigger() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    perform app._virtual_draw_changed(tg_op, old, new);
    return case when tg_op = 'DELETE' then old else new end;
end
$$;

create trigger virtual_draws_guard
before update or delete on app.virtual_draws
for each row execute function app._virtual_draws_trigger();
