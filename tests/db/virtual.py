"""What the provably-fair virtual market tests share (docs/provably-fair.md): the draw written again
in Python (hashlib and hmac, independently of the SQL), a virtual market and a wager in one line,
the scheduler's tick, the draw as the superuser reads it, and verify_draw's answer checked step by
step."""

import hashlib
import hmac
import math
from dataclasses import dataclass
from typing import Any

from tests.db.personas import Persona
from tests.pgserver import Connection

FAR = "2999-01-01T00:00:00Z"
INITIAL = 10000

# European roulette's red pockets, written out here rather than read from the SQL.
RED = {1, 3, 5, 7, 9, 12, 14, 16, 18, 19, 21, 23, 25, 27, 30, 32, 34, 36}


# The draw, again, in Python -------------------------------------------------------------------


def py_client_seed(market_id: int, wager_ids: list[int]) -> str:
    text = f"{market_id}:" + ",".join(str(i) for i in sorted(wager_ids))
    return hashlib.sha256(text.encode()).hexdigest()


def py_hmac(server_seed: str, client_seed: str, nonce: int) -> bytes:
    return hmac.new(server_seed.encode(), f"{client_seed}:{nonce}".encode(), "sha256").digest()


def py_number(mac: bytes, limit: int) -> int:
    """BetService's formula as written: sum(byte_i / 256^(i+1)) over four bytes, times the limit,
    rounded down (exact in a double: 32 bits of fraction times a limit below 2^14)."""
    fraction: float = sum(mac[i] / 256 ** (i + 1) for i in range(4))
    return math.floor(fraction * limit)


def py_label(template: str, number: int, threshold: int = 5000) -> str:
    if template == "roulette":
        return "Green" if number == 0 else "Red" if number in RED else "Black"
    side = "Under" if number < threshold else "Over"
    return f"{side} {threshold / 100:.2f}"


@dataclass(frozen=True)
class Virtual:
    id: int
    outcomes: dict[str, int]  # label -> outcome id
    row: dict[str, Any]


def make_virtual(creator: Persona, template: str = "roulette", **options: Any) -> Virtual:
    row = creator.call(
        "create_virtual_market",
        template=template,
        title=f"Virtual {template}",
        closes_at=FAR,
        options=options,
    )
    return Virtual(row["id"], {o["label"]: o["outcome_id"] for o in row["outcomes"]}, row)


def bet(who: Persona, market: Virtual, label: str, stake: int) -> int:
    row = who.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[label], stake=stake
    )
    return int(row["id"])


def scalar(conn: Connection, query: str, params: list[Any] | None = None) -> Any:
    """The single value a query returns, as the superuser."""
    row = conn.execute(query, params or []).fetchone()
    assert row is not None
    return row[0]


def make_due(conn: Connection, market_id: int) -> None:
    """closes_at one second ago (as the superuser: the clock of the test's transaction is fixed)."""
    conn.execute(
        "update app.markets set closes_at = now() - interval '1 second' where id = %s", [market_id]
    )


def tick(conn: Connection) -> dict[str, Any]:
    row = conn.execute("select app.scheduler_tick()").fetchone()
    assert row is not None
    return dict(row[0])


def draw_row(conn: Connection, market_id: int) -> dict[str, Any]:
    """The draw as the superuser, the seed included."""
    cursor = conn.execute("select * from app.virtual_draws where market_id = %s", [market_id])
    row = cursor.fetchone()
    assert row is not None and cursor.description is not None
    return {c.name: v for c, v in zip(cursor.description, row, strict=True)}


def market_status(conn: Connection, market_id: int) -> str:
    row = conn.execute("select status from app.markets where id = %s", [market_id]).fetchone()
    assert row is not None
    return str(row[0])


def assert_recomputed(
    market: Virtual, answer: dict[str, Any], wager_ids: list[int], threshold: int = 5000
) -> None:
    """verify_draw's answer, checked step by step against the Python draw."""
    template = answer["template"]
    seed = answer["server_seed"]
    assert hashlib.sha256(seed.encode()).hexdigest() == answer["server_seed_hash"]
    client_seed = py_client_seed(market.id, wager_ids)
    assert answer["client_seed"] == client_seed
    assert answer["nonce"] == market.id
    mac = py_hmac(seed, client_seed, market.id)
    assert answer["hmac"] == mac.hex()
    number = py_number(mac, 37 if template == "roulette" else 10000)
    assert answer["result"] == number
    label = py_label(template, number, threshold)
    assert answer["outcome"] == {
        "outcome_id": market.outcomes[label],
        "position": list(market.outcomes).index(label) + 1,
        "label": label,
    }
