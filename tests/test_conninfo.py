"""Connection string helpers."""

import pytest
from psycopg.conninfo import conninfo_to_dict

from wagerbase.conninfo import for_component, hosts_of, libpq_env, redact, with_dbname

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


MULTI_URL = "postgresql://app:s3cret@10.0.0.1:5432,10.0.0.2:5433/wagerbase?connect_timeout=2"
MULTI_KV = "host=10.0.0.1,10.0.0.2 port=5432,5433 dbname=wagerbase user=app password=s3cret"


def test_with_dbname_keeps_every_host_of_a_multi_host_string() -> None:
    assert with_dbname(MULTI_URL, "other") == (
        "postgresql://app:s3cret@10.0.0.1:5432,10.0.0.2:5433/other?connect_timeout=2"
    )
    moved = conninfo_to_dict(with_dbname(MULTI_KV, "other"))
    assert (moved["host"], moved["port"], moved["dbname"]) == (
        "10.0.0.1,10.0.0.2",
        "5432,5433",
        "other",
    )
    # a URL naming its database as a parameter keeps it a parameter, the one libpq reads
    named = "postgresql://h1,h2/?dbname=wagerbase&target_session_attrs=read-write"
    assert conninfo_to_dict(with_dbname(named, "other"))["dbname"] == "other"
    assert with_dbname(named, "other").endswith("dbname=other&target_session_attrs=read-write")


def test_redact_hides_the_password_of_a_multi_host_string() -> None:
    assert redact(MULTI_URL) == (
        "postgresql://app:***@10.0.0.1:5432,10.0.0.2:5433/wagerbase?connect_timeout=2"
    )
    assert "s3cret" not in redact(MULTI_KV)
    assert conninfo_to_dict(redact(MULTI_KV))["host"] == "10.0.0.1,10.0.0.2"
    # libpq reads a password parameter of a URL too (it wins over the user part)
    hidden = redact("postgresql://app@h1,h2/wagerbase?password=s3cret&sslmode=disable")
    assert "s3cret" not in hidden
    assert hidden == "postgresql://app@h1,h2/wagerbase?password=***&sslmode=disable"


def test_hosts_of_lists_every_host_in_order() -> None:
    assert hosts_of(MULTI_URL) == ["10.0.0.1", "10.0.0.2"]
    assert hosts_of(MULTI_KV) == ["10.0.0.1", "10.0.0.2"]
    assert hosts_of(URL) == ["127.0.0.1"]


def test_every_component_reaches_the_primary_of_several_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PGTARGETSESSIONATTRS", raising=False)
    monkeypatch.delenv("PGAPPNAME", raising=False)
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    for given in (MULTI_URL, MULTI_KV):
        params = conninfo_to_dict(for_component(given, "wagerbase hub"))
        assert params["target_session_attrs"] == "read-write"
        assert params["host"] == "10.0.0.1,10.0.0.2"
        assert params["application_name"] == "wagerbase hub"
        assert (params["keepalives"], params["tcp_user_timeout"]) == ("1", "10000")
        assert params["password"] == "s3cret"
    # one host: no target needed; the string's own settings always win
    single = conninfo_to_dict(for_component(URL, "wagerbase api"))
    assert "target_session_attrs" not in single
    assert single["connect_timeout"] == "5"
    assert conninfo_to_dict(for_component(MULTI_URL, "x"))["connect_timeout"] == "2"
    chosen = MULTI_KV + " target_session_attrs=primary application_name=mine"
    params = conninfo_to_dict(for_component(chosen, "wagerbase api"))
    assert (params["target_session_attrs"], params["application_name"]) == ("primary", "mine")
    # and so does the environment libpq reads
    monkeypatch.setenv("PGTARGETSESSIONATTRS", "primary")
    assert "target_session_attrs" not in conninfo_to_dict(for_component(MULTI_KV, "x"))
