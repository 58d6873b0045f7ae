"""Unknown outcomes around a standby: a cancelled wait for the synchronous standby is an unknown
outcome resolved through the key, and a failover between the hosts of the connection string
resolves the wager on the new primary, where the hub and the next wager carry on.

A real `wagerbase serve` node talks to PostgreSQL through tests/faultproxy.py, which cuts the
connection of one chosen transaction right after forwarding its COMMIT (it committed, the node
never hears) or right before (it rolls back), holds a COMMIT, takes the database down, plays a
standby, and counts CancelRequest packets. The node resolves each call through its idempotency
key (the client's, or one it made), as docs/api.md "Unknown outcomes" says. What the tests look
at is in tests/live/outcomes.py; the proxied node (`proxied`) is a fixture of
tests/live/conftest.py.
"""

import threading
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psycopg
from psycopg.conninfo import make_conninfo

from tests.api.betmarket_client import admin, client, register
from tests.faultproxy import FaultProxy, wait_until
from tests.live.outcomes import GRANT, WAIT, counters, logged, until_not_503, wagers, wallet
from tests.live.sockets import Socket
from tests.pgserver import PgServer
from tests.serving import Node, new_secret
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.operations.migrate import migrate


def test_a_cancelled_wait_for_the_standby_is_an_unknown_outcome(tmp_path: Path) -> None:
    """An operator's pg_cancel_backend on a commit waiting for its synchronous standby makes the
    commit return with a WARNING: it committed here but maybe not on the standby. The node
    resolves it through the key, and the resolving call's own commit waits for the standby in
    turn: no answer comes until the (absent) standby's wait is lifted."""
    server = EmbeddedServer(tmp_path / "data")
    database = server.start()
    migrate(database)
    node = Node(database, new_secret(), tmp_path / "serve.log").start()
    try:
        with client(node.url) as http, psycopg.connect(database, autocommit=True) as dba:
            boss = admin(http, database)
            bettor = register(http, "synced")
            game = boss.new_game("Replicated?")
            key = f"bet-{uuid.uuid4()}"

            def waiting_for_standby(application: str) -> list[int]:
                rows = dba.execute(
                    "select pid from pg_stat_activity"
                    " where wait_event = 'SyncRep' and application_name = %s",
                    [application],
                ).fetchall()
                return [pid for (pid,) in rows]

            dba.execute("alter system set synchronous_standby_names = 'ghost'")
            dba.execute("select pg_reload_conf()")
            answers: list[httpx.Response] = []
            thread = threading.Thread(
                target=lambda: answers.append(
                    bettor.post(
                        "/api/bet",
                        {"game_id": game, "amount": 6.0, "choice": "opt1"},
                        headers={"Idempotency-Key": key},
                    )
                )
            )
            try:
                thread.start()
                wait_until(lambda: waiting_for_standby("wagerbase api") != [], WAIT, "SyncRep")
                [pid] = waiting_for_standby("wagerbase api")
                dba.execute("select pg_cancel_backend(%s)", [pid])
                # resolving: the same call with the same key, whose own commit waits too
                wait_until(lambda: waiting_for_standby("wagerbase resolve") != [], WAIT, "resolve")
                assert answers == []
            finally:
                dba.execute("alter system reset synchronous_standby_names")
                dba.execute("select pg_reload_conf()")
            thread.join(WAIT)
            [answer] = answers
            assert answer.status_code == 201, answer.text
            assert answer.headers["Idempotent-Replayed"] == "true"
            assert wagers(database, bettor.id) == [(game, 600, key)]
            money = counters(node)
            assert money["sync_rep_cancelled"] == 1
            assert money["resolved_replayed"] == 1
            [line] = logged(node, "unknown_outcome")
            assert (line["phase"], line["resolution"]) == ("sync_rep", "replayed")
    finally:
        node.stop()
        server.stop("immediate")


def test_a_failover_between_the_hosts_of_the_connection_string(
    pg_server: PgServer, template_db: str, tmp_path: Path
) -> None:
    """DATABASE_URL names two hosts: first one that plays a standby, then the primary. Every
    component of the node connects to the primary; when it dies mid-commit and the standby is
    promoted, the wager is resolved on the new primary, the hub reads the event stream there, and
    the next wager goes through. Both proxies lead to one server, so the hub's cursor is still good
    there: it catches up on what committed meanwhile (the severed wager) instead of resyncing (a
    real failover resyncs: tests/ha/test_failover.py)."""
    with pg_server.database_from(template_db, "wb_failover") as database:
        primary, standby = FaultProxy(database).start(), FaultProxy(database).start()
        standby.standby = True
        both = make_conninfo(
            database, host="127.0.0.1,127.0.0.1", port=f"{standby.port},{primary.port}"
        )
        node = Node(both, new_secret(), tmp_path / "serve.log").start()
        try:
            with client(node.url) as http:
                boss = admin(http, database)
                bettor = register(http, "failover")
                game = boss.new_game("Through a failover?")
                socket_ = Socket(node, "watcher")
                try:
                    assert bettor.bet(game, 5.0, "opt1").status_code == 201
                    socket_.expect("odds_update", game_id=game)
                    used = Counter(primary.sessions_used())
                    for component in ("api", "hub", "scheduler", "side-effect worker", "migrate"):
                        assert used[f"wagerbase {component}"] >= 1, used
                    assert standby.sessions_used() == []  # read-write: never the standby

                    def promote() -> None:
                        standby.standby = False

                    key = f"bet-{uuid.uuid4()}"
                    primary.arm("sever_after_commit", b"place_wager", then_down=True, then=promote)
                    answer = bettor.post(
                        "/api/bet",
                        {"game_id": game, "amount": 7.0, "choice": "opt1"},
                        headers={"Idempotency-Key": key},
                    )
                    assert answer.status_code == 201, answer.text
                    assert answer.headers["Idempotent-Replayed"] == "true"
                    assert "wagerbase resolve" in standby.sessions_used()

                    socket_.expect("odds_update", timeout=WAIT, game_id=game, total_volume=12.0)
                    again = until_not_503(lambda: bettor.bet(game, 2.0, "opt1"))
                    assert again.status_code == 201, again.text
                    socket_.expect("odds_update", game_id=game, total_volume=14.0)
                    assert {"wagerbase api", "wagerbase hub"} <= set(standby.sessions_used())
                    assert not [m for m in socket_.seen if m.get("opcode") == "resync"]
                finally:
                    socket_.close()
                stakes = sorted(stake for _, stake, _ in wagers(database, bettor.id))
                assert stakes == [200, 500, 700]
                assert wallet(database, bettor.id)["balance"] == GRANT - 1400
        finally:
            node.stop()
            primary.stop()
            standby.stop()
