"""/realtime/v1: the Supabase Realtime subset (docs/live.md)."""
