"""What the responsible-play tests share (docs/responsible-play.md): a day, the transaction's now
and its JSON form, the caller's limits as public.my_play_limits shows them, a stake (or its
refusal's detail) in one line, the cooling-off passed, and wagers made older, as the superuser."""

import datetime
from typing import Any

from tests.db.helpers import Market
from tests.db.personas import Persona, detail
from tests.pgserver import Connection

DAY = datetime.timedelta(hours=24)


def now(conn: Connection) -> datetime.datetime:
    """The transaction's now(): what every call of the test sees as the present."""
    row = conn.execute("select now()").fetchone()
    assert row is not None
    moment: datetime.datetime = row[0]
    return moment


def as_json_time(conn: Connection, moment: datetime.datetime | str) -> str:
    """A timestamptz as the engine writes it in JSON (detail and answers)."""
    row = conn.execute("select to_jsonb(%s::timestamptz) #>> '{}'", [moment]).fetchone()
    assert row is not None
    return str(row[0])


def my_limits(who: Persona) -> dict[str, Any]:
    """The caller's row of public.my_play_limits, as a dict ({} when there is none)."""
    with who.acting():
        cursor = who.conn.execute("select * from public.my_play_limits")
        rows = cursor.fetchall()
    assert cursor.description is not None and len(rows) <= 1
    if not rows:
        return {}
    return {c.name: value for c, value in zip(cursor.description, rows[0], strict=True)}


def stake(who: Persona, market: Market, amount: int, **more: Any) -> dict[str, Any]:
    result: dict[str, Any] = who.call(
        "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=amount, **more
    )
    return result


def refused_stake(who: Persona, key: str, market: Market, amount: int) -> dict[str, Any]:
    error = who.refused(
        key, "place_wager", market_id=market.id, outcome_id=market.outcomes[0], stake=amount
    )
    return detail(error)


def pass_the_cooling_off(conn: Connection, who: Persona) -> None:
    """As the superuser: the pending changes' time has come (as if 24 hours had passed)."""
    conn.execute(
        """update app.play_limits
           set pending_daily_stake_limit_at = least(pending_daily_stake_limit_at, now()),
               pending_daily_deposit_limit_at = least(pending_daily_deposit_limit_at, now())
           where user_id = %s""",
        [who.user_id],
    )


def age_wagers(conn: Connection, who: Persona, age: datetime.timedelta) -> None:
    """As the superuser: the user's wagers so far were placed `age` ago."""
    conn.execute(
        "update app.wagers set created_at = now() - %s where user_id = %s", [age, who.user_id]
    )
