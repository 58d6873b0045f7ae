-- 0021: users as GoTrue keeps them, for supabase-js (issue 17). docs/api.md, "Auth".

-- Anonymous users (supabase-js's signInAnonymously). Hosted Supabase's auth.users has this column
-- (and owns the table); a plain PostgreSQL's (migration 0001) gets it here.
do $anonymous$
begin
    if not exists (
        select 1 from pg_catalog.pg_attribute as a
        where a.attrelid = 'auth.users'::regclass and a.attname = 'is_anonymous'
            and not a.attisdropped
    ) then
        alter table auth.users add column is_anonymous boolean not null default false;
    end if;
end
$anonymous$;
