"""Settings from the environment."""

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from wagerbase import settings
from wagerbase.authenticator import derived_password


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
