"""A user signed up through the official supabase client (supabase-py): the synchronous Client in
the REST tests (tests/api/supabase_client), the AsyncClient in the Realtime tests (tests/live)."""

from dataclasses import dataclass
from typing import Generic, TypeVar

from supabase import AsyncClient, Client

ClientT = TypeVar("ClientT", Client, AsyncClient)


@dataclass
class SupabaseUser(Generic[ClientT]):
    """A user, the client signed in as them, and the access token of their latest sign-in."""

    client: ClientT
    user_id: str
    email: str
    token: str
