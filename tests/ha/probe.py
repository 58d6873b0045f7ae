"""A writer straight to the database with psycopg, no API in between: Patroni's own figure.

One thread inserts a row at a time into `ha_probe` in autocommit, through the multi-host conninfo
(target_session_attrs=read-write), reconnecting after any error; it keeps each acknowledged id
with when its attempt started and ended and the port that answered. The time from a kill to the
first acknowledged insert that started after it is how long the cluster itself takes to take
writes again; the API's figure, measured in the same run, can be compared with it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg

PAUSE_S = 0.005  # between inserts: enough to measure, little load on two cores

TABLE = "create table if not exists ha_probe (id bigint primary key, at timestamptz not null)"


@dataclass(frozen=True)
class Ack:
    id: int
    started: float
    ended: float
    port: int


class Probe:
    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.acks: list[Ack] = []
        self.errors = 0
        self._next_id = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="probe", daemon=True)

    def start(self) -> Probe:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(TABLE)
            row = conn.execute("select coalesce(max(id), 0) from ha_probe").fetchone()
            self._next_id = int(row[0]) if row else 0
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(60)

    def _run(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                if conn is None:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                self._next_id += 1
                conn.execute(
                    "insert into ha_probe (id, at) values (%s, clock_timestamp())", [self._next_id]
                )
                self.acks.append(Ack(self._next_id, started, time.monotonic(), conn.info.port))
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(PAUSE_S)
        if conn is not None:
            conn.close()

    def first_write_after(self, moment: float) -> Ack | None:
        return next((ack for ack in list(self.acks) if ack.started > moment), None)

    def lost(self, conninfo: str) -> list[int]:
        """Acknowledged ids missing from the database at `conninfo`."""
        with psycopg.connect(conninfo, autocommit=True) as conn:
            present = {row[0] for row in conn.execute("select id from ha_probe")}
        return sorted(ack.id for ack in self.acks if ack.id not in present)
