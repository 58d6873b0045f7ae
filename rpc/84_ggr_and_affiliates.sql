-- The GGR commission stored on each settled house bet, and the affiliate program (migration 0030;
-- docs/house-games.md, "GGR commission"; docs/side-effects.md, "Affiliate commission"): a referral
-- code per player, set_referrer once before the first bet, the referrer's share of their
-- referred players' GGR accrued by the house_affiliate handler (rpc/83_house_effects.sql) and
-- claimed through the ledger.

-- GGR commission --------------------------------------------------------------------------------

-- _house_bet_ggr: the BEFORE trigger of app.house_bets, for each row, whoever writes: when a bet is
-- written settled (a one-shot play, a batch of auto-bets: each row of the set-based insert) or
-- moves to settled (a round), its ggr (stake - payout), the game's ggr_commission_bps at that
-- moment, and the commission ggr * bps / 10000, exact (at most 4 decimals of a minor unit; never
-- rounded); while a round is open all three are null whatever the writer sent. A settled bet
-- never changes (the guard trigger, house_bets_guard, runs after this one and refuses it).
create or replace function app._house_bet_ggr()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if tg_op = 'UPDATE' and old.status = 'settled' then
        return new;
    end if;
    if new.status = 'settled' then
        new.ggr := new.stake - new.payout;
        new.ggr_commission_bps := (
            select g.ggr_commission_bps from app.house_games as g where g.game = new.game);
        new.ggr_commission := new.ggr::numeric * new.ggr_commission_bps / 10000;
    else
        new.ggr := null;
        new.ggr_commission_bps := null;
        new.ggr_commission := null;
    end if;
    return new;
end
$$;

drop trigger if exists house_bets_ggr on app.house_bets;
create trigger house_bets_ggr
before insert or update on app.house_bets
for each row execute function app._house_bet_ggr();

-- Affiliates ------------------------------------------------------------------------------------

-- _referral_code: user `p_user`'s referral code, made on first use: 10 uppercase hex characters
-- from gen_random_uuid (40 random bits; a clash with another code is a unique violation).
create or replace function app._referral_code(p_user uuid)
returns text
language plpgsql
set search_path = ''
as $$
begin
    insert into app.referral_codes (user_id, code)
    values (p_user, upper(substr(replace(gen_random_uuid()::text, '-', ''), 1, 10)))
    on conflict (user_id) do nothing;
    return (select c.code from app.referral_codes as c where c.user_id = p_user);
end
$$;

-- _affiliate_parts_per_unit: the parts of a minor unit app.affiliate_commission counts in.
create or replace function app._affiliate_parts_per_unit()
returns numeric
language sql immutable
set search_path = ''
as $$
    select 10000::numeric
$$;

-- _affiliate_accrue: credit referrer of user `p_user` with the bets `p_bets` (that user's, settled):
-- their GGR, and GGR x affiliate_share_bps parts (signed). Callers: app._run_house_effect (the
-- house_affiliate job, which took the bets from app.house_effects_pending). Changes:
-- app.affiliate_commission. A user without a referrer credits no one.
create or replace function app._affiliate_accrue(p_user uuid, p_bets app.house_bets[])
returns void
language sql
set search_path = ''
as $$
    insert into app.affiliate_commission as a (referrer_id, ggr, accrued_parts, bets)
    select r.referrer_id, sum(b.ggr), sum(b.ggr::numeric * c.affiliate_share_bps), count(*)
    from app.referrals as r
    cross join app.config as c
    cross join unnest(p_bets) as b
    where r.user_id = p_user
    group by r.referrer_id
    on conflict (referrer_id) do update
    set ggr = a.ggr + excluded.ggr, accrued_parts = a.accrued_parts + excluded.accrued_parts,
        bets = a.bets + excluded.bets, updated_at = now()
$$;

-- set_referrer(code): name who referred the caller, by their referral code. Once: a second call
-- with the same code answers as the first; another code is refused. Only before the caller's
-- first bet (a house bet or a market wager): the caller's wallet is locked first (a bet locks it
-- too: app._lock_stake, place_wager), so a bet racing the call either commits first and the call
-- is refused, or waits and is counted for the referrer. Never oneself, nor one's own referred
-- player (no pair referring each other: a lock on the pair takes two such calls in turn).
-- Callers: authenticated. Changes: app.referrals (may create the caller's wallet).
-- Returns {referrer (their public name), since}.
-- Raises: not_authenticated, unknown_user, invalid_argument (no code), referral_code_not_found,
-- referrer_refused (detail.reason says which rule: self; mutual; already_set; after_first_bet).
create or replace function public.set_referrer(code text)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_referrer uuid;
    v_existing app.referrals;
    v_wallet bigint;
begin
    if set_referrer.code is null or length(set_referrer.code) not between 1 and 64 then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'code', 'reason', 'a referral code (get_affiliate shows yours)'));
    end if;
    select c.user_id into v_referrer from app.referral_codes as c
    where c.code = upper(btrim(set_referrer.code));
    if v_referrer is null then
        perform app._fail('referral_code_not_found', pg_catalog.jsonb_build_object(
            'code', set_referrer.code));
    end if;
    if v_referrer = v_user then
        perform app._fail('referrer_refused', '{"reason": "self"}');
    end if;
    v_wallet := app._ensure_wallet(v_user);
    perform 1 from app.accounts as a where a.id = v_wallet for update;
    -- the pair's lock: two players naming each other at once are taken one after the other
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
        'referral:' || least(v_user, v_referrer)::text || greatest(v_user, v_referrer)::text, 0));
    select * into v_existing from app.referrals as r where r.user_id = v_user;
    if found then
        if v_existing.referrer_id <> v_referrer then
            perform app._fail('referrer_refused', '{"reason": "already_set"}');
        end if;
    else
        if exists (select 1 from app.house_bets as b where b.user_id = v_user)
            or exists (select 1 from app.wagers as w where w.user_id = v_user) then
            perform app._fail('referrer_refused', '{"reason": "after_first_bet"}');
        end if;
        if exists (
            select 1 from app.referrals as r
            where r.user_id = v_referrer and r.referrer_id = v_user
        ) then
            perform app._fail('referrer_refused', '{"reason": "mutual"}');
        end if;
        insert into app.referrals (user_id, referrer_id) values (v_user, v_referrer)
        on conflict (user_id) do nothing
        returning * into v_existing;
        if v_existing.user_id is null then
            -- a concurrent call of the caller's won
            select * into v_existing from app.referrals as r where r.user_id = v_user;
            if v_existing.referrer_id <> v_referrer then
                perform app._fail('referrer_refused', '{"reason": "already_set"}');
            end if;
        end if;
    end if;
    return pg_catalog.jsonb_build_object(
        'referrer', app._player_name(v_referrer), 'since', v_existing.created_at);
