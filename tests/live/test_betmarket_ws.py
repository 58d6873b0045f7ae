"""BetMarket's /ws (docs/live.md) with real WebSocket clients on two `serve` nodes, one database.

Waits are generous and never asserted. A socket that must NOT receive something is checked with a
marker: after the event, a bet on a separate marker game commits, and its public `odds_update`
reaches every socket through the same hub after everything committed before it. Once a socket
has the marker, a message it was not sent before will never come.
"""

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from litestar.datastructures import State

from tests.api.betmarket_client import (
    User,
    admin,
    client,
    market_version,
    query,
    register,
    wallet_version,
)
from tests.live.sockets import WAIT, Message, Predicate, Socket
from tests.pgserver import PgServer
from tests.serving import Node, new_secret
from wagerbase.live.hub import MAILBOX_LIMIT, Event, Hub
from wagerbase.live.who import UNKNOWN_USER_REASON
from wagerbase.surfaces.betmarket.ws import IDLE_ENV, betmarket_ws
from wagerbase.tokens import Tokens

# Two nodes on one database -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_live") as url:
        yield url


@pytest.fixture(scope="module")
def secret() -> str:
    return new_secret()


def _node(database: str, secret: str, log: Path) -> Iterator[Node]:
    started = Node(database, secret, log).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def node_a(
    live_database: str, secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    yield from _node(live_database, secret, tmp_path_factory.mktemp("ws") / "node_a.log")


@pytest.fixture(scope="module")
def node_b(
    live_database: str, secret: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    yield from _node(live_database, secret, tmp_path_factory.mktemp("ws") / "node_b.log")


@pytest.fixture(scope="module")
def http_a(node_a: Node) -> Iterator[httpx.Client]:
    with client(node_a.url) as http:
        yield http


@pytest.fixture(scope="module")
def http_b(node_b: Node) -> Iterator[httpx.Client]:
    with client(node_b.url) as http:
        yield http


@pytest.fixture(scope="module")
def boss(http_a: httpx.Client, live_database: str) -> User:
    return admin(http_a, live_database)


def player(http: httpx.Client, prefix: str = "bettor") -> User:
    """A registered user whose wallet exists (made with the initial balance)."""
    user = register(http, prefix)
    user.balance()
    return user


# Sockets -----------------------------------------------------------------------------------------


@pytest.fixture
def sockets() -> Iterator[Callable[[Node, str], Socket]]:
    opened: list[Socket] = []

    def open_socket(node: Node, name: str) -> Socket:
        socket = Socket(node, name)
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        socket.close()


def opcode(name: str, **fields: Any) -> Predicate:
    return lambda m: m.get("opcode") == name and all(m.get(k) == v for k, v in fields.items())


class Marker:
    """Bets of 1.0 on a game of its own: each one's odds_update follows, on every socket, all that
    committed before it."""

    def __init__(self, http: httpx.Client, boss: User, database: str) -> None:
        self.database = database
        self.user = player(http, "marker")
        self.user.deposit(1000)
        self.game = boss.new_game("Marker game")

    def __call__(self, *sockets: Socket) -> None:
        answer = self.user.bet(self.game, 1.0, "opt1")
        assert answer.status_code == 201, answer.text
        version = market_version(self.database, self.game)
        for socket in sockets:
            socket.expect("odds_update", game_id=self.game, version=version)


@pytest.fixture(scope="module")
def marker(http_a: httpx.Client, boss: User, live_database: str) -> Marker:
    return Marker(http_a, boss, live_database)


# The protocol ------------------------------------------------------------------------------------


def test_keepalive_is_echoed_and_anything_else_is_an_error_on_an_open_socket(
    node_a: Node, sockets: Callable[[Node, str], Socket]
) -> None:
    socket = sockets(node_a, "anonymous")
    assert socket.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}
    for bad in (
        "not json {",
        "[1, 2]",
        '"keepalive"',
        "{}",
        {"opcode": "subscribe", "topic": "odds"},
        {"opcode": 7},
        "[" * 100_000,
        b'{"opcode": "keepalive"}',
    ):
        answer = socket.request(bad)
        assert answer["opcode"] == "error", (bad, answer)
        assert isinstance(answer["message"], str) and answer["message"]
    assert socket.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}


