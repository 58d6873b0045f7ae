"""Helpers for the Supabase Realtime tests: users made through the official async client, markets
and wagers, an inbox that collects what callbacks receive, and the constants they share. The node
they talk to, `rt_node` on its own database `rt_database`, is a fixture of tests/live/conftest.py.
"""

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import psycopg
from realtime import AsyncRealtimeChannel, RealtimeSubscribeStates
from realtime import RealtimePostgresChangesListenEvent as Listen
from supabase import AsyncClient, acreate_client

from tests.serving import Node
from tests.support.supabase_users import SupabaseUser

if TYPE_CHECKING:  # phoenix imports this module
    from tests.live.phoenix import Wire

PASSWORD = "correct horse 1"
WAIT = 30.0  # generous: how long to wait for something that must arrive
SUBSCRIBED = ("SUBSCRIBED", None)  # what `subscribe` reports first for a join that succeeded
INSERT, UPDATE, ANY = Listen.Insert, Listen.Update, Listen.All  # postgres_changes events
ADMIN_TOPIC = "realtime:admin"
MARKER_TOPIC = "realtime:markets"  # what `marker` joins, and leaves, on a raw socket
# the engine's admin messages (docs/notifications.md, `wagerbase_admin`): for admins only
ADMIN_TYPES = {
    "profit",
    "wager_pending",
    "wager_decided",
    "settlement_proposed",
    "settlement_confirmed",
    "settlement_cancelled",
    "settlement_confirmation",
    "side_effect_failed",
    "withdrawal_pending",
    "withdrawal_decided",
}


async def sign_up(node: Node, prefix: str = "bettor") -> SupabaseUser[AsyncClient]:
    client = await acreate_client(node.url, node.anon_key)
    email = f"{prefix}_{uuid.uuid4().hex[:10]}@example.test"
    session = (await client.auth.sign_up({"email": email, "password": PASSWORD})).session
    assert session is not None and session.user is not None
    await client.realtime.set_auth(session.access_token)  # what the auth listener does, awaited
    return SupabaseUser(client, session.user.id, email, session.access_token)


async def admin(node: Node, database_url: str) -> SupabaseUser[AsyncClient]:
    """A user promoted at the database, then signed in again for a token with the admin role."""
    person = await sign_up(node, "admin")
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("select app._set_admin(%s, true)", [person.email])
    session = (
        await person.client.auth.sign_in_with_password(
            {"email": person.email, "password": PASSWORD}
        )
    ).session
    assert session is not None and session.user is not None
    assert session.user.app_metadata.get("role") == "admin"
    await person.client.realtime.set_auth(session.access_token)
    person.token = session.access_token
    return person


async def close(*people: SupabaseUser[AsyncClient]) -> None:
    for person in people:
        await person.client.remove_all_channels()


def data(response: Any) -> dict[str, Any]:
    assert isinstance(response.data, dict), response.data
    return cast(dict[str, Any], response.data)


async def create_market(
    who: SupabaseUser[AsyncClient], title: str, **options: Any
) -> dict[str, Any]:
    response = await who.client.rpc(
        "create_market", {"title": title, "outcomes": ["Home", "Away"], "options": options}
    ).execute()
    return data(response)


async def outcome_ids(who: SupabaseUser[AsyncClient], market_id: int) -> list[int]:
    response = (
        await who.client.table("outcomes")
        .select("id")
        .eq("market_id", market_id)
        .order("position")
        .execute()
    )
    return [row["id"] for row in cast(list[dict[str, Any]], response.data)]


async def wager(
    who: SupabaseUser[AsyncClient], market_id: int, outcome_id: int, stake: int
) -> dict[str, Any]:
    response = await who.client.rpc(
        "place_wager", {"market_id": market_id, "outcome_id": outcome_id, "stake": stake}
    ).execute()
    return data(response)


@dataclass
class Inbox:
    """What callbacks received, in order; `until` waits for a match and returns everything that
    arrived up to and including it."""

    items: list[Any] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, item: Any) -> None:
        self.items.append(item)
        self._changed.set()

    async def until(self, matches: Callable[[Any], bool], timeout: float = WAIT) -> list[Any]:
        async def wait() -> list[Any]:
            seen = 0
            while True:
                for index in range(seen, len(self.items)):
                    if matches(self.items[index]):
                        return self.items[: index + 1]
                seen = len(self.items)
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            shown = json.dumps(self.items, default=str)[:3000]
            raise AssertionError(f"nothing matched within {timeout} s; received {shown}") from None


async def subscribe(channel: AsyncRealtimeChannel) -> list[tuple[str, str | None]]:
    """Subscribe and return the states reported (the first one is the join's outcome)."""
    states: list[tuple[str, str | None]] = []

    def note(state: RealtimeSubscribeStates, error: Exception | None) -> None:
        states.append((state.value, None if error is None else str(error)))

    await asyncio.wait_for(channel.subscribe(note), WAIT)
    return states


def record(change: Any) -> dict[str, Any]:
    return cast(dict[str, Any], change["data"]["record"])


def run(scenario: Any) -> None:
    """Run one async scenario to its end, or fail it after three minutes."""
    asyncio.run(asyncio.wait_for(scenario, 180))


async def marker(node: Node, boss: SupabaseUser[AsyncClient], *sockets: "Wire") -> None:
    """Everything committed before the call has passed the node's hub and been handed to each
    raw socket, so a channel it joins afterwards hears nothing older. The hub reads the event
    stream a little behind the commits, so without this a change committed before a join can
    still reach the new channel.

    Each socket (one that has joined nothing yet) joins `realtime:markets` with the anon key;
    `boss`, an admin, creates a market; its `created` broadcast reaches every socket after all
    that committed before it (the hub hands events over in commit order); then each socket leaves
    the topic, and forgets what it received on it, so it is as it was before."""
    join_refs = []
    for socket in sockets:
        join_ref, joined = await socket.join(MARKER_TOPIC, node.anon_key)
        assert joined["payload"]["status"] == "ok", joined
        join_refs.append(join_ref)
    created = await create_market(boss, f"Marker {uuid.uuid4().hex[:8]}")
    for socket, join_ref in zip(sockets, join_refs, strict=True):
        await socket.push(
            lambda f: (
                f["topic"] == MARKER_TOPIC
                and f["event"] == "broadcast"
                and f["payload"]["event"] == "created"
                and f["payload"]["payload"]["market_id"] == created["id"]
            )
        )
        ref = await socket.send(MARKER_TOPIC, "phx_leave", join_ref=join_ref)
        left = await socket.reply(ref, MARKER_TOPIC)
        assert left["payload"]["status"] == "ok", left
        socket.pushes[:] = [f for f in socket.pushes if f["topic"] != MARKER_TOPIC]
