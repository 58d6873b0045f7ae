"""The personas over HTTP, against a real `wagerbase serve`: users made as sign-up makes them
(app._create_user, with one argon2 hash computed once so they can also sign in) and given a
session and an access token exactly as sign-in gives them (app._start_session, then the node's
own Tokens with its secret). The anon and service keys are the node's."""

import functools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
from psycopg.types.json import Jsonb

from tests.attack.matrix import PersonaKind
from tests.attack.matrix_checks import DIGEST
from tests.attack.stage import Refused, Stage
from tests.serving import Node, serving
from wagerbase.accounts import hash_password
from wagerbase.settings import DEFAULT_MAX_ROWS
from wagerbase.tokens import Tokens

PASSWORD = "correct horse 1"


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@functools.cache
def client(url: str) -> httpx.Client:
    """One keep-alive client per node for the whole run."""
    return httpx.Client(base_url=url, timeout=30)


@functools.cache
def superuser(node_url: str, database_url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """One autocommit superuser connection per node's database for the whole run."""
    del node_url  # part of the key only
    return psycopg.connect(database_url, autocommit=True)


def db(node: Node) -> psycopg.Connection[tuple[Any, ...]]:
    return superuser(node.url, node.database_url)


@dataclass
class RestActor:
    """A caller of /rest/v1 with one bearer token."""

    node: Node
    name: str
    token: str
    user_id: str | None = None
    email: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"apikey": self.node.anon_key, "Authorization": f"Bearer {self.token}"}

    @property
    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(self.token, options={"verify_signature": False})
        return claims

    def call(self, function: str, **arguments: Any) -> Any:
        answer = self.rpc(function, arguments)
        if answer.status_code != 200:
            body = answer.json()
            raise Refused(body.get("code", ""), body.get("message", ""), answer.status_code)
        return answer.json()

    def rpc(self, function: str, arguments: dict[str, Any]) -> httpx.Response:
        return self.send("POST", f"rpc/{function}", json=arguments)

    def get(self, view: str, params: Any = None) -> httpx.Response:
        return self.send("GET", view, params=params)

    def send(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return client(self.node.url).request(
            method, f"/rest/v1/{path}", headers={**self.headers, **(headers or {})}, **kwargs
        )


@contextmanager
def another_node(node: Node, folder: Path, **env: str) -> Iterator[Node]:
    """A second node on `node`'s database, with its secret and these settings, while in use."""
    with serving(
        Node(node.database_url, node.jwt_secret, folder / "serve.log", env=env)
    ) as started:
        yield started


def every_page(actor: RestActor, view: str) -> tuple[httpx.Response, list[Any]]:
    """GET /rest/v1/<view> and all its rows: a read answers at most the node's row cap, so a full
    page is followed by the next (`offset`). The first answer, and the rows (of a 200)."""
    answer = actor.get(view)
    if answer.status_code != 200:
        return answer, []
    rows: list[Any] = answer.json()
    page = rows
    while len(page) == DEFAULT_MAX_ROWS:
        page = actor.get(view, {"offset": str(len(rows))}).json()
        rows = rows + page
    return answer, rows


def new_user(node: Node, prefix: str, *, admin: bool = False) -> RestActor:
    """A user with a session and an access token, as sign-up and sign-in make them."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.test"
    session = uuid.uuid4()
    conn = db(node)
    row = conn.execute(
        "select app._create_user(%s, %s, %s, %s)",
        [email, name, password_hash(), Jsonb({"role": "admin"} if admin else {})],
    ).fetchone()
    assert row is not None
    user = conn.execute(
        "select app._start_session(%s, %s, %s)", [row[0], session, uuid.uuid4().hex]
    ).fetchone()
    assert user is not None
    token, _ = Tokens(node.jwt_secret).access_token(user[0], session)
    return RestActor(node, name, token, str(row[0]), email)


@dataclass
class HttpCast:
    """The five personas, fresh users each time, the clerk (another admin) and their stage."""

    node: Node
    who: dict[PersonaKind, RestActor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        node = self.node
        self.who = {
            PersonaKind.ANONYMOUS: RestActor(node, "anonymous", node.anon_key),
            PersonaKind.BETTOR: new_user(node, "bettor_a"),
            PersonaKind.OTHER: new_user(node, "bettor_b"),
            PersonaKind.ADMIN: new_user(node, "admin", admin=True),
            PersonaKind.SERVICE: RestActor(node, "service", node.service_key),
        }
        self.clerk = new_user(node, "clerk", admin=True)
        self.stage = Stage(self.clerk, self.who[PersonaKind.BETTOR])

    @property
    def users(self) -> list[str]:
        return [a.user_id for a in (*self.who.values(), self.clerk) if a.user_id]

    def digest(self, markets: list[int], users: list[str]) -> str:
        row = db(self.node).execute(DIGEST, {"markets": markets, "users": users}).fetchone()
        assert row is not None
        return str(row[0])


# columns computed from the clock at each read (the limits' 24-hour window), left out when two reads
# are compared
CLOCK_COLUMNS = ("window_started_at",)


def rows_as_superuser(node: Node, view: str, claims: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of a view as the superuser (no RLS) with these claims, as JSON (but the clock
    columns)."""
    conn = db(node)
    with conn.transaction():
        conn.execute("select set_config('request.jwt.claims', %s, true)", [json.dumps(claims)])
        return ordered(
            json.loads(r) for (r,) in conn.execute(f"select to_json(v)::text from public.{view} v")
        )


def ordered(rows: Any) -> list[dict[str, Any]]:
    """Rows in a stable order, without the clock columns."""
    shown = [{k: v for k, v in row.items() if k not in CLOCK_COLUMNS} for row in rows]
    return sorted(shown, key=lambda r: json.dumps(r, sort_keys=True))