def test_authenticate_names_the_user_and_admins_and_refuses_bad_tokens(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    secret: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    bettor = player(http_a)
    socket = sockets(node_b, "bettor")
    marker(socket)  # the sign-up grant's news have passed: nothing older arrives once signed in
    assert socket.authenticate(bettor.token) == {
        "opcode": "authenticated",
        "user_id": bettor.id,
        "is_admin": False,
    }
    assert sockets(node_a, "boss").authenticate(boss.token) == {
        "opcode": "authenticated",
        "user_id": boss.id,
        "is_admin": True,
    }

    now = int(time.time())
    claims = jwt.decode(bettor.token, options={"verify_signature": False})
    user = {"id": bettor.id, "app_metadata": {"role": "admin"}}
    bad_tokens = {
        "garbage": "not a token",
        "forged": Tokens(new_secret()).access_token(user, uuid.uuid4())[0],
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret, "HS256"),
        "alg none": jwt.encode({**claims, "app_metadata": {"role": "admin"}}, "", "none"),
        "anon key": node_a.anon_key,
    }
    for name, token in bad_tokens.items():
        answer = socket.authenticate(token)
        assert answer["opcode"] == "error", (name, answer)
        assert answer["message"], name
    assert socket.request({"opcode": "authenticate"})["opcode"] == "error"
    assert socket.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}  # still open

    # a failed authentication leaves the socket anonymous: the bettor's news no longer reach it
    bettor.deposit(5)
    marker(socket)
    socket.never_got(opcode("balance_update"))


