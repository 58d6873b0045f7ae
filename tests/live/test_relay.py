"""The hub's relay (api/wagerbase/live/hub.py) reading the event stream under load: every hub (a
node, or a worker of one) receives every event once, per market in version order and per user in
balance-version order; a hub whose connection is cut catches up from its cursor with no resync; a
hub started mid-load begins at the end and carries on; one whose cursor the database can no longer
honour resyncs. Hubs run in this process on the database the writers use, as a node runs them.

Waits are generous and never asserted: a hub is given up on only after WAIT seconds."""

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from tests.db.actors import DEADLOCK_DETECTED, SERIALIZATION_FAILURE, Actor
from tests.db.personas import create_user
from wagerbase.live.hub import Event, Hub

WAIT = 60.0
WRITERS, OPERATIONS = 16, 12


class Recorder:
    """A hub that keeps every event it publishes, in order."""

    def __init__(self, url: str) -> None:
        self.hub = Hub(url, poll=0.002)
        self.events: list[Event] = []
        publish = self.hub.publish

        def record(event: Event) -> None:
            self.events.append(event)
            publish(event)

        self.hub.publish = record  # type: ignore[method-assign]

    async def start(self) -> "Recorder":
        await self.hub.start()
        assert self.hub.connected.is_set()
        return self

    def versions(self, audience: str, key: str, value: Any) -> list[int]:
        """The `version`s of the market (audience market, key market_id) or of the user's
        balance messages (audience user, key user_id), in the order the hub published them."""
        return [
            int(e.payload["version"])
            for e in self.events
            if e.audience == audience
            and e.payload.get(key) == value
            and (audience == "market" or e.type == "balance")
        ]

    def resyncs(self) -> list[str]:
        return [e.payload["reason"] for e in self.events if e.type == "resync"]


def make_people(url: str) -> tuple[uuid.UUID, list[uuid.UUID]]:
    with psycopg.connect(url) as conn:
        boss = create_user(conn, "boss", admin=True)
        users = [create_user(conn, f"writer{n}") for n in range(4)]
        conn.commit()
    return boss, users


def call(actor: Actor, function: str, **arguments: Any) -> Any:
    """One committed call, tried again after a deadlock or serialization failure."""
    for _ in range(20):
        try:
            return actor.call(function, **arguments)
        except psycopg.Error as exc:
            if exc.sqlstate not in (DEADLOCK_DETECTED, SERIALIZATION_FAILURE):
                raise
    raise AssertionError(f"{function} kept failing")


def final_versions(url: str, markets: list[int], users: list[uuid.UUID]) -> dict[Any, int]:
    with psycopg.connect(url) as conn:
        found: dict[Any, int] = {}
        for market_id, version in conn.execute(
            "select id, version from app.markets where id = any(%s)", [markets]
        ):
            found[("market", market_id)] = int(version)
        for user_id, version in conn.execute(
            "select user_id, version from app.accounts where user_id = any(%s)", [users]
        ):
            found[("user", user_id)] = int(version)
    return found


def of(recorder: Recorder, key: tuple[str, Any]) -> list[int]:
    """The versions the hub published for a key of final_versions: (market, id) or (user, id)."""
    audience, value = key
    return recorder.versions(
        audience, f"{audience}_id", str(value) if audience == "user" else value
    )


