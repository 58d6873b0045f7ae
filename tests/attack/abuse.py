"""What the abuse tests (tests/attack/test_abuse_*.py) share: a node on a database of its own,
role settings for that database alone, a lock held by the test, the server processes a node runs
for requests, requests that hang up, and a Phoenix client for the Realtime socket.

A statement is held for as long as a test wants by a lock it holds (a read waits for it; with the
role's lock_timeout and statement_timeout set to 0 for the test's database alone, it waits until
the lock goes), so no test depends on how fast anything runs: each waits for what it needs to see
(`eventually`), with a generous deadline.
"""

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import psycopg
from psycopg import sql
from websockets.sync.client import ClientConnection, connect

from tests.pgserver import PgServer
from tests.serving import Node, new_secret, serving

T = TypeVar("T")
WAIT = 60.0  # how long to wait for what must happen: a deadline, never a measure
HASH_WAIT = 120.0  # for a call that hashes a password (argon2) on a busy machine: a deadline too
REGEX = r"match.^(.*)(.*)(.*)(.*)\4\3\2\1$"  # the report's backtracking filter
API = "wagerbase api"  # the application_name of a node's pool connections
BEAT = 20.0  # a Realtime client's heartbeat, in seconds (realtime-js sends one every 25)


@contextmanager
def own_node(
    pg_server: PgServer, template_db: str, folder: Path, env: dict[str, str] | None = None
) -> Iterator[Node]:
    """A node (with these settings) on a new copy of the template database, dropped after."""
    with (
        pg_server.database_from(template_db, "wb_abuse") as url,
        serving(Node(url, new_secret(), folder / "serve.log", env=env or {})) as node,
    ):
        yield node


def superuser(node: Node) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(node.database_url, autocommit=True)


def dbname(node: Node) -> str:
    with superuser(node) as conn:
        row = conn.execute("select current_database()").fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def role_settings(node: Node, role: str, **settings: str) -> Iterator[None]:
    """`alter role <role> in database <the node's> set ...` for the block: only this database's
    requests as that role see them (server.begin_request reads them at each request)."""
    name = sql.Identifier(dbname(node))
    with superuser(node) as conn:
        for setting, value in settings.items():
            conn.execute(
                sql.SQL("alter role {} in database {} set {} = {}").format(
                    sql.Identifier(role), name, sql.Identifier(setting), sql.Literal(value)
                )
            )
        try:
            yield
        finally:
            for setting in settings:
                conn.execute(
                    sql.SQL("alter role {} in database {} reset {}").format(
                        sql.Identifier(role), name, sql.Identifier(setting)
                    )
                )


@contextmanager
def holding(node: Node, statement: str, params: list[Any] | None = None) -> Iterator[None]:
    """A transaction of the test's that took a lock with `statement`, open for the block."""
    with psycopg.connect(node.database_url) as conn:
        conn.execute(statement, params or [])
        try:
            yield
        finally:
            conn.rollback()


