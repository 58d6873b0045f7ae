"""A node of several worker processes (`wagerbase serve --workers`, server.py): every surface is
served, connections are shared among the workers, each holds its share of the node's limits, every
worker's sockets get every live message, and the node's process outlives no worker and no worker
outlives it.

Which worker serves a connection is the kernel's choice (the first to accept it), so the tests
open connections until each worker has some, asking /health (which says which worker answered)
on new connections; waits are generous and never asserted.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.api.betmarket_client import (
    PASSWORD,
    User,
    admin,
    client,
    market_version,
    register,
    wallet_version,
)
from tests.pgserver import PgServer
from tests.serving import REPO, Node, free_port, new_secret, serving
from wagerbase.limits import Lanes

WAIT = 30.0  # seconds to wait for what must come; never an assertion on speed
WORKERS = 2
MOST_SOCKETS = 60  # sockets opened at most to reach every worker (each lands on one at random)
Message = dict[str, Any]


@pytest.fixture(scope="module")
def database(pg_server: PgServer, template_db: str) -> Iterator[str]:
    with pg_server.database_from(template_db, "wb_workers") as url:
        yield url


@pytest.fixture(scope="module")
def node(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    log = tmp_path_factory.mktemp("workers") / "serve.log"
    with serving(Node(database, new_secret(), log, workers=WORKERS)) as started:
        yield started


def per_worker(url: str, workers: int = WORKERS, attempts: int = 400) -> dict[int, Message]:
    """Each worker's /health, asked on new connections until every worker answered."""
    found: dict[int, Message] = {}
    for _ in range(attempts):
        answer = httpx.get(f"{url}/health", timeout=WAIT)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found[body["worker"]["pid"]] = body
        if len(found) >= workers:
            return found
    raise AssertionError(f"only workers {sorted(found)} answered {attempts} requests")


def sockets_of(url: str) -> dict[int, int]:
    return {pid: body["live"]["sockets"] for pid, body in per_worker(url).items()}


def on_every_worker(node: Node, open_one: Callable[[], Any]) -> list[Any]:
    """Open sockets with `open_one` (which returns once the node counts it) until every worker
    holds at least one of them; the sockets opened."""
    before = sockets_of(node.url)
    opened: list[Any] = []
    reached: set[int] = set()
    while len(reached) < WORKERS:
        assert len(opened) < MOST_SOCKETS, f"{len(opened)} sockets all on workers {reached}"
        opened.append(open_one())
        after = sockets_of(node.url)
        reached |= {pid for pid, count in after.items() if count > before.get(pid, 0)}
        before = after
    return opened


class BetMarketSocket:
    """A /ws client that keeps what it received."""

    def __init__(self, node: Node) -> None:
        self.conn: ClientConnection = connect(node.ws_url, open_timeout=WAIT, close_timeout=5)
        self.seen: list[Message] = []

    def expect(self, opcode: str, **fields: Any) -> Message:
        deadline = time.monotonic() + WAIT
        while True:
            for message in self.seen:
                if message.get("opcode") == opcode and all(
                    message.get(k) == v for k, v in fields.items()
                ):
                    return message
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {opcode} {fields}; received {self.seen}")
            self.seen.append(json.loads(self.conn.recv(timeout=remaining)))


class RealtimeSocket:
    """A Supabase Realtime client (Phoenix frames, serializer 1.0.0) that keeps what it received."""

    def __init__(self, node: Node) -> None:
        url = node.ws_url.removesuffix("/ws") + "/realtime/v1/websocket"
        self.conn = connect(
            f"{url}?apikey={node.anon_key}&vsn=1.0.0", open_timeout=WAIT, close_timeout=5
        )
        self.seen: list[Message] = []

    def expect(self, matches: Callable[[Message], bool], what: str) -> Message:
        deadline = time.monotonic() + WAIT
        while True:
            for frame in self.seen:
                if matches(frame):
                    return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {what}; received {self.seen}")
            self.seen.append(json.loads(self.conn.recv(timeout=remaining)))

    def join(self, topic: str, token: str, bindings: list[Message]) -> Message:
        self.conn.send(
            json.dumps(
                {
                    "topic": topic,
                    "event": "phx_join",
                    "payload": {"access_token": token, "config": {"postgres_changes": bindings}},
                    "ref": "1",
                    "join_ref": "1",
                }
            )
        )
        return self.expect(lambda f: f["event"] == "phx_reply" and f["ref"] == "1", "a reply")


def odds_broadcast(market_id: int, version: int) -> Callable[[Message], bool]:
    """A matcher for the `odds` broadcast of this market at this version."""
    return lambda f: (
        f["event"] == "broadcast"
        and f["payload"]["event"] == "odds"
        and f["payload"]["payload"]["market_id"] == market_id
        and f["payload"]["payload"]["version"] == version
    )


