-- Sign-in with OpenID Connect providers (GoTrue's external providers: /auth/v1/authorize, its
-- callback, and the PKCE exchange of /auth/v1/token): the flows and the users' identities of
-- migration 0025. The API node checks the provider's id_token (its signature, issuer, audience,
-- expiry and nonce) before it calls these; what the provider says of the user lands in the
-- identity's identity_data and in a new user's user_metadata, never in app_metadata, so the
-- provider can make nobody an admin (app._is_admin reads auth.users). States and auth codes
-- arrive as SHA-256 digests only. Not granted to any client role: the server. ones are the
-- node's (policies/05_server.sql).

-- _identities_json(user): the GoTrue identities of a user's providers (app._user_json adds them
-- after the email identity), oldest first.
create or replace function app._identities_json(p_user uuid)
returns jsonb
language sql stable
set search_path = ''
as $$
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'identity_id', i.id,
        'id', i.provider_id,
        'user_id', i.user_id,
        'identity_data', i.identity_data,
        'provider', i.provider,
        'email', i.email,
        'last_sign_in_at', i.last_sign_in_at,
        'created_at', i.created_at,
        'updated_at', i.updated_at
    )) order by i.created_at, i.id), '[]')
    from app.identities as i
    where i.user_id = p_user
$$;

-- _oidc_user(provider, claims, user_metadata): the user who signs in with this provider identity
-- (`claims`: sub, email, email_verified, as the id_token said them), as GoTrue finds them: the
-- user of the identity (provider, sub); else, when the provider verified the email, the user
-- with that email (the identity is linked to them, and the provider joins their
-- app_metadata.providers); else a new user, with the email only when the provider verified it and
-- nobody has it (an unverified email could claim someone's address), app_metadata
-- {provider, providers} and `p_user_metadata` as user_metadata. The identity's data and its last
-- sign-in are kept up to date.
-- Raises: user_not_found (the identity's user was deleted), invalid_argument (a bad provider
-- name, sub or user_metadata), user_exists (a sign-up took the email at the same moment).
create or replace function app._oidc_user(p_provider text, p_claims jsonb, p_user_metadata jsonb)
returns uuid
language plpgsql
set search_path = ''
as $$
declare
    v_sub text := p_claims ->> 'sub';
    v_verified boolean := coalesce(p_claims -> 'email_verified' = 'true'::jsonb, false);
    v_email text;
    v_user uuid;
    v_deleted timestamptz;
begin
    if v_sub is null or p_provider !~ '^[a-z0-9_-]{1,40}$' then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'claims', 'reason', 'a provider and a sub are required'));
    end if;
    begin
        v_email := app._valid_email(p_claims ->> 'email');
    exception when others then
        v_email := null;  -- an address the engine cannot keep: the user has none
    end;
    -- one sign-in at a time per identity, so that two at once make one user
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('oidc:' || p_provider || ':' || v_sub, 0));

    select i.user_id, u.deleted_at into v_user, v_deleted
    from app.identities as i
    join auth.users as u on i.user_id = u.id
    where i.provider = p_provider and i.provider_id = v_sub;
    if v_deleted is not null then
        perform app._fail('user_not_found', pg_catalog.jsonb_build_object('user_id', v_user));
    end if;

    if v_user is null and v_verified and v_email is not null then
        select u.id into v_user
        from auth.users as u
        where lower(u.email) = v_email and u.deleted_at is null and not u.is_anonymous
        for update;
    end if;

    if v_user is null then
        v_user := gen_random_uuid();
        insert into auth.users (id, email, encrypted_password, raw_app_meta_data, raw_user_meta_data)
        values (
            v_user,
            case when v_verified and not exists (
                select 1 from auth.users as u where lower(u.email) = v_email
            ) then v_email end,
            null,
            pg_catalog.jsonb_build_object(
                'provider', p_provider, 'providers', pg_catalog.jsonb_build_array(p_provider)),
            app._user_metadata(p_user_metadata)
        );
    end if;

    insert into app.identities as i (
        provider, provider_id, user_id, identity_data, email, last_sign_in_at
    )
    values (p_provider, v_sub, v_user, p_claims, v_email, now())
    on conflict (provider, provider_id) do update
    set identity_data = excluded.identity_data, email = excluded.email,
        last_sign_in_at = excluded.last_sign_in_at, updated_at = now();

    update auth.users as u
    set raw_app_meta_data = u.raw_app_meta_data || pg_catalog.jsonb_build_object(
            'provider', coalesce(u.raw_app_meta_data ->> 'provider', p_provider),
            'providers', coalesce(u.raw_app_meta_data -> 'providers', '[]'::jsonb)
            || pg_catalog.jsonb_build_array(p_provider)),
        updated_at = now()
    where u.id = v_user and not coalesce(u.raw_app_meta_data -> 'providers', '[]') ? p_provider;
    return v_user;
exception
    when unique_violation then
        -- a password sign-up took the same email at the same moment
        perform app._fail('user_exists', pg_catalog.jsonb_build_object('email', v_email));
        return null;
end
$$;

