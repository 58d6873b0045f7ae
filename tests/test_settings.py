"""Settings from the environment."""

import os
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from wagerbase import hashing, settings
from wagerbase.authenticator import derived_password
from wagerbase.limits import Limits


def test_database_url_wins_and_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/x")
    monkeypatch.setenv("WAGERBASE_DATA_DIR", str(tmp_path / "data"))

    assert settings.database_url() == "postgresql://u:p@db.example:5432/x"
    assert not (tmp_path / "data").exists()


def test_jwt_secret_from_env_or_generated_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("WAGERBASE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WAGERBASE_JWT_SECRET", "from-env")
    assert settings.jwt_secret() == "from-env"

    monkeypatch.delenv("WAGERBASE_JWT_SECRET")
    generated = settings.jwt_secret()

    assert len(generated) >= 32
    assert settings.jwt_secret() == generated
    assert (tmp_path / "data" / "jwt-secret").stat().st_mode & 0o777 == 0o600


def test_the_api_logs_in_as_authenticator_unless_given_a_login_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = "postgresql://owner:owner-pw@db1:5432,db2:5433/wb?sslmode=require"
    for name in ("WAGERBASE_API_DATABASE_URL", "WAGERBASE_AUTHENTICATOR_PASSWORD"):
        monkeypatch.delenv(name, raising=False)

    derived = settings.api_login(owner, "the-jwt-secret")
    params = conninfo_to_dict(derived.url)
    assert (params["user"], params["password"]) == ("authenticator", derived.password)
    assert derived.password == derived_password("the-jwt-secret")
    assert (params["host"], params["port"], params["dbname"]) == ("db1,db2", "5432,5433", "wb")
    assert params["sslmode"] == "require"

    monkeypatch.setenv("WAGERBASE_AUTHENTICATOR_PASSWORD", "set-by-the-operator")
    given = settings.api_login(owner, "the-jwt-secret")
    assert given.password == "set-by-the-operator"
    assert conninfo_to_dict(given.url)["password"] == "set-by-the-operator"

    monkeypatch.setenv("WAGERBASE_API_DATABASE_URL", "postgresql://api:pw@pooler:6543/wb")
    explicit = settings.api_login(owner, "the-jwt-secret")
    assert explicit.url == "postgresql://api:pw@pooler:6543/wb"
    assert explicit.password is None  # never set by serve


def test_the_derived_password_follows_the_secret_and_shows_none_of_it() -> None:
    first = derived_password("secret one")
    assert first == derived_password("secret one")
    assert first != derived_password("secret two")
    assert len(first) == 43 and "secret" not in first
    assert first.replace("-", "").replace("_", "").isalnum()


def test_limits_from_env_or_their_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WAGERBASE_MAX_ROWS", "WAGERBASE_HEADER_TIMEOUT", "WAGERBASE_BODY_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    assert (settings.max_rows(), settings.header_timeout(), settings.body_timeout()) == (
        1000,
        10.0,
        30.0,
    )

    monkeypatch.setenv("WAGERBASE_MAX_ROWS", "250")
    monkeypatch.setenv("WAGERBASE_HEADER_TIMEOUT", "2.5")
    monkeypatch.setenv("WAGERBASE_BODY_TIMEOUT", "60")
    assert (settings.max_rows(), settings.header_timeout(), settings.body_timeout()) == (
        250,
        2.5,
        60.0,
    )

    # nonsense falls back to the default: a cap must be a whole number of rows, a timeout above 0
    for rows, seconds in (("0", "0"), ("-5", "-1"), ("1e3", "nan"), ("ten", "soon"), (" ", "")):
        monkeypatch.setenv("WAGERBASE_MAX_ROWS", rows)
        monkeypatch.setenv("WAGERBASE_HEADER_TIMEOUT", seconds)
        monkeypatch.setenv("WAGERBASE_BODY_TIMEOUT", seconds)
        assert (settings.max_rows(), settings.header_timeout(), settings.body_timeout()) == (
            1000,
            10.0,
            30.0,
        ), (rows, seconds)


def test_workers_from_env_or_the_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAGERBASE_WORKERS", raising=False)
    assert settings.workers() == (os.cpu_count() or 1)
    monkeypatch.setenv("WAGERBASE_WORKERS", "3")
    assert settings.workers() == 3
    for nonsense in ("0", "-2", "1.5", "two", " "):
        monkeypatch.setenv("WAGERBASE_WORKERS", nonsense)
        assert settings.workers() == (os.cpu_count() or 1), nonsense


def test_compression_on_the_sockets_is_off_unless_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WAGERBASE_WS_COMPRESSION", raising=False)
    assert settings.ws_compression() is False
    for on in ("on", "1", "TRUE", " yes "):
        monkeypatch.setenv("WAGERBASE_WS_COMPRESSION", on)
        assert settings.ws_compression() is True, on
    for off in ("off", "0", "no", "deflate"):
        monkeypatch.setenv("WAGERBASE_WS_COMPRESSION", off)
        assert settings.ws_compression() is False, off


def test_each_worker_holds_its_share_of_every_per_node_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAGERBASE_POOL_READS", "7")
    monkeypatch.setenv("WAGERBASE_CLIENT_SOCKETS", "1")
    node = Limits.from_environment()
    assert node.shared_by(1) is node

    worker = node.shared_by(2)
    assert worker.workers == 2
    lanes, sockets = worker.lanes, worker.sockets
    # divided, rounded down, never below one
    assert (lanes.money, lanes.server, lanes.reads, lanes.live) == (2, 1, 3, 2)
    assert (lanes.anon_reads, lanes.client_reads) == (2, 1)
    assert (sockets.sockets, sockets.client_sockets, sockets.channels) == (500, 1, 2500)
    # not per node: the wait, a socket's bindings, the health lane
    assert (lanes.wait, sockets.socket_bindings, lanes.health) == (5.0, 100, 1)
    assert worker.setting("WAGERBASE_MAX_SOCKETS") == "WAGERBASE_MAX_SOCKETS shared by 2 workers"
    assert node.setting("WAGERBASE_MAX_SOCKETS") == "WAGERBASE_MAX_SOCKETS"

    monkeypatch.setenv("WAGERBASE_HASH_THREADS", "4")
    monkeypatch.delenv("WAGERBASE_HASH_QUEUE", raising=False)
    assert hashing.for_worker(1) == (4, 32)
    assert hashing.for_worker(3) == (1, 10)
    monkeypatch.setenv("WAGERBASE_HASH_QUEUE", "0")
    assert hashing.for_worker(2) == (2, 0)