def test_each_worker_answers_with_its_share_of_the_node_s_limits(node: Node) -> None:
    workers = per_worker(node.url)
    assert len(workers) == WORKERS
    node_lanes = Lanes()
    for pid, health in workers.items():
        assert health["worker"] == {"pid": pid, "workers": WORKERS}
        assert health["live"]["listening"] is True
        sizes = {lane: counts["size"] for lane, counts in health["pool"].items()}
        assert sizes == {
            "money": node_lanes.money // WORKERS,
            "server": node_lanes.server // WORKERS,
            "reads": node_lanes.reads // WORKERS,
            "live": node_lanes.live // WORKERS,
            "health": 1,
        }
        assert health["auth"]["threads"] == max(1, (os.cpu_count() or 1) // WORKERS)
    # the node's pools together hold no more than its settings (the health lane is per worker)
    total = sum(sum(counts["size"] for counts in h["pool"].values()) for h in workers.values())
    assert total == node_lanes.total - node_lanes.health + WORKERS * node_lanes.health


def test_a_node_of_two_workers_serves_every_surface_and_every_socket_hears_every_message(
    node: Node, database: str
) -> None:
    with client(node.url) as http:
        boss = admin(http, database)
        game = boss.new_game("Two workers, one book")
        player: User = register(http, "worker_player")
        player.deposit(100)
        # GoTrue and PostgREST, as supabase-js calls them
        signed_up = http.post(
            "/auth/v1/signup",
            json={"email": f"{player.name}@example.test", "password": PASSWORD},
            headers={"apikey": node.anon_key},
        )
        assert signed_up.status_code == 200, signed_up.text
        read = http.get(
            "/rest/v1/markets",
            params={"id": f"eq.{game}", "select": "id,title"},
            headers={"apikey": node.anon_key},
        )
        assert read.json() == [{"id": game, "title": "Two workers, one book"}]
        outcomes = http.get(
            "/rest/v1/outcomes",
            params={"market_id": f"eq.{game}", "select": "id", "order": "position"},
            headers={"apikey": node.anon_key},
        ).json()

        # sockets of both kinds on both workers, each counted by its worker before going on
        def betmarket() -> BetMarketSocket:
            socket = BetMarketSocket(node)
            socket.conn.send(json.dumps({"opcode": "authenticate", "token": player.token}))
            socket.expect("authenticated", user_id=player.id)
            return socket

        def realtime() -> RealtimeSocket:
            socket = RealtimeSocket(node)
            binding = {"event": "UPDATE", "schema": "public", "table": "outcomes"}
            joined = socket.join("realtime:markets", node.anon_key, [binding])
            assert joined["payload"]["status"] == "ok", joined
            return socket

        ws = on_every_worker(node, betmarket)
        rt = on_every_worker(node, realtime)
        try:
            # a wager through BetMarket's /api, one through PostgREST's RPC; the second only once
            # every socket has the first one's odds: a mailbox keeps only the latest odds of a
            # market still waiting, so two odds read by the hub together would reach it as one
            assert player.bet(game, 5.0, "opt1").status_code == 201
            first = market_version(database, game)
            for socket in ws:
                socket.expect("odds_update", game_id=game, version=first)
            for socket in rt:
                socket.expect(odds_broadcast(game, first), f"the odds broadcast of version {first}")
            rpc = http.post(
                "/rest/v1/rpc/place_wager",
                json={"market_id": game, "outcome_id": outcomes[1]["id"], "stake": 300},
                headers={"apikey": node.anon_key, **player.headers},
            )
            assert rpc.status_code == 200, rpc.text
            second = market_version(database, game)
            assert second > first
            # the wallet after both wagers: a balance_update of the deposit, committed before the
            # sockets signed in, may still reach them (the hub reads a little behind the commits)
            wallet = wallet_version(database, player.id)

            for socket in ws:
                socket.expect("odds_update", game_id=game, version=second)
                socket.expect("bet_confirmed", game_id=game, amount=5.0)
                socket.expect("balance_update", user_id=player.id, balance_seq=wallet)
            for socket in rt:
                socket.expect(
                    odds_broadcast(game, second), f"the odds broadcast of version {second}"
                )
                socket.expect(
                    lambda f: (
                        f["event"] == "postgres_changes"
                        and f["payload"]["data"]["table"] == "outcomes"
                        and f["payload"]["data"]["record"]["market_id"] == game
                    ),
                    "an outcomes change",
                )
        finally:
            for socket in [*ws, *rt]:
                socket.conn.close()


def _serve(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "wagerbase.operations.cli", "serve", "--port", str(port)]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*command, "--workers", str(WORKERS)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not done():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def _workers_of(process: subprocess.Popen[bytes]) -> set[int]:
    """The node's live workers: the children of its process that run the app (not
    multiprocessing's resource tracker, nor a dead worker not yet reaped)."""
    found = set()
    for child in psutil.Process(process.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:  # gone, or a zombie
            continue
    return found


def _gone(pids: set[int]) -> bool:
    """Whether none of these processes runs any more (a zombie has stopped running)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def test_the_node_outlives_its_workers_and_no_worker_outlives_the_node(tmp_path: Path) -> None:
    """On an embedded PostgreSQL of the node's own: a worker that dies is replaced and the node
    serves on; SIGTERM stops every worker, then the database; a worker whose node was killed
    stops by itself."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "WAGERBASE_"))},
        "WAGERBASE_DATA_DIR": str(tmp_path / "data"),
        "WAGERBASE_JWT_SECRET": new_secret(),
    }
    status = [sys.executable, "-m", "wagerbase.operations.cli", "db", "status"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    node = _serve(env, tmp_path / "serve.log", port)
    try:
        _until(lambda: _healthy(url), "the node answers")
        first = set(per_worker(url))
        assert first == _workers_of(node)

        killed = sorted(first)[0]
        os.kill(killed, signal.SIGKILL)
        _until(lambda: len(_workers_of(node) - first) == 1, "a new worker replaces the dead one")
        replaced = set(per_worker(url))
        assert killed not in replaced and len(replaced) == WORKERS
        assert subprocess.run(status, env=env, cwd=REPO).returncode == 0  # the database runs on

        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=60) == 0
        assert _gone(replaced)
        assert subprocess.run(status, env=env, cwd=REPO).returncode == 3  # stopped, by the node

        node = _serve(env, tmp_path / "serve.log", port)
        _until(lambda: _healthy(url), "the node answers again")
        orphans = _workers_of(node)
        assert len(orphans) == WORKERS
        node.kill()
        node.wait()
        _until(lambda: _gone(orphans), "the workers of a killed node stop")
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
        subprocess.run([*status[:-1], "stop"], env=env, cwd=REPO, capture_output=True)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
