-- Written by `wagerbase supabase`: the engine's code as it was when this version was made. It is
-- superseded by 00000000210001_wagerbase_code_82d5212e36df.sql, which holds the whole code and comes later: a project that applied
-- this version applies that one too, so this one now does nothing.
select 1;
