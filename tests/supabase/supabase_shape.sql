-- A PostgreSQL shaped like a hosted Supabase project, as far as the engine can tell: the roles,
-- an `auth` schema owned by supabase_auth_admin with Supabase's auth.users columns and its
-- auth.uid(), auth.role(), auth.email() and auth.jwt() (as Supabase's auth migrations define
-- them), a `realtime` schema owned by supabase_realtime_admin with Supabase Realtime's
-- realtime.messages and realtime.topic() and its grants (the project's role may only read the
-- table), and the project's role (`supabase_project`, standing for Supabase's non-superuser
-- `postgres`) that runs the migrations, with Supabase's default grants on `public`. Run by the
-- superuser; roles are the cluster's, so each is made only when missing.

do $roles$
begin
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'supabase_auth_admin') then
        create role supabase_auth_admin nologin noinherit createrole;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'supabase_realtime_admin') then
        create role supabase_realtime_admin nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'supabase_project') then
        create role supabase_project nologin noinherit createrole bypassrls;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
    if not exists (select 1 from pg_catalog.pg_roles where rolname = 'authenticator') then
        create role authenticator login noinherit;
    end if;
end
$roles$;

grant anon, authenticated, service_role, authenticator to supabase_project with admin option;

create schema auth authorization supabase_auth_admin;
grant usage on schema auth to anon, authenticated, service_role, supabase_project;

create table auth.users (
    instance_id uuid,
    id uuid not null primary key,
    aud varchar(255),
    role varchar(255),
    email varchar(255),
    encrypted_password varchar(255),
    email_confirmed_at timestamptz,
    invited_at timestamptz,
    confirmation_token varchar(255),
    confirmation_sent_at timestamptz,
    recovery_token varchar(255),
    recovery_sent_at timestamptz,
    email_change_token_new varchar(255),
    email_change varchar(255),
    email_change_sent_at timestamptz,
    last_sign_in_at timestamptz,
    raw_app_meta_data jsonb,
    raw_user_meta_data jsonb,
    is_super_admin boolean,
    created_at timestamptz,
    updated_at timestamptz,
    phone text unique default null,
    phone_confirmed_at timestamptz,
    phone_change text default '',
    phone_change_token varchar(255) default '',
    phone_change_sent_at timestamptz,
    email_change_token_current varchar(255) default '',
    email_change_confirm_status smallint default 0,
    banned_until timestamptz,
    reauthentication_token varchar(255) default '',
    reauthentication_sent_at timestamptz,
    is_sso_user boolean not null default false,
    deleted_at timestamptz,
    is_anonymous boolean not null default false
);
alter table auth.users owner to supabase_auth_admin;
grant select, references, trigger on auth.users to supabase_project;

create function auth.uid() returns uuid
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$$;

create function auth.role() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$$;

create function auth.email() returns text
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$$;

create function auth.jwt() returns jsonb
language sql stable
as $$
    select coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$$;

alter function auth.uid() owner to supabase_auth_admin;
alter function auth.role() owner to supabase_auth_admin;
alter function auth.email() owner to supabase_auth_admin;
alter function auth.jwt() owner to supabase_auth_admin;

-- the project's role owns `public` and may create schemas, as Supabase's postgres does
alter schema public owner to supabase_project;
do $grant$
begin
    execute format('grant create on database %I to supabase_project', current_database());
end
$grant$;

-- Supabase's defaults: everything the project makes in `public` is granted to the API roles
alter default privileges for role supabase_project in schema public
grant all on tables to anon, authenticated, service_role;
alter default privileges for role supabase_project in schema public
grant all on sequences to anon, authenticated, service_role;
alter default privileges for role supabase_project in schema public
grant all on functions to anon, authenticated, service_role;

-- Supabase Realtime's schema, as its tenant migrations leave it (supabase/realtime,
-- lib/realtime/tenants/repo/migrations): realtime.messages with RLS on, writable by the API roles
-- (its authorization checks insert as the caller and roll back), only readable by `postgres`;
-- realtime.topic(), the topic a check is about.
create schema realtime authorization supabase_realtime_admin;
grant usage on schema realtime to anon, authenticated, service_role, supabase_project;
create table realtime.messages (
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false,
    updated_at timestamp without time zone not null default now(),
    inserted_at timestamp without time zone not null default now(),
    id uuid not null default gen_random_uuid(),
    primary key (id, inserted_at)
) partition by range (inserted_at);
create table realtime.messages_today partition of realtime.messages
for values from (current_date) to (current_date + 2);
alter table realtime.messages owner to supabase_realtime_admin;
alter table realtime.messages_today owner to supabase_realtime_admin;
alter table realtime.messages enable row level security;
grant select, insert, update on realtime.messages to anon, authenticated, service_role;
grant select on realtime.messages to supabase_project;
create function realtime.topic() returns text
language sql stable
as $$
    select nullif(current_setting('realtime.topic', true), '')::text
$$;
alter function realtime.topic() owner to supabase_realtime_admin;
