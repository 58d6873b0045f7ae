"""/rest/v1: the PostgREST subset the official Supabase clients use (being built)."""

from litestar import Router

router = Router(path="/rest/v1", route_handlers=[], tags=["rest"])
