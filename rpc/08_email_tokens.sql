-- Password recovery and sign-in by email (GoTrue's /recover, /otp and /verify): the one-time
-- tokens an API node mails, kept as digests only (migration 0024), and how often an address may
-- be sent one. The node makes the code, mails it and hashes it; these functions never see a code,
-- only SHA-256 digests of GoTrue's token hash. Called by the API node as itself (schema
-- `server`); none is granted to a client role.

-- _email_digest(email): the SHA-256 (hex) of an address as app.email_sends keys it.
create or replace function app._email_digest(p_email text)
returns text
language sql
immutable
set search_path = ''
as $$
    select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_email, 'UTF8')), 'hex')
$$;

-- _email_user(email): the live (not deleted) user whose email is `p_email` (already lower-cased),
-- or null.
create or replace function app._email_user(p_email text)
returns uuid
language sql
stable
set search_path = ''
as $$
    select u.id from auth.users as u where lower(u.email) = p_email and u.deleted_at is null
$$;

-- server.issue_email_token(email, purpose, token_digest, create_user, user_metadata,
-- expiry_seconds, interval_seconds, code_challenge, code_challenge_method): the checks and the
-- token before a node mails a recovery (`purpose` recovery) or sign-in (magiclink) code to
-- `email`, in one call. In order:
--   a sign-in without create_user for an address that names no user: {status: signups_disabled}
--   (GoTrue's otp_disabled), nothing counted;
--   the address was sent a mail less than `interval_seconds` ago: {status: rate_limited,
--   retry_after}, nothing counted (GoTrue's SMTP max frequency, one a minute);
--   otherwise the mail is counted for the address (known or not), and then a recovery for an
--   address that names no user is {status: no_user}: no token, nothing to send, so the node
--   answers as for a known one;
--   else the token (`token_digest`, expiring in `expiry_seconds`) replaces any the address had:
--   {status: ok, new_user}, new_user when verifying it will create the user (a sign-in with
--   create_user, `user_metadata` theirs). A PKCE challenge (with its method, s256 or plain)
--   is kept with the token for server.verify_email_token.
-- Mails of one address are serialised by an advisory lock; each call also prunes up to 100
-- expired tokens and day-old send rows.
-- Who: the API node. Changes: app.email_sends, app.email_tokens.
-- Raises: invalid_argument (a bad email, purpose, user_metadata, interval or challenge).
create or replace function server.issue_email_token(
    p_email text,
    p_purpose text,
    p_token_digest text,
    p_create_user boolean,
    p_user_metadata jsonb,
    p_expiry_seconds integer,
    p_interval_seconds integer,
    p_code_challenge text,
    p_code_challenge_method text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_email text := app._valid_email(p_email);
    v_metadata jsonb := app._user_metadata(p_user_metadata);
    v_digest text;
    v_user uuid;
    v_sent timestamptz;
    v_next timestamptz;
begin
    if v_email is null then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'email', 'reason', 'an email address'));
    end if;
    if p_purpose is null or p_purpose not in ('recovery', 'magiclink')
        or coalesce(p_expiry_seconds, 0) < 1 or coalesce(p_interval_seconds, -1) < 0
        or coalesce(p_token_digest, '') = ''
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'purpose', 'reason',
            'recovery or magiclink, a digest, an expiry of 1 s or more and an interval'));
    end if;
    if (p_code_challenge is null) <> (p_code_challenge_method is null)
        or p_code_challenge !~ '^[A-Za-z0-9._~-]{43,128}$'
        or p_code_challenge_method not in ('s256', 'plain')
    then
        perform app._fail('invalid_argument', pg_catalog.jsonb_build_object(
            'argument', 'code_challenge', 'reason',
            '43 to 128 URL characters, with its method s256 or plain'));
    end if;
    v_user := app._email_user(v_email);
    if v_user is null and p_purpose = 'magiclink' and not coalesce(p_create_user, false) then
        return '{"status": "signups_disabled"}';
    end if;

    v_digest := app._email_digest(v_email);
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('email:' || v_digest, 0));
    select s.sent_at into v_sent from app.email_sends as s where s.email_digest = v_digest;
    v_next := v_sent + pg_catalog.make_interval(secs => p_interval_seconds);
    if v_next > now() then
        return pg_catalog.jsonb_build_object(
            'status', 'rate_limited',
            'retry_after', greatest(1, ceil(extract(epoch from v_next - now())))::integer);
    end if;
    insert into app.email_sends (email_digest, sent_at) values (v_digest, now())
    on conflict (email_digest) do update set sent_at = excluded.sent_at;
    delete from app.email_sends as s
    where s.email_digest in (
        select x.email_digest from app.email_sends as x
        where x.sent_at < now() - interval '1 day'
        limit 100
        for update skip locked
    );
    delete from app.email_tokens as t
    where t.id in (
        select x.id from app.email_tokens as x
        where x.expires_at <= now()
        limit 100
        for update skip locked
    );
    if v_user is null and p_purpose = 'recovery' then
        return '{"status": "no_user"}';
    end if;

    insert into app.email_tokens (
        email, purpose, token_digest, creates_user, user_metadata, code_challenge,
        code_challenge_method, expires_at
    )
    values (
        v_email, p_purpose, p_token_digest, v_user is null, v_metadata, p_code_challenge,
        p_code_challenge_method, now() + pg_catalog.make_interval(secs => p_expiry_seconds)
    )
    on conflict (email) do update
    set purpose = excluded.purpose,
        token_digest = excluded.token_digest,
        creates_user = excluded.creates_user,
        user_metadata = excluded.user_metadata,
        code_challenge = excluded.code_challenge,
        code_challenge_method = excluded.code_challenge_method,
        created_at = excluded.created_at,
        expires_at = excluded.expires_at;
    return pg_catalog.jsonb_build_object('status', 'ok', 'new_user', v_user is null);