-- server.begin_oidc_flow(address, state_digest, provider, redirect_to, challenge, method, nonce):
-- start a sign-in with a provider (GET /auth/v1/authorize), counted as a sign-in against the
-- client address's limit (server.check_rate_limit); returns 0, or the seconds to wait when the
-- address is over it (nothing kept then). Each call also deletes up to 100 flows past their
-- 10 minutes, skipping rows another call holds.
-- Who: the API node. Changes: app.oidc_flows, app.address_attempts.
-- Raises: invalid_argument (no address; a challenge of the wrong shape breaks a constraint).
create or replace function server.begin_oidc_flow(
    p_address inet,
    p_state_digest text,
    p_provider text,
    p_redirect_to text,
    p_code_challenge text,
    p_code_challenge_method text,
    p_nonce text
)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_wait integer := server.check_rate_limit('sign_in', p_address);
begin
    if v_wait > 0 then
        return v_wait;
    end if;
    delete from app.oidc_flows as f
    where f.id in (
        select x.id from app.oidc_flows as x
        where x.created_at < now() - interval '10 minutes'
        limit 100
        for update skip locked
    );
    insert into app.oidc_flows (
        state_digest, provider, redirect_to, code_challenge, code_challenge_method, nonce
    )
    values (
        p_state_digest, p_provider, p_redirect_to, p_code_challenge, p_code_challenge_method,
        p_nonce
    );
    return 0;
end
$$;

-- server.take_oidc_state(state_digest): use up the `state` the provider sent back (once): the
-- flow {id, provider, redirect_to, nonce, pkce}, or null when no flow of the last 10 minutes
-- has this state or it was used already.
-- Who: the API node (the provider's callback). Changes: app.oidc_flows.state_used_at.
-- Raises: nothing.
create or replace function server.take_oidc_state(p_state_digest text)
returns jsonb
language sql
security definer
set search_path = ''
as $$
    update app.oidc_flows as f
    set state_used_at = now()
    where f.state_digest = p_state_digest and f.state_used_at is null
        and f.created_at > now() - interval '10 minutes'
    returning pg_catalog.jsonb_build_object(
        'id', f.id, 'provider', f.provider, 'redirect_to', f.redirect_to, 'nonce', f.nonce,
        'pkce', f.code_challenge is not null)
$$;

-- server.complete_oidc_flow(flow, claims, user_metadata, auth_code_digest, session, token_hash):
-- the provider's checked id_token for flow `p_flow` signs its user in (app._oidc_user). A PKCE
-- flow keeps the auth code's digest and the user for server.redeem_oidc_code and returns
-- {user_id}; an implicit flow ends here, with a new session (app._start_session), and returns
-- {user_id, user}.
-- Who: the API node (the provider's callback). Changes: app.oidc_flows, app.identities,
-- auth.users, and for an implicit flow app.sessions and app.refresh_tokens.
-- Raises: those of app._oidc_user (user_not_found, invalid_argument, user_exists);
-- invalid_argument (no such flow, or its state not used).
create or replace function server.complete_oidc_flow(
    p_flow uuid,
    p_claims jsonb,
    p_user_metadata jsonb,
    p_auth_code_digest text,
    p_session uuid,
    p_token_hash text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_flow app.oidc_flows;
    v_user uuid;
begin
    select * into v_flow from app.oidc_flows as f
    where f.id = p_flow and f.state_used_at is not null and f.user_id is null
    for update;
    if not found then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'flow', 'reason', 'no flow waiting for its provider'));
    end if;
    v_user := app._oidc_user(v_flow.provider, p_claims, p_user_metadata);
    if v_flow.code_challenge is not null then
        update app.oidc_flows as f
        set auth_code_digest = p_auth_code_digest, user_id = v_user, authenticated_at = now()
        where f.id = v_flow.id;
        return pg_catalog.jsonb_build_object('user_id', v_user);
    end if;
    delete from app.oidc_flows as f where f.id = v_flow.id;
    return pg_catalog.jsonb_build_object(
        'user_id', v_user, 'user', app._start_session(v_user, p_session, p_token_hash));
end
$$;

-- server.redeem_oidc_code(code_digest, verifier, verifier_s256, session, token_hash): GoTrue's
-- grant_type=pkce: the auth code of a PKCE flow and its code verifier (as sent, and its S256,
-- made by the node) for a new session of the flow's user; the flow ends. Returns
-- {status: 'ok', user, session_id}, or {status: <GoTrue error code>}:
--   flow_state_not_found  no flow has this auth code (never issued, or redeemed already)
--   flow_state_expired    the code is older than 5 minutes
--   bad_code_verifier     the verifier does not match the flow's challenge (the code stays)
--   user_not_found        the user was deleted since
-- Who: the API node. Changes: app.oidc_flows, app.sessions, app.refresh_tokens, auth.users.
-- Raises: nothing.
create or replace function server.redeem_oidc_code(
    p_code_digest text, p_verifier text, p_verifier_s256 text, p_session uuid, p_token_hash text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_flow app.oidc_flows;
    v_presented text;
begin
    select * into v_flow from app.oidc_flows as f
    where f.auth_code_digest = p_code_digest
    for update;
    if not found then
        return '{"status": "flow_state_not_found"}';
    end if;
    if v_flow.authenticated_at < now() - interval '5 minutes' then
        return '{"status": "flow_state_expired"}';
    end if;
    v_presented := case v_flow.code_challenge_method
        when 's256' then p_verifier_s256
        else p_verifier
    end;
    if v_flow.code_challenge is distinct from v_presented then
        return '{"status": "bad_code_verifier"}';
    end if;
    delete from app.oidc_flows as f where f.id = v_flow.id;
    if app._user_json(v_flow.user_id) is null then
        return '{"status": "user_not_found"}';
    end if;
    return pg_catalog.jsonb_build_object(
        'status', 'ok',
        'session_id', p_session,
        'user', app._start_session(v_flow.user_id, p_session, p_token_hash));
end
$$;
