-- Written by `wagerbase supabase` from migrations/0005_sign_in_attempts_expiry.sql: edit that, not this.

-- 0005: every sign-in now deletes the expired attempts of every name, not just its own, so rows
-- for names nobody owns cannot pile up; this index keeps that delete cheap.

create index sign_in_attempts_expiry_idx on app.sign_in_attempts (attempted_at);
