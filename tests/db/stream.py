"""Reading the live event stream in tests as a node's relay reads it (server.read_events,
rpc/03_events.sql): a reader made now starts at the current end, and each `read` returns every
event committed since the last one, in the relay's order. Tests commit before they read, so a read
needs no marker and no timeout: the stream answers from the database, not from a socket."""

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from tests.db.personas import Persona
from tests.pgserver import Connection

Message = tuple[str, dict[str, Any]]
READ = "select server.read_events(%s::jsonb, %s)"


class StreamReader:
    """A relay's view of the stream on its own autocommit connection (as the superuser, who may
    call server.read_events like the node's authenticator)."""

    def __init__(
        self, url: str, channels: tuple[str, ...] | None = None, limit: int = 1000
    ) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.channels = channels
        self.limit = limit
        self.cursor: Any = None
        self.resyncs: list[str] = []
        self.page()  # start at the current end

    def page(self) -> list[dict[str, Any]]:
        """One call of server.read_events: the events of the page ({id, channel, payload})."""
        row = self.conn.execute(
            READ, [None if self.cursor is None else json.dumps(self.cursor), self.limit]
        ).fetchone()
        assert row is not None
        answer: dict[str, Any] = row[0]
        if answer["resync"]:
            self.resyncs.append(answer["reason"])
        self.cursor = answer["cursor"]
        return list(answer["events"])

    def rows(self) -> list[dict[str, Any]]:
        """Every event committed since the last read, page after page, in delivery order."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.page()
            found.extend(page)
            if len(page) < self.limit:
                return found

    def read(self) -> list[Message]:
        """(channel, payload) of every event since the last read, on the reader's channels."""
        return [
            (e["channel"], e["payload"])
            for e in self.rows()
            if self.channels is None or e["channel"] in self.channels
        ]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "StreamReader":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass
class Live:
    """A connection that acts (and commits) and a reader of the event stream
    (the `live` fixture: both on a fresh database)."""

    actor: Connection
    stream: StreamReader

    def commit_and_read(self) -> list[Message]:
        """Commit, then every message committed since the last read, in order."""
        self.actor.commit()
        return self.stream.read()

    def wallet(self, who: Persona) -> tuple[int, int]:
        row = self.actor.execute(
            "select balance, version from app.accounts where user_id = %s", [who.user_id]
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def of(messages: list[Message], channel: str, kind: str) -> list[dict[str, Any]]:
    """The payloads of the messages of type `kind` on `channel`, in order."""
    return [p for c, p in messages if c == channel and p["type"] == kind]


def one(messages: list[Message], channel: str, kind: str) -> dict[str, Any]:
    """The payload of the only message of type `kind` on `channel`."""
    found = of(messages, channel, kind)
    assert len(found) == 1, (channel, kind, messages)
    return found[0]


def kinds(messages: list[Message]) -> list[tuple[str, str]]:
    return sorted((c, p["type"]) for c, p in messages)


def odds(payload: dict[str, Any]) -> list[Decimal | None]:
    return [None if o["odds"] is None else Decimal(str(o["odds"])) for o in payload["outcomes"]]