end
$$;
grant execute on function public.set_referrer(text) to authenticated;

-- _affiliate_json: user `p_user`'s affiliate figures: accrued (floored minor units; negative
-- while their players' wins exceed their losses), paid, claimable.
create or replace function app._affiliate_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select pg_catalog.jsonb_build_object(
        'ggr', coalesce(a.ggr, 0),
        'bets', coalesce(a.bets, 0),
        'accrued', coalesce(floor(a.accrued_parts / app._affiliate_parts_per_unit()), 0),
        'paid', coalesce(a.paid, 0),
        'claimable', greatest(coalesce(
            floor(a.accrued_parts / app._affiliate_parts_per_unit())::bigint - a.paid, 0), 0))
    from (select 1) as one
    left join app.affiliate_commission as a on a.referrer_id = p_user
$$;

-- get_affiliate(): the caller's referral code (made on the first call), who referred them, how
-- many players they referred, the share, and their commission (_affiliate_json).
-- Callers: authenticated. Changes: app.referral_codes (the caller's code, once).
-- Returns {code, referred_by (a public name or null), referred_players, share_bps, ggr, bets,
-- accrued, paid, claimable}.
-- Raises: not_authenticated, unknown_user.
create or replace function public.get_affiliate()
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
begin
    return pg_catalog.jsonb_build_object(
        'code', app._referral_code(v_user),
        'referred_by', (select app._player_name(r.referrer_id) from app.referrals as r
            where r.user_id = v_user),
        'referred_players', (select count(*) from app.referrals as r
            where r.referrer_id = v_user),
        'share_bps', (select c.affiliate_share_bps from app.config as c))
        || app._affiliate_json(v_user);
end
$$;
grant execute on function public.get_affiliate() to authenticated;

-- claim_affiliate_commission(idempotency_key): pay the caller's claimable commission
-- (greatest(floor(accrued) - paid, 0)) from the house to their wallet in one
-- 'affiliate_commission' ledger transaction (app._pay_claim). The key is claimed first (a replay
-- returns the first answer); the commission row is locked, so two claims at once pay once: the
-- second finds nothing left and pays 0 (no ledger transaction). Callers: authenticated. Changes:
-- app.affiliate_commission.paid, the wallet and the house account (a ledger transaction; may
-- create the wallet); notifies balance.
-- Returns {paid (by this claim), commission_paid (ever), transaction_id, balance,
-- balance_version} and _affiliate_json's other figures after it (ggr, bets, accrued, claimable).
-- Raises: not_authenticated, unknown_user, invalid_idempotency_key, idempotency_conflict.
create or replace function public.claim_affiliate_commission(idempotency_key text default null)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_user uuid := app._require_user();
    v_replay jsonb;
    v_row app.affiliate_commission;
    v_amount bigint := 0;
    v_wallet bigint;
    v_paid jsonb;
    v_figures jsonb;
begin
    v_replay := app._idempotency_begin(v_user, claim_affiliate_commission.idempotency_key,
        'claim_affiliate_commission', '{}'::jsonb);
    if v_replay is not null then
        return v_replay;
    end if;
    v_wallet := app._ensure_wallet(v_user);
    select * into v_row from app.affiliate_commission as a where a.referrer_id = v_user
    for update;
    if found then
        v_amount := greatest(
            floor(v_row.accrued_parts / app._affiliate_parts_per_unit())::bigint - v_row.paid, 0);
    end if;
    v_paid := app._pay_claim(v_user, v_wallet, 'affiliate_commission', v_amount);
    if v_amount > 0 then
        update app.affiliate_commission as a
        set paid = a.paid + v_amount, updated_at = now()
        where a.referrer_id = v_user;
    end if;
    v_figures := app._affiliate_json(v_user);
    return app._idempotency_finish(v_user, claim_affiliate_commission.idempotency_key,
        (v_figures - 'paid') || v_paid
        || pg_catalog.jsonb_build_object('commission_paid', v_figures -> 'paid'));
end
$$;
grant execute on function public.claim_affiliate_commission(text) to authenticated;
