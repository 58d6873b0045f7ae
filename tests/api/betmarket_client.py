"""A small client for BetMarket's contract on /api, shared by the test_betmarket* modules: players
and admins made over HTTP (an admin is promoted with the superuser connection, as the CLI does)."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import psycopg

from tests.pgserver import unique_name

PASSWORD = "correct horse 1"

GAME_FIELDS = {
    "game_id",
    "question_text",
    "opt1_text",
    "opt2_text",
    "category",
    "result",
    "betting_open",
    "tot_opt1",
    "tot_opt2",
    "odd1",
    "odd2",
    "cap_opt1",
    "cap_opt2",
    "created_at",
}
BET_FIELDS = {
    "bet_id",
    "user_id",
    "game_id",
    "amount",
    "choice",
    "odd",
    "placed_at",
    "game_question",
    "game_category",
    "opt1_text",
    "opt2_text",
    "game_result",
    "betting_open",
    "won",
    "payout",
}


@dataclass
class User:
    """A signed-in BetMarket user."""

    http: httpx.Client
    name: str
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.http.post(path, json=body, headers=headers, **kwargs)

    def balance(self) -> float:
        answer = self.get("/api/balance")
        assert answer.status_code == 200, answer.text
        value: float = answer.json()["balance"]
        return value

    def deposit(self, amount: float) -> dict[str, Any]:
        answer = self.post("/api/balance", {"amount": amount})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def bet(self, game_id: int, amount: float, choice: str, **extra: Any) -> httpx.Response:
        return self.post(
            "/api/bet", {"game_id": game_id, "amount": amount, "choice": choice, **extra}
        )

    def bets(self, game_id: int | None = None) -> list[dict[str, Any]]:
        path = "/api/user/bets" if game_id is None else f"/api/user/bets/{game_id}"
        answer = self.get(path)
        assert answer.status_code == 200, answer.text
        bets: list[dict[str, Any]] = answer.json()["bets"]
        return bets

    # admin calls
    def new_game(self, question: str = "Who wins?", category: str = "real") -> int:
        answer = self.post(
            "/api/admin/game",
            {
                "question_text": question,
                "opt1_text": "Home",
                "opt2_text": "Away",
                "category": category,
            },
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["message"]
        game_id: int = answer.json()["game_id"]
        return game_id

    def stop_betting(self, game_id: int) -> httpx.Response:
        return self.post("/api/admin/stop_betting", {"game_id": game_id})

    def settle(self, game_id: int, result: str) -> httpx.Response:
        return self.post("/api/admin/start_game", {"game_id": game_id, "result": result})

    def profit(self) -> float:
        answer = self.get("/api/admin/profit")
        assert answer.status_code == 200, answer.text
        value: float = answer.json()["profit"]
        return value


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=30)


def register(http: httpx.Client, prefix: str = "bettor", **extra: Any) -> User:
    name = unique_name(prefix)
    answer = http.post("/api/auth/register", json={"username": name, "password": PASSWORD, **extra})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return User(http, name, body["id"], body["token"])


def admin(http: httpx.Client, database_url: str) -> User:
    """A new admin: registered, promoted as `wagerbase users promote` does, signed in again."""
    user = register(http, "admin")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select app._set_admin(%s, true)", [user.name])
    answer = http.post("/api/auth/login", json={"username": user.name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["isAdmin"] is True
    return User(http, user.name, user.id, answer.json()["token"])


def query(database_url: str, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows read with the superuser connection (to look at the ledger behind an answer)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def market_version(database_url: str, market_id: int) -> int:
    """The market's version now (what its latest live message carries)."""
    ((version,),) = query(
        database_url, "select version from app.markets where id = %s", [market_id]
    )
    assert isinstance(version, int)
    return version


def wallet_version(database_url: str, user_id: str) -> int:
    """The user's wallet version now (the balance_seq of their latest balance message)."""
    ((version,),) = query(
        database_url,
        "select version from app.accounts where user_id = %s and kind = 'user'",
        [user_id],
    )
    assert isinstance(version, int)
    return version


def minor(amount: float) -> int:
    """A JSON amount (major units) as minor units, exactly as written."""
    return int(Decimal(str(amount)) * 100)
