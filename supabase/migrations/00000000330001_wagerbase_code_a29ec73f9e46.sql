-- Written by `wagerbase supabase`: the engine's code as it was when this version was made. A later
-- snapshot holds the whole code and comes after it: a project that applied this version applies
-- that one too, so this one now does nothing.
select 1;
