"""Connection strings: change the database of one, turn one into libpq environment variables."""

from urllib.parse import quote, urlsplit, urlunsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

# libpq connection keywords and the environment variable each one reads as its default.
_ENV_VARS = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "require_auth": "PGREQUIREAUTH",
    "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "client_encoding": "PGCLIENTENCODING",
    "sslmode": "PGSSLMODE",
    "sslnegotiation": "PGSSLNEGOTIATION",
    "sslcompression": "PGSSLCOMPRESSION",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR",
    "sslsni": "PGSSLSNI",
    "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
    "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "gssdelegation": "PGGSSDELEGATION",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
}


def _is_url(conninfo: str) -> bool:
    return conninfo.startswith(("postgresql://", "postgres://"))


def with_dbname(conninfo: str, dbname: str) -> str:
    """The same connection string pointing at another database (a URL stays a URL)."""
    if _is_url(conninfo):
        parts = urlsplit(conninfo)
        return urlunsplit(parts._replace(path="/" + quote(dbname, safe="")))
    return make_conninfo(conninfo, dbname=dbname)


def dbname_of(conninfo: str) -> str | None:
    """The database a connection string names, if it names one."""
    return conninfo_to_dict(conninfo).get("dbname")  # type: ignore[return-value]


def libpq_env(conninfo: str) -> dict[str, str]:
    """PG* environment variables that make libpq tools (psql, pg_dump) connect like `conninfo`."""
    env: dict[str, str] = {}
    for key, value in conninfo_to_dict(conninfo).items():
        if value is None:
            continue
        var = _ENV_VARS.get(key)
        if var is None:
            raise ValueError(f"connection parameter {key!r} has no libpq environment variable")
        env[var] = str(value)
    return env


def redact(conninfo: str) -> str:
    """The connection string with its password hidden, for printing."""
    if _is_url(conninfo):
        parts = urlsplit(conninfo)
        if parts.password is None:
            return conninfo
        userinfo, _, hosts = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
    params = conninfo_to_dict(conninfo)
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)
