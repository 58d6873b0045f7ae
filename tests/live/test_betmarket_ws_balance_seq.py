"""BetMarket's /ws balance_seq (docs/live.md) strictly increases per user, on every socket of that
user on both `serve` nodes, under sixteen concurrent bettors, and is exactly the wallet's versions
the ledger went through.

Waits are generous and never asserted. A socket that must NOT receive something is checked with a
marker: after the event, a bet on a separate marker game commits, and its public `odds_update`
reaches every socket through the same hub after everything committed before it. Once a socket
has the marker, a message it was not sent before will never come. The two nodes, the sockets and
the marker are fixtures of tests/live/conftest.py.
"""

import itertools
import json
import threading
import time
from collections.abc import Callable

import httpx

from tests.api.betmarket_client import User, client, query, wallet_version
from tests.live.betmarket import Marker, player
from tests.live.sockets import Message, Socket
from tests.serving import Node

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
