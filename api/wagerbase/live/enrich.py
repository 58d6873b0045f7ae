"""Market messages carry numbers only (docs/notifications.md). A socket that learns of a new
market also needs its title and outcome labels: the hub adds them once per node, from the
`markets` view read as `anon` (every socket may see an open market; a draft sends no message),
before fanning the message out."""

from wagerbase.database import Database
from wagerbase.live.hub import Enricher, Event
from wagerbase.tokens import anon_claims

_MARKET = "select to_jsonb(m) as market from public.markets as m where m.id = %s"


def market_details(db: Database) -> Enricher:
    async def enrich(event: Event) -> Event:
        if event.audience != "market" or event.type not in ("created", "opened"):
            return event
        async with db.as_caller(anon_claims(), read_only=True, lane="live") as conn:
            row = await (await conn.execute(_MARKET, [event.payload.get("market_id")])).fetchone()
        if row is None:
            return event
        return Event(event.audience, {**event.payload, "market": row["market"]}, event.received_at)

    return enrich
