"""Connection string helpers."""

import pytest

from wagerbase.conninfo import libpq_env, redact, with_dbname

URL = "postgresql://postgres:s3cret@127.0.0.1:5544/wagerbase?sslmode=disable"


def test_with_dbname_keeps_a_url_a_url() -> None:
    assert with_dbname(URL, "other") == (
        "postgresql://postgres:s3cret@127.0.0.1:5544/other?sslmode=disable"
    )
    assert "dbname=other" in with_dbname("host=h dbname=x", "other")


def test_libpq_env() -> None:
    assert libpq_env(URL) == {
        "PGHOST": "127.0.0.1",
        "PGPORT": "5544",
        "PGUSER": "postgres",
        "PGPASSWORD": "s3cret",
        "PGDATABASE": "wagerbase",
        "PGSSLMODE": "disable",
    }
    with pytest.raises(ValueError, match="keepalives"):
        libpq_env("host=h keepalives=1")


def test_redact_hides_the_password() -> None:
    assert redact(URL) == "postgresql://postgres:***@127.0.0.1:5544/wagerbase?sslmode=disable"
    assert "s3cret" not in redact("host=h password=s3cret")
