"""Settings from the environment."""

from pathlib import Path

import pytest

from wagerbase import settings


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