def test_a_deleted_user_s_token_is_refused_and_the_socket_hears_nothing_of_theirs(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    """The token is still valid and signed; the database says its user is gone (unknown_user)."""
    leaving = player(http_a, "leaving")
    game = boss.new_game("Voided after the deletion")
    assert leaving.bet(game, 5, "opt1").status_code == 201
    before = sockets(node_a, "authenticated before")
    marker(before)  # the bet's news have passed: only newer ones could follow the sign-in
    assert before.authenticate(leaving.token)["opcode"] == "authenticated"
    query(
        live_database,
        "update auth.users set deleted_at = now() where id = %s returning id",
        [leaving.id],
    )

    refused = f"authentication failed: {UNKNOWN_USER_REASON}"
    after = sockets(node_b, "authenticated after")
    assert after.authenticate(leaving.token) == {"opcode": "error", "message": refused}
    assert before.authenticate(leaving.token) == {"opcode": "error", "message": refused}
    assert after.request({"opcode": "keepalive"}) == {"opcode": "keepalive"}  # still open

    # the refund of their voided wager moves their wallet: neither socket hears of it
    voided = http_a.post(
        "/rest/v1/rpc/void_market",
        json={"market_id": game, "reason": "user deleted"},
        headers={"apikey": node_a.anon_key, "Authorization": f"Bearer {node_a.service_key}"},
    )
    assert voided.status_code == 200, voided.text
    marker(before, after)
    for socket in (before, after):
        socket.expect("game_voided", game_id=game)
        socket.never_got(opcode("balance_update"))


def test_an_admin_demoted_while_connected_gets_no_more_admin_messages(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    """Each admin message is checked again at the database before it goes out: the demoted admin's
    socket, still authenticated with a token that says admin, gets no profit_update from the
    demotion on, and gets them again once promoted again; authenticating again says is_admin
    false."""
    deputy = admin(http_a, live_database)
    kept, demoted = sockets(node_a, "boss"), sockets(node_b, "deputy")
    assert kept.authenticate(boss.token)["is_admin"] is True
    assert demoted.authenticate(deputy.token) == {
        "opcode": "authenticated",
        "user_id": deputy.id,
        "is_admin": True,
    }
    bettor = player(http_a)
    games = [boss.new_game(f"Demotion {n}") for n in range(3)]
    for game in games:
        assert bettor.bet(game, 10, "opt1").status_code == 201

    def settle(game: int) -> float:
        """The house wins the bettor's stake; its new profit."""
        assert boss.stop_betting(game).status_code == 200
        assert boss.settle(game, "opt2").status_code == 200
        return boss.profit()

    def set_admin(admin_role: bool) -> None:
        query(live_database, "select app._set_admin(%s, %s)", [deputy.name, admin_role])

    def profits(socket: Socket) -> list[float]:
        return [m["profit"] for m in socket.seen if m.get("opcode") == "profit_update"]

    first = settle(games[0])
    for socket in (kept, demoted):
        socket.expect("profit_update", profit=first)

    set_admin(False)
    second = settle(games[1])
    assert second != first
    kept.expect("profit_update", profit=second)
    marker(demoted)  # everything committed before the marker reached the demoted socket
    assert profits(demoted) == [first]

    set_admin(True)  # the same socket and token: the next message is checked again
    third = settle(games[2])
    demoted.expect("profit_update", profit=third)
    assert profits(demoted) == [first, third]

    set_admin(False)
    assert demoted.authenticate(deputy.token) == {
        "opcode": "authenticated",
        "user_id": deputy.id,
        "is_admin": False,
    }


def test_a_new_game_reaches_every_socket_on_both_nodes(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    sockets: Callable[[Node, str], Socket],
) -> None:
    bettor = player(http_a)
    everyone = [sockets(node_a, "anonymous A"), sockets(node_b, "anonymous B")]
    for node in (node_a, node_b):
        signed_in = sockets(node, "bettor")
        signed_in.authenticate(bettor.token)
        everyone.append(signed_in)

    game_id = boss.new_game("Will it rain on the final?", category="virtual")
    game = http_a.get(f"/api/games/{game_id}").json()
    version = market_version(live_database, game_id)
    for socket in everyone:
        message = socket.expect("new_game", game_id=game_id)
        assert message == {
            "opcode": "new_game",
            "game_id": game_id,
            "question_text": "Will it rain on the final?",
            "opt1_text": "Home",
            "opt2_text": "Away",
            "category": "virtual",
            "betting_open": True,
            "odd1": game["odd1"],
            "odd2": game["odd2"],
            "cap_opt1": game["cap_opt1"],
            "cap_opt2": game["cap_opt2"],
            "version": version,
        }


def test_a_bet_through_node_a_moves_odds_everywhere_and_tells_only_the_bettor(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    bettor, other = player(http_a), player(http_a, "other")
    game_id = boss.new_game("Derby")
    bettor_a, bettor_b = sockets(node_a, "bettor on A"), sockets(node_b, "bettor on B")
    other_b, boss_b = sockets(node_b, "other on B"), sockets(node_b, "boss on B")
    anonymous = [sockets(node_a, "anonymous A"), sockets(node_b, "anonymous B")]
    for socket, user in ((bettor_a, bettor), (bettor_b, bettor), (other_b, other), (boss_b, boss)):
        assert socket.authenticate(user.token)["opcode"] == "authenticated"

    answer = bettor.bet(game_id, 10, "opt1")
    assert answer.status_code == 201, answer.text
    placed = answer.json()
    version = market_version(live_database, game_id)
    everyone = [bettor_a, bettor_b, other_b, boss_b, *anonymous]
    for socket in everyone:
        assert socket.expect("odds_update", game_id=game_id) == {
            "opcode": "odds_update",
            "game_id": game_id,
            "odd1": placed["new_odd1"],
            "odd2": placed["new_odd2"],
            "cap_opt1": placed["new_cap_opt1"],
            "cap_opt2": placed["new_cap_opt2"],
            "total_volume": 10.0,
            "version": version,
        }
    seq = wallet_version(live_database, bettor.id)
    for socket in (bettor_a, bettor_b):
        assert socket.expect("bet_confirmed", game_id=game_id) == {
            "opcode": "bet_confirmed",
            "game_id": game_id,
            "amount": 10.0,
            "choice": "opt1",
            "odd": placed["bet_odd"],
            "bet_id": placed["bet_id"],
        }
        assert socket.expect("balance_update", balance_seq=seq) == {
            "opcode": "balance_update",
            "user_id": bettor.id,
            "balance": placed["new_balance"],
            "balance_seq": seq,
            "game_id": game_id,
        }

    others = [other_b, boss_b, *anonymous]
    marker(*others)
    for socket in others:
        socket.never_got(opcode("bet_confirmed"))
        socket.never_got(opcode("balance_update", user_id=bettor.id))
        socket.never_got(opcode("profit_update"))  # bets do not move the bookmaker's account


def test_closing_and_settling_reach_everyone_and_pay_the_winners_and_tell_admins(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    http_b: httpx.Client,
    boss: User,
    live_database: str,
    marker: Marker,
    sockets: Callable[[Node, str], Socket],
) -> None:
    winner, loser = player(http_a, "winner"), player(http_a, "loser")
    game_id = boss.new_game("Final")
    winner_a, winner_b = sockets(node_a, "winner on A"), sockets(node_b, "winner on B")
    loser_b = sockets(node_b, "loser on B")
    boss_a, boss_b = sockets(node_a, "boss on A"), sockets(node_b, "boss on B")
    anonymous = [sockets(node_a, "anonymous A"), sockets(node_b, "anonymous B")]
    for socket, user in (
        (winner_a, winner),
        (winner_b, winner),
        (loser_b, loser),
        (boss_a, boss),
        (boss_b, boss),
    ):
        assert socket.authenticate(user.token)["opcode"] == "authenticated"
    won = winner.bet(game_id, 20, "opt2")
    assert won.status_code == 201, won.text
    assert loser.bet(game_id, 30, "opt1").status_code == 201
    everyone = [winner_a, winner_b, loser_b, boss_a, boss_b, *anonymous]

    boss_on_b = User(http_b, boss.name, boss.id, boss.token)
    assert boss_on_b.stop_betting(game_id).status_code == 200
    closed_at = market_version(live_database, game_id)
    for socket in everyone:
        assert socket.expect("betting_closed", game_id=game_id) == {
            "opcode": "betting_closed",
            "game_id": game_id,
            "version": closed_at,
        }

    assert boss.settle(game_id, "opt2").status_code == 200
    settled_at = market_version(live_database, game_id)
    assert settled_at > closed_at
    for socket in everyone:
        assert socket.expect("game_result", game_id=game_id) == {
            "opcode": "game_result",
            "game_id": game_id,
            "result": "opt2",
            "version": settled_at,
        }
    seq = wallet_version(live_database, winner.id)
    balance = winner.balance()
    assert balance > won.json()["new_balance"]
    for socket in (winner_a, winner_b):
        assert socket.expect("balance_update", balance_seq=seq) == {
            "opcode": "balance_update",
            "user_id": winner.id,
            "balance": balance,
            "balance_seq": seq,
            "game_id": game_id,
        }
    profit = boss.profit()
    for socket in (boss_a, boss_b):
        assert socket.expect("profit_update", profit=profit) == {
            "opcode": "profit_update",
            "profit": profit,
        }

    others = [winner_a, winner_b, loser_b, *anonymous]
    marker(*others)
    for socket in others:
        socket.never_got(opcode("profit_update"))
    loser_seq = wallet_version(live_database, loser.id)
    loser_b.never_got(
        lambda m: m.get("opcode") == "balance_update" and m["balance_seq"] > loser_seq
    )
    loser_b.never_got(opcode("balance_update", user_id=winner.id))


def test_markets_that_are_not_games_get_the_same_opcodes_with_outcomes(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    sockets: Callable[[Node, str], Socket],
) -> None:
    def rpc(user: User, name: str, body: dict[str, Any]) -> Any:
        answer = user.post(f"/rest/v1/rpc/{name}", body, headers={"apikey": node_a.anon_key})
        assert answer.status_code == 200, answer.text
        return answer.json()

    bettor = player(http_a)
    watcher, own = sockets(node_b, "anonymous B"), sockets(node_a, "bettor on A")
    assert own.authenticate(bettor.token)["opcode"] == "authenticated"

    three = rpc(boss, "create_market", {"title": "Podium", "outcomes": ["Ann", "Bo", "Cy"]})
    pool = rpc(
        boss,
        "create_market",
        {"title": "Pool", "outcomes": ["Yes", "No"], "kind": "parimutuel"},
    )
    for market, labels, kind in (
        (three, ["Ann", "Bo", "Cy"], "fixed_odds"),
        (pool, ["Yes", "No"], "parimutuel"),
    ):
        for socket in (watcher, own):
            message = socket.expect("new_game", market_id=market["id"])
            assert "game_id" not in message and "odd1" not in message
            assert message["kind"] == kind
            assert message["question_text"] == market["title"]
            assert message["betting_open"] is True
            assert message["version"] == market_version(live_database, market["id"])
            assert [o["label"] for o in message["outcomes"]] == labels
            assert [o["outcome_id"] for o in message["outcomes"]] == [
                o["outcome_id"] for o in market["outcomes"]
            ]
            assert {tuple(sorted(o)) for o in message["outcomes"]} == {
                ("cap", "label", "odds", "outcome_id", "pool", "position", "share")
            }

    second = three["outcomes"][1]["outcome_id"]
    wager = rpc(
        bettor, "place_wager", {"market_id": three["id"], "outcome_id": second, "stake": 1250}
    )
    version = market_version(live_database, three["id"])
    quotes = http_a.get(
        "/rest/v1/outcomes",
        params={"market_id": f"eq.{three['id']}", "order": "position"},
        headers={"apikey": node_a.anon_key},
    ).json()
    for socket in (watcher, own):
        update = socket.expect("odds_update", market_id=three["id"], version=version)
        assert update["total_volume"] == 12.5
        assert update["outcomes"] == [
            {
                "outcome_id": q["id"],
                "position": q["position"],
                "odds": q["odds"],
                "cap": q["cap"] / 100,
                "pool": q["pool"] / 100,
                "share": q["share"],
            }
            for q in quotes
        ]
    assert own.expect("bet_confirmed", market_id=three["id"]) == {
        "opcode": "bet_confirmed",
        "market_id": three["id"],
        "outcome_id": second,
        "position": 2,
        "amount": 12.5,
        "odd": wager["odds"],
        "bet_id": wager["wager_id"],
    }

    rpc(
        bettor,
        "place_wager",
        {"market_id": pool["id"], "outcome_id": pool["outcomes"][0]["outcome_id"], "stake": 500},
    )
    update = watcher.expect("odds_update", market_id=pool["id"])
    assert [o["cap"] for o in update["outcomes"]] == [None, None]
    assert [o["pool"] for o in update["outcomes"]] == [5.0, 0.0]
    confirmed = own.expect("bet_confirmed", market_id=pool["id"])
    assert confirmed["position"] == 1 and confirmed["amount"] == 5.0

    rpc(boss, "void_market", {"market_id": pool["id"], "reason": "called off"})
    voided = market_version(live_database, pool["id"])
    for socket in (watcher, own):
        assert socket.expect("game_voided", market_id=pool["id"]) == {
            "opcode": "game_voided",
            "market_id": pool["id"],
            "kind": "parimutuel",
            "version": voided,
        }
    seq = wallet_version(live_database, bettor.id)
    refund = own.expect("balance_update", balance_seq=seq)
    assert refund["game_id"] == pool["id"] and refund["balance"] == bettor.balance()

    rpc(boss, "settle_market", {"market_id": three["id"], "outcome_id": second})
    settled = market_version(live_database, three["id"])
    for socket in (watcher, own):
        closed = socket.expect("betting_closed", market_id=three["id"])
        assert closed["version"] < settled
        assert socket.expect("game_result", market_id=three["id"]) == {
            "opcode": "game_result",
            "market_id": three["id"],
            "kind": "fixed_odds",
            "winning_outcome_id": second,
            "winning_position": 2,
            "version": settled,
        }


# Timeouts and backpressure -----------------------------------------------------------------------


@pytest.fixture
def impatient_node(
    live_database: str, secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Node]:
    monkeypatch.setenv(IDLE_ENV, "2")
    yield from _node(live_database, secret, tmp_path / "impatient.log")


def test_a_socket_that_says_nothing_for_the_idle_timeout_is_closed(
    impatient_node: Node, http_a: httpx.Client, sockets: Callable[[Node, str], Socket]
) -> None:
    socket = sockets(impatient_node, "quiet")
    assert socket.authenticate(player(http_a).token)["opcode"] == "authenticated"
    assert socket.closed(timeout=60) == (1000, "idle timeout")


def test_a_socket_whose_mailbox_overflows_is_closed_with_try_again_later() -> None:
    """In process: the hub fills a socket's mailbox before its writer runs even once."""

    async def scenario() -> list[dict[str, Any]]:
        hub = Hub("postgresql://unused")
        app = Litestar(
            route_handlers=[betmarket_ws],
            state=State({"hub": hub, "tokens": Tokens(new_secret()), "db": None}),
        )
        incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sent: list[dict[str, Any]] = []
        accepted, closed = asyncio.Event(), asyncio.Event()

        async def receive() -> dict[str, Any]:
            return await incoming.get()

        async def send(message: Any) -> None:
            sent.append(message)
            if message["type"] == "websocket.accept":
                accepted.set()
            if message["type"] == "websocket.close":
                closed.set()

        scope: Any = {
            "type": "websocket",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": "/ws",
            "raw_path": b"/ws",
            "query_string": b"",
            "headers": [],
            "subprotocols": [],
            "state": {},
        }
        await incoming.put({"type": "websocket.connect"})
        served = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
        await asyncio.wait_for(accepted.wait(), WAIT)
        assert hub.sockets == 1
        for n in range(MAILBOX_LIMIT + 1):
            hub.publish(Event("market", {"type": "closed", "market_id": n, "version": 2}))
        await asyncio.wait_for(closed.wait(), WAIT)
        assert hub.sockets == 0
        await incoming.put({"type": "websocket.disconnect", "code": 1013})
        await asyncio.wait_for(served, WAIT)
        return sent

    sent = asyncio.run(scenario())
    assert sent[-1]["type"] == "websocket.close"
    assert sent[-1]["code"] == 1013
    assert len(sent) < MAILBOX_LIMIT


# balance_seq under concurrency -------------------------------------------------------------------


class Recorder(threading.Thread):
    """Reads one socket into `messages` until told to stop."""

    def __init__(self, socket: Socket) -> None:
        super().__init__(daemon=True)
        self.socket = socket
        self.messages: list[Message] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    raw = self.socket.conn.recv(timeout=0.2)
                except TimeoutError:
                    continue
                self.messages.append(json.loads(raw))
        except BaseException as exc:
            self.error = exc

    def seqs(self) -> list[int]:
        return [m["balance_seq"] for m in list(self.messages) if m["opcode"] == "balance_update"]


def test_balance_seq_strictly_increases_per_user_under_16_concurrent_bettors(
    node_a: Node,
    node_b: Node,
    http_a: httpx.Client,
    boss: User,
    live_database: str,
    sockets: Callable[[Node, str], Socket],
    marker: Marker,
) -> None:
    users = [player(http_a, f"crowd{n}") for n in range(4)]
    games = [boss.new_game("Crowd one"), boss.new_game("Crowd two")]
    opened = {
        (user.id, node.port): sockets(node, f"{user.name} on {node.port}")
        for user in users
        for node in (node_a, node_b)
    }
    # the sign-up grants' balance_updates have passed both nodes: none arrives once signed in
    marker(*opened.values())
    recorders: dict[str, list[Recorder]] = {}
    for user in users:
        for node in (node_a, node_b):
            socket = opened[user.id, node.port]
            assert socket.authenticate(user.token)["opcode"] == "authenticated"
            recorders.setdefault(user.id, []).append(Recorder(socket))
    started_at = {user.id: wallet_version(live_database, user.id) for user in users}
    for recorder in (r for rs in recorders.values() for r in rs):
        recorder.start()

    threads, bets_each = 16, 5
    barrier = threading.Barrier(threads)
    failures: list[str] = []

    def bettor(n: int) -> None:
        user = users[n % len(users)]
        node = (node_a, node_b)[(n // len(users)) % 2]
        with client(node.url) as http:
            mine = User(http, user.name, user.id, user.token)
            barrier.wait()
            for k in range(bets_each):
                for _ in range(50):
                    answer = mine.bet(games[(n + k) % 2], 1, ("opt1", "opt2")[k % 2])
                    if answer.status_code != 409:
                        break
                if answer.status_code != 201:
                    failures.append(answer.text)

    workers = [threading.Thread(target=bettor, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures

    for user in users:
        ((account_id, final),) = query(
            live_database,
            "select id, version from app.accounts where user_id = %s and kind = 'user'",
            [user.id],
        )
        went_through = [
            version
            for (version,) in query(
                live_database,
                "select account_version from app.ledger_entries"
                " where account_id = %s and account_version > %s order by account_version",
                [account_id, started_at[user.id]],
            )
        ]
        assert len(went_through) == threads // len(users) * bets_each
        assert went_through[-1] == final
        for recorder in recorders[user.id]:
            deadline = time.monotonic() + 30
            while final not in recorder.seqs() and time.monotonic() < deadline:
                assert recorder.error is None, recorder.error
                time.sleep(0.05)
            recorder.stop.set()
            recorder.join()
            assert recorder.error is None, recorder.error
            seqs = recorder.seqs()
            assert all(a < b for a, b in itertools.pairwise(seqs)), seqs
            assert seqs == went_through, (recorder.socket.name, seqs, went_through)
