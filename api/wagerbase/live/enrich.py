"""Market messages carry numbers only (docs/notifications.md). A socket that learns of a new
market also needs its title and outcome labels: the hub adds them once per node, from the
`markets` view read as `anon` (every socket may see an open market; a draft sends no message),
before fanning the message out."""

from wagerbase.database import Database
from wagerbase.live.hub import Enricher, Event
from wagerbase.sql_files import statements
from wagerbase.tokens import anon_claims

QUERIES = statements(__package__, "enrich.sql")


def market_details(db: Database) -> Enricher:
    async def enrich(event: Event) -> Event:
        if event.audience != "market" or event.type not in ("created", "opened"):
            return event
        async with db.as_caller(anon_claims(), read_only=True, lane="live") as conn:
            params = {"market_id": event.payload.get("market_id")}
            row = await (await conn.execute(QUERIES["market"], params)).fetchone()
        if row is None:
            return event
        return Event(event.audience, {**event.payload, "market": row["market"]}, event.received_at)

    return enrich