def requests_in_flight(node: Node, text: str) -> list[dict[str, Any]]:
    """The node's server processes running a statement that contains `text`."""
    with superuser(node) as conn:
        cursor = conn.execute(
            """select pid, state, wait_event_type, query from pg_catalog.pg_stat_activity
               where datname = current_database() and application_name = %s
                 and state = 'active' and strpos(query, %s) > 0""",
            [API, text],
        )
        names = [c.name for c in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def waiting_on_a_lock(node: Node, text: str) -> int:
    return sum(1 for r in requests_in_flight(node, text) if r["wait_event_type"] == "Lock")


def eventually(check: Callable[[], T], what: str, deadline: float = WAIT) -> T:
    """The first truthy answer of `check`, asked again until `deadline` seconds have passed."""
    until = time.monotonic() + deadline
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > until:
            raise AssertionError(f"not within {deadline} s: {what}")
        time.sleep(0.1)


def http(node: Node, source: str = "127.0.0.1", timeout: float = WAIT) -> httpx.Client:
    """A client of the node whose connections come from `source` (any 127.x address), so that
    a test can be several anonymous clients."""
    return httpx.Client(
        base_url=node.url,
        timeout=timeout,
        transport=httpx.HTTPTransport(local_address=source),
    )


def anon(node: Node) -> dict[str, str]:
    return {"apikey": node.anon_key}


def bearer(node: Node, token: str) -> dict[str, str]:
    return {"apikey": node.anon_key, "Authorization": f"Bearer {token}"}


def hang_up_after(node: Node, request: bytes, until: Callable[[], bool], what: str) -> None:
    """Send a raw HTTP/1.1 request, wait until `until()` holds (its statement runs), then close
    the connection without reading the answer."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=WAIT) as raw:
        raw.sendall(request)
        eventually(until, what)


def raw_request(node: Node, method: str, path: str, body: Any = None) -> bytes:
    payload = b"" if body is None else json.dumps(body).encode()
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{node.port}",
        f"apikey: {node.anon_key}",
        "Content-Type: application/json",
        f"Content-Length: {len(payload)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def regex_read() -> str:
    return f"/rest/v1/markets?select=id&outcomes={quote(REGEX, safe='.^$()*')}"


def _session(node: Node, path: str, email: str) -> str:
    """The access token /auth/v1 answers `path` (sign-up or sign-in) with, for email/PASSWORD."""
    answer = httpx.post(
        f"{node.url}/auth/v1/{path}",
        headers=anon(node),
        json={"email": email, "password": PASSWORD},
        timeout=WAIT,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def signed_up(node: Node, prefix: str = "bettor") -> tuple[str, str]:
    """A user signed up over /auth/v1 (so they can sign in again): their email and token."""
    email = f"{prefix}_{uuid.uuid4().hex[:10]}@example.test"
    return email, _session(node, "signup", email)


def sign_up_named(node: Node, name: str) -> str:
    """A user signed up over /auth/v1 with the username `name` and an email made of it (so they
    sign in by either): their email."""
    email = f"{name}@example.test"
    answer = httpx.post(
        f"{node.url}/auth/v1/signup",
        headers=anon(node),
        json={"email": email, "username": name, "password": PASSWORD},
        timeout=HASH_WAIT,
    )
    assert answer.status_code == 200, answer.text
    return email


def sign_in(node: Node, email: str) -> str:
    return _session(node, "token?grant_type=password", email)


def admin_token(node: Node) -> str:
    email, _ = signed_up(node, "admin")
    with superuser(node) as conn:
        conn.execute("select app._set_admin(%s, true)", [email])
    return sign_in(node, email)


def new_market(node: Node, token: str, title: str = "Derby") -> tuple[int, list[int]]:
    """An open two-outcome market: its id and its outcomes' ids."""
    answer = httpx.post(
        f"{node.url}/rest/v1/rpc/create_market",
        headers=bearer(node, token),
        json={"title": title, "outcomes": ["Home", "Away"]},
        timeout=WAIT,
    )
    assert answer.status_code == 200, answer.text
    market = answer.json()
    return int(market["id"]), [int(o["outcome_id"]) for o in market["outcomes"]]


PASSWORD = "correct horse 1"


class Phoenix:
    """A Realtime socket (serializer 1.0.0) that keeps every frame it receives."""

    def __init__(self, node: Node, address: str | None = None) -> None:
        """A socket to `node`; from `address` (X-Forwarded-For) when the node trusts 127.0.0.1
        as a proxy."""
        self.node = node
        self.socket: ClientConnection = connect(
            f"ws://127.0.0.1:{node.port}/realtime/v1/websocket?apikey={node.anon_key}&vsn=1.0.0",
            open_timeout=WAIT,
            additional_headers={"X-Forwarded-For": address} if address else None,
        )
        self.frames: list[dict[str, Any]] = []
        self._ref = 0

    def close(self) -> None:
        self.socket.close()

    def send(self, topic: str, event: str, payload: Any) -> str:
        self._ref += 1
        ref = str(self._ref)
        frame = {"topic": topic, "event": event, "payload": payload, "ref": ref, "join_ref": ref}
        self.socket.send(json.dumps(frame))
        return ref

    def join(
        self, topic: str, token: str, bindings: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The reply to a join of `topic` with these postgres_changes bindings."""
        config: dict[str, Any] = {"private": False}
        if bindings is not None:
            config["postgres_changes"] = bindings
        ref = self.send(topic, "phx_join", {"access_token": token, "config": config})
        return self.until(lambda f: f["event"] == "phx_reply" and f.get("ref") == ref)

    def until(
        self, matches: Callable[[dict[str, Any]], bool], deadline: float = WAIT
    ) -> dict[str, Any]:
        """The first frame (kept or new) that matches, waiting up to `deadline` seconds."""
        for kept in self.frames:
            if matches(kept):
                return kept
        until = time.monotonic() + deadline
        while (left := until - time.monotonic()) > 0:
            try:
                frame: dict[str, Any] = json.loads(self.socket.recv(timeout=min(left, BEAT)))
            except TimeoutError:
                self.send("phoenix", "heartbeat", {})  # as a client does: the node closes
                continue  # a socket silent for 60 s
            self.frames.append(frame)
            if matches(frame):
                return frame
        raise AssertionError(f"no such frame within {deadline} s; got {self.frames[-5:]}")
