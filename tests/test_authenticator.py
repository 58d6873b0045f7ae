"""How an API node gets its login (api/wagerbase/authenticator.py), each test on a cluster of its
own (roles belong to the whole cluster, and these tests change authenticator's password).

`wagerbase serve` as `scripts/serve` runs it (the embedded server, nothing configured) logs in as
authenticator with the password derived from the JWT secret, setting it the first time; a node
whose password already works sets nothing; nodes setting it at once all come up; an explicit
WAGERBASE_API_DATABASE_URL is used as it is and never changes a password.
"""

import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from tests.serving import Node, new_secret
from wagerbase.authenticator import ApiLogin, as_authenticator, derived_password, ensure_login
from wagerbase.conninfo import with_dbname
from wagerbase.operations.embedded import DATABASE, EmbeddedServer

SET_NOTE = "set the password of role authenticator"
NODES = 8


def forget_password(server: EmbeddedServer) -> None:
    with psycopg.connect(server.url, autocommit=True) as owner:
        owner.execute("alter role authenticator password null")


def can_log_in(server: EmbeddedServer, password: str) -> bool:
    try:
        psycopg.connect(as_authenticator(server.url, password)).close()
    except psycopg.OperationalError:
        return False
    return True


def api_users(server: EmbeddedServer) -> set[str]:
    with psycopg.connect(server.url, autocommit=True) as owner:
        rows = owner.execute(
            """select usename from pg_catalog.pg_stat_activity
               where datname = %s and application_name = 'wagerbase api'""",
            [DATABASE],
        ).fetchall()
    return {user for (user,) in rows}


def test_serve_with_nothing_configured_logs_in_with_the_password_of_its_secret(
    own_server: EmbeddedServer, tmp_path: Path
) -> None:
    node = Node(
        own_server.url,
        own_server.jwt_secret(),
        tmp_path / "serve.log",
        env={  # as scripts/serve: the embedded server of the data folder, its kept secret
            "DATABASE_URL": "",
            "WAGERBASE_DATA_DIR": str(own_server.data_dir),
            "WAGERBASE_JWT_SECRET": "",
            "WAGERBASE_AUTHENTICATOR_PASSWORD": "",
        },
    ).start()
    try:
        assert api_users(own_server) == {"authenticator"}
        assert SET_NOTE in node.log_tail()
        assert can_log_in(own_server, derived_password(own_server.jwt_secret()))
    finally:
        node.stop()

    again = Node(own_server.url, own_server.jwt_secret(), tmp_path / "again.log", env=node.env)
    again.start()
    try:  # the password works already: nothing is set
        assert api_users(own_server) == {"authenticator"}
        assert SET_NOTE not in again.log_tail()
    finally:
        again.stop()


def test_nodes_setting_the_password_at_once_all_log_in(own_server: EmbeddedServer) -> None:
    """Concurrent `alter role` of one role fails with 'tuple concurrently updated' (XX000) in
    PostgreSQL; each node retries, and every one comes up."""
    password = derived_password(new_secret())
    login = ApiLogin(as_authenticator(own_server.url, password), password)
    for _ in range(3):
        forget_password(own_server)
        assert all_at_once(NODES, lambda: ensure_login(own_server.url, login)) == []
        assert can_log_in(own_server, password)
    assert ensure_login(own_server.url, login) is False  # works now: nothing to set


def all_at_once(count: int, call: Callable[[], object]) -> list[BaseException]:
    """`call` in `count` threads released together; what they raised."""
    barrier = threading.Barrier(count)
    failures: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            call()
        except BaseException as exc:  # returned to the test
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_an_explicit_api_login_is_used_as_it_is_and_never_changes_a_password(
    own_server: EmbeddedServer, tmp_path: Path
) -> None:
    secret = new_secret()
    kept = derived_password(secret)
    ensure_login(own_server.url, ApiLogin(as_authenticator(own_server.url, kept), kept))
    wrong = as_authenticator(with_dbname(own_server.url, DATABASE), "not-its-password")
    node = Node(
        own_server.url,
        secret,
        tmp_path / "serve.log",
        env={"WAGERBASE_API_DATABASE_URL": wrong, "WAGERBASE_AUTHENTICATOR_PASSWORD": ""},
    )
    with pytest.raises(RuntimeError, match="cannot log in with WAGERBASE_API_DATABASE_URL"):
        node.start()
    assert can_log_in(own_server, kept)
    assert not can_log_in(own_server, "not-its-password")
