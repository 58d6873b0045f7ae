"""/rest/v1: the PostgREST subset the official Supabase clients use (docs/rest.md)."""
