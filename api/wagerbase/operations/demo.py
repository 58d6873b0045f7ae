"""`wagerbase seed-demo`: an admin, a few bettors and open markets of both kinds, with some wagers
on them, so that a fresh install has something to look at. Everything goes through the engine's
own functions, acting as the demo admin and bettors the way a request would. Running it twice
adds nothing the second time.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from wagerbase.operations import users
from wagerbase.sql_files import statements

QUERIES = statements(__package__, "demo.sql")

DEMO_PASSWORD = "wagerbase-demo"  # printed on purpose: these accounts exist only on a dev box

ADMIN = "admin"
BETTORS = ("alice", "bob", "carol")


@dataclass(frozen=True)
class DemoMarket:
    title: str
    outcomes: list[Any]
    kind: str
    options: dict[str, Any]
    # (bettor, outcome position, stake in minor units)
    wagers: tuple[tuple[str, int, int], ...]


MARKETS = (
    DemoMarket(
        "Will it rain in Pisa tomorrow?",
        ["Yes", "No"],
        "fixed_odds",
        {"category": "real", "description": "Any rain recorded at the airport station."},
        (("alice", 1, 2000), ("bob", 2, 1500), ("carol", 1, 500)),
    ),
    DemoMarket(
        "Derby: who wins?",
        ["Home", "Draw", "Away"],
        "fixed_odds",
        {"category": "real"},
        (("bob", 1, 1000), ("carol", 3, 800)),
    ),
    DemoMarket(
        "Roulette: red or black",
        [{"label": "Red", "color": "#d32f2f"}, {"label": "Black", "color": "#212121"}],
        "fixed_odds",
        {"category": "virtual"},
        (("alice", 2, 1000),),
    ),
    DemoMarket(
        "Race winner",
        [
            {"label": "Emerson", "abbreviation": "EMS", "color": "#1e88e5"},
            {"label": "Flynn", "abbreviation": "FLY", "color": "#43a047"},
            {"label": "Beauchamp", "abbreviation": "BHM", "color": "#fb8c00"},
            {"label": "Okafor", "abbreviation": "OKA", "color": "#8e24aa"},
        ],
        "parimutuel",
        {"category": "real", "rake_bps": 500},
        (("alice", 1, 3000), ("bob", 2, 2000), ("carol", 1, 1000), ("bob", 4, 500)),
    ),
    DemoMarket(
        "Fastest lap (approval required)",
        [{"label": "Emerson", "abbreviation": "EMS"}, {"label": "Flynn", "abbreviation": "FLY"}],
        "parimutuel",
        {"category": "real", "requires_approval": True},
        (("carol", 2, 2500),),
    ),
)


def _act_as(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(QUERIES["act_as"], {"name": name})


def _ensure_user(
    conn: psycopg.Connection[Any], name: str, *, admin: bool
) -> tuple[uuid.UUID, bool]:
    found = users.find_user(conn, name)
    if found is not None:
        return found, False
    created = users.create_user(
        conn,
        username=name,
        email=f"{name}@demo.wagerbase.test",
        password=DEMO_PASSWORD,
        admin=admin,
    )
    return created, True


def seed_demo(url: str) -> list[str]:
    """Load the demo data into the database at `url`; returns what it did, line by line."""
    report: list[str] = []
    with psycopg.connect(url) as conn:
        for name, admin in [(ADMIN, True), *((b, False) for b in BETTORS)]:
            user_id, created = _ensure_user(conn, name, admin=admin)
            role = "admin" if admin else "bettor"
            verb = "created" if created else "exists"
            report.append(f"{role} {name} ({user_id}): {verb}")
        conn.commit()

        for market in MARKETS:
            exists = conn.execute(QUERIES["market_titled"], {"title": market.title}).fetchone()
            if exists:
                report.append(f"market {exists[0]} {market.title!r}: exists")
                continue
            with conn.transaction():
                _act_as(conn, ADMIN)
                row = conn.execute(
                    QUERIES["create_market"],
                    {
                        "title": market.title,
                        "outcomes": Jsonb(market.outcomes),
                        "kind": market.kind,
                        "options": Jsonb(market.options),
                    },
                ).fetchone()
                assert row is not None
                created_market = row[0]
                conn.execute(QUERIES["reset_role"])
                outcome_ids = [o["outcome_id"] for o in created_market["outcomes"]]
                for bettor, position, stake in market.wagers:
                    _act_as(conn, bettor)
                    conn.execute(
                        QUERIES["place_wager"],
                        {
                            "market_id": created_market["id"],
                            "outcome_id": outcome_ids[position - 1],
                            "stake": stake,
                        },
                    )
                    conn.execute(QUERIES["reset_role"])
            report.append(
                f"market {created_market['id']} {market.title!r}: created "
                f"({market.kind}, {len(market.wagers)} wagers)"
            )
    report.append(f"demo password for every demo user: {DEMO_PASSWORD}")
    return report
