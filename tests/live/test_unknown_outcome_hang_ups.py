"""A commit is never cancelled: not when the client hangs up during it, not when the node is stopped
during it (it waits for the call at shutdown), and a cancelled statement closes its connection
instead of sending a CancelRequest.

A real `wagerbase serve` node talks to PostgreSQL through tests/faultproxy.py, which cuts the
connection of one chosen transaction right after forwarding its COMMIT (it committed, the node
never hears) or right before (it rolls back), holds a COMMIT, takes the database down, plays a
standby, and counts CancelRequest packets. The node resolves each call through its idempotency
key (the client's, or one it made), as docs/api.md "Unknown outcomes" says. What the tests look
at is in tests/live/outcomes.py; the proxied node (`proxied`) is a fixture of
tests/live/conftest.py.
"""

import asyncio
import json
import signal
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.api.betmarket_client import admin, client, query, register
from tests.faultproxy import FaultProxy, wait_until
from tests.live.outcomes import GRANT, WAIT, json_lines, log_lines, wagers, wallet
from tests.live.proxied import Proxied
from tests.pgserver import PgServer
from tests.serving import Node, new_secret
from wagerbase.database import Database


def test_a_client_that_hangs_up_during_the_commit_never_cancels_it(proxied: Proxied) -> None:
    bettor = register(proxied.http, "hangup")
    game = proxied.boss.new_game("Hung up during the commit?")
    cancels = proxied.proxy.cancel_requests

    held = proxied.proxy.arm("hold_commit", b"place_wager")
    body = json.dumps({"game_id": game, "amount": 3.0, "choice": "opt1"}).encode()
    request = (
        f"POST /api/bet HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bettor.token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", proxied.node.port), timeout=WAIT) as browser:
        browser.sendall(request)
        wait_until(held.fired.is_set, WAIT, "the COMMIT held in the proxy")
        browser.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # the browser is gone (reset); the commit is let through only now
    proxied.proxy.release(held)

    assert held.committed.wait(WAIT)

    def answered() -> list[dict[str, Any]]:
        return [
            r
            for r in json_lines(proxied.node)
            if r.get("path") == "/api/bet" and r.get("user_id") == bettor.id
        ]

    # the request ran to its end, for nobody: the bet placed
    wait_until(lambda: answered() != [], WAIT, "the request's end")
    assert [r["status"] for r in answered()] == [201]
    assert proxied.proxy.cancel_requests == cancels
    assert len(wagers(proxied.database, bettor.id)) == 1
    assert wallet(proxied.database, bettor.id)["balance"] == GRANT - 300
    assert wallet(proxied.database, bettor.id)["kinds"] == {"grant": 1, "stake": 1}


def test_a_node_stopped_during_a_commit_neither_cancels_nor_loses_it(
    pg_server: PgServer, template_db: str, tmp_path: Path
) -> None:
    """uvicorn cancels requests still running 10 s after SIGTERM; the money call goes on, the
    node waits for it at shutdown, and no CancelRequest ever reaches the database."""
    with pg_server.database_from(template_db, "wb_stop") as database:
        proxy = FaultProxy(database).start()
        node = Node(proxy.url(database), new_secret(), tmp_path / "serve.log").start()
        try:
            with client(node.url) as http:
                boss = admin(http, database)
                bettor = register(http, "late")
                game = boss.new_game("Placed while the node stops?")
                held = proxy.arm("hold_commit", b"place_wager")
                answers: list[httpx.Response | Exception] = []

                def bet() -> None:
                    try:
                        answers.append(bettor.bet(game, 4.0, "opt1"))
                    except httpx.HTTPError as exc:
                        answers.append(exc)

                thread = threading.Thread(target=bet)
                thread.start()
                wait_until(held.fired.is_set, WAIT, "the COMMIT held in the proxy")
                assert node.process is not None
                node.process.send_signal(signal.SIGTERM)
                wait_until(
                    lambda: "timeout graceful shutdown exceeded" in node.log_tail(),
                    WAIT,
                    "uvicorn to cancel the request",
                )
                wait_until(lambda: log_lines(node, "money_call_detached") != [], WAIT, "detach")
                proxy.release(held)
                assert held.committed.wait(WAIT)
                assert node.process.wait(timeout=WAIT) is not None
                thread.join(WAIT)
        finally:
            node.stop()
            proxy.stop()
        assert proxy.cancel_requests == 0
        assert [(m, stake) for m, stake, _ in wagers(database, bettor.id)] == [(game, 400)]
        assert wallet(database, bettor.id)["balance"] == GRANT - 400


def test_a_cancelled_statement_closes_its_connection_instead_of_cancelling(
    pg_server: PgServer, template_db: str
) -> None:
    """database.Connection against a plain psycopg connection, on a COMMIT held in the proxy:
    cancelling the task sends a CancelRequest from the plain one, never from ours."""
    with pg_server.database_from(template_db, "wb_cancel") as database:
        with psycopg.connect(database, autocommit=True) as setup:
            setup.execute("create table cancel_probe (kind text)")
        proxy = FaultProxy(database).start()
        try:

            async def commit_cancelled(kind: str) -> None:
                url = proxy.url(database)
                if kind == "ours":
                    conn: psycopg.AsyncConnection[Any] = await Database(url).connect("probe")
                else:
                    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
                held = proxy.arm("hold_commit", b"cancel_probe")

                async def write() -> None:
                    async with conn.transaction():
                        await conn.execute("insert into cancel_probe values (%s)", [kind])

                task = asyncio.create_task(write())
                while not held.fired.is_set():
                    await asyncio.sleep(0.05)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                proxy.release(held)
                assert await asyncio.to_thread(held.committed.wait, WAIT)
                await conn.close()

            asyncio.run(commit_cancelled("plain"))
            assert proxy.cancel_requests == 1  # the proxy sees what psycopg does by itself
            asyncio.run(commit_cancelled("ours"))
            assert proxy.cancel_requests == 1  # and ours sent none
        finally:
            proxy.stop()
        rows = query(database, "select kind from cancel_probe order by kind", [])
        assert rows == [("ours",), ("plain",)]  # both commits landed: held, never cancelled