async def caught_up(recorder: Recorder, finals: dict[Any, int]) -> None:
    """Wait until the hub has published the last version of every market and wallet."""
    deadline = time.monotonic() + WAIT
    while True:
        missing = [key for key, version in finals.items() if version not in of(recorder, key)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the hub never published the last versions of {missing}")
        await asyncio.sleep(0.05)


def cut_the_hubs_off(url: str) -> int:
    """Terminate every hub's database connection, as a network failure would."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where application_name like 'wagerbase hub%%' and pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_16_writers_every_hub_gets_every_event_once_in_order_and_a_cut_off_hub_catches_up(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    boss_id, users = make_people(url)
    halfway = threading.Event()
    done = [0]
    lock = threading.Lock()

    def writer(n: int, markets: list[tuple[int, list[int]]]) -> None:
        rng = random.Random(n)
        with Actor(url, users[n % len(users)]) as me:
            for k in range(OPERATIONS):
                if k % 3 == 2:
                    call(me, "deposit", amount=100)
                else:
                    market, outcomes = markets[rng.randrange(len(markets))]
                    outcome = outcomes[rng.randrange(len(outcomes))]
                    call(me, "place_wager", market_id=market, outcome_id=outcome, stake=100)
                with lock:
                    done[0] += 1
                    if done[0] == WRITERS * OPERATIONS // 2:
                        halfway.set()

    async def scenario() -> None:
        steady = [await Recorder(url).start(), await Recorder(url).start()]
        first_life = await Recorder(url).start()
        with Actor(url, boss_id, admin=True) as boss:
            made = [
                boss.call("create_market", title=f"M{n}", outcomes=["A", "B", "C"])
                for n in range(3)
            ]
        playable = [(m["id"], [o["outcome_id"] for o in m["outcomes"]]) for m in made]
        markets = [m["id"] for m in made]
        load = asyncio.gather(*(asyncio.to_thread(writer, n, playable) for n in range(WRITERS)))
        await asyncio.to_thread(halfway.wait, WAIT)
        assert await asyncio.to_thread(cut_the_hubs_off, url) >= 3
        await first_life.hub.stop()
        second_life = await Recorder(url).start()
        # a market or wallet changed after the second hub's cursor was made must reach it
        at_second_start = final_versions(url, markets, users)
        await load

        finals = final_versions(url, markets, users)
        changed_since = {k: v for k, v in finals.items() if v > at_second_start[k]}
        for recorder in steady:
            await caught_up(recorder, finals)
        try:
            for recorder in steady:
                assert recorder.hub.reconnects >= 1  # it was cut off...
                assert recorder.resyncs() == []  # ...and caught up from its cursor
                for key, final in finals.items():
                    assert of(recorder, key) == list(range(1, final + 1)), key
            # a hub started mid-load: from its first event on, each sequence is whole (a market
            # or wallet whose last change committed before it started may never reach it)
            await caught_up(second_life, changed_since)
            for key, final in finals.items():
                seen = of(second_life, key)
                if seen or key in changed_since:
                    assert seen == list(range(seen[0], final + 1)), (key, seen)
                before = of(first_life, key)
                assert before == list(range(1, len(before) + 1)), (key, before)
        finally:
            for recorder in (*steady, second_life):
                await recorder.hub.stop()

    asyncio.run(asyncio.wait_for(scenario(), 300))


def test_a_hub_whose_cursor_was_pruned_away_resyncs_and_carries_on(
    fresh_db: Callable[[], str],
) -> None:
    url = fresh_db()
    boss_id, _ = make_people(url)

    async def scenario() -> None:
        recorder = await Recorder(url).start()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                # what pruning leaves when it deleted events the hub had not read yet
                conn.execute("update app.event_stream set pruned_xid = pg_current_xact_id()")
            deadline = time.monotonic() + WAIT
            while not recorder.resyncs():
                assert time.monotonic() < deadline, "no resync"
                await asyncio.sleep(0.02)
            assert recorder.resyncs() == ["fell_behind"]
            with Actor(url, boss_id, admin=True) as boss:
                market = boss.call("create_market", title="After", outcomes=["A", "B"])["id"]
            deadline = time.monotonic() + WAIT
            while not recorder.versions("market", "market_id", market):
                assert time.monotonic() < deadline, "nothing after the resync"
                await asyncio.sleep(0.02)
            assert recorder.versions("market", "market_id", market) == [1]
            assert recorder.resyncs() == ["fell_behind"]
        finally:
            await recorder.hub.stop()

    asyncio.run(asyncio.wait_for(scenario(), 120))