end
$$;

-- server.cancel_email_token(email, token_digest): undo server.issue_email_token after the mail
-- could not be sent: the token goes, and the address may be sent another at once.
-- Who: the API node. Changes: app.email_tokens, app.email_sends. Raises: nothing.
create or replace function server.cancel_email_token(p_email text, p_token_digest text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_email text := pg_catalog.lower(pg_catalog.btrim(p_email));
begin
    delete from app.email_tokens as t
    where t.email = v_email and t.token_digest = p_token_digest;
    delete from app.email_sends as s where s.email_digest = app._email_digest(v_email);
end
$$;

-- server.verify_email_token(token_digest, auth_code_digest, redirect_to): use up the one-time
-- token with this digest (GoTrue's /verify): it is deleted whatever follows, so it never works
-- twice. A token that is unknown, used, replaced or expired is {status: otp_expired}, as is one
-- whose user was deleted since. Otherwise {status: ok, user_id, purpose[, pkce: true]}: the address's
-- user, created now (with the token's user_metadata, no password, their email confirmed by this
-- very proof) when the token was a sign-in's with create_user and the address still names
-- nobody. With `pkce` (the token kept a PKCE challenge and the node gave `auth_code_digest`: a
-- mail's link) the proof becomes a PKCE flow of provider 'email' whose auth code is
-- `auth_code_digest`'s, for grant_type=pkce (server.redeem_oidc_code, GoTrue's flow_state);
-- else the node opens the session in the same transaction (server.start_session).
-- Who: the API node. Changes: app.email_tokens, auth.users (a new user), app.oidc_flows.
-- Raises: those of app._create_user (user_exists when a sign-up took the address meanwhile).
create or replace function server.verify_email_token(
    p_token_digest text, p_auth_code_digest text, p_redirect_to text
)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
    v_token app.email_tokens;
    v_user uuid;
begin
    delete from app.email_tokens as t where t.token_digest = p_token_digest
    returning * into v_token;
    if not found or v_token.expires_at <= now() then
        return '{"status": "otp_expired"}';
    end if;
    v_user := app._email_user(v_token.email);
    if v_user is null and v_token.creates_user then
        v_user := app._create_user(v_token.email, null, null, '{}', v_token.user_metadata);
    end if;
    if v_user is null then
        return '{"status": "otp_expired"}';
    end if;
    if v_token.code_challenge is null or p_auth_code_digest is null then
        return pg_catalog.jsonb_build_object(
            'status', 'ok', 'user_id', v_user, 'purpose', v_token.purpose);
    end if;
    insert into app.oidc_flows (
        provider, redirect_to, code_challenge, code_challenge_method, state_used_at,
        auth_code_digest, user_id, authenticated_at
    )
    values (
        'email', pg_catalog.left(coalesce(p_redirect_to, ''), 2048), v_token.code_challenge,
        v_token.code_challenge_method, now(), p_auth_code_digest, v_user, now()
    );
    return pg_catalog.jsonb_build_object(
        'status', 'ok', 'user_id', v_user, 'purpose', v_token.purpose, 'pkce', true);
end
$$;
