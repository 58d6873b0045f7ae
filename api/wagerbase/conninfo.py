"""Connection strings: change the database of one, turn one into libpq environment variables,
hide its password, and add what the API's own connections need (`for_component`).

A connection string is a URL (`postgresql://user:pw@h1:5432,h2:5432/db?...`) or libpq's
`key=value` form (`host=h1,h2 port=5432,5432 dbname=db ...`); both may name several hosts, as
a Patroni cluster is reached: libpq tries them in order and, with
`target_session_attrs=read-write`, keeps the first one that accepts writes (the primary).
"""

import os
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

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
    """The same connection string pointing at another database (a URL stays a URL, with all of
    its hosts)."""
    if _is_url(conninfo):
        parts = urlsplit(conninfo)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(key == "dbname" for key, _ in query):  # a dbname parameter wins over the path
            query = [(k, dbname if k == "dbname" else v) for k, v in query]
            return urlunsplit(parts._replace(query=urlencode(query, safe=",:/")))
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
    """The connection string with its password hidden, for printing (in a URL, the password of
    the user part and a `password` parameter)."""
    if _is_url(conninfo):
        parts = urlsplit(conninfo)
        if parts.password is not None:
            userinfo, _, hosts = parts.netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            parts = parts._replace(netloc=f"{user}:***@{hosts}")
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(key == "password" for key, _ in query):
            query = [(k, "***" if k == "password" else v) for k, v in query]
            parts = parts._replace(query=urlencode(query, safe=",:/*"))
        return urlunsplit(parts)
    params = conninfo_to_dict(conninfo)
    if "password" in params:
        params["password"] = "***"
    return make_conninfo("", **params)


def hosts_of(conninfo: str) -> list[str]:
    """The hosts a connection string names, in order (PGHOST when it names none; [] when
    neither does, for libpq's default socket)."""
    hosts = conninfo_to_dict(conninfo).get("host") or os.environ.get("PGHOST") or ""
    return [host for host in str(hosts).split(",") if host]


# What every connection of the API gets unless the connection string says otherwise: a bound on
# connecting (per host); TCP keepalives, so that an idle connection whose server vanished without
# a word (a node lost, a network cut) is noticed in about 11 s instead of the kernel's two hours;
# and tcp_user_timeout, so that one waiting for the acknowledgement of what it sent (a query, a
# COMMIT) is noticed in 10 s instead of the kernel's 15 minutes of retransmissions. Neither ever
# ends a connection whose server is alive, however long a statement (or a commit waiting for a
# synchronous standby) takes: the server's kernel answers the probes.
CONNECTION_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


def for_component(conninfo: str, application_name: str) -> str:
    """The connection string one component of the API connects with: `conninfo` plus
    CONNECTION_DEFAULTS, `application_name`, and `target_session_attrs=read-write` when it
    names several hosts (so that writes and the event stream's reads always reach the primary);
    each only where neither `conninfo` nor its PG* environment variable sets it already."""
    given = conninfo_to_dict(conninfo)

    def unset(key: str) -> bool:
        return key not in given and _ENV_VARS.get(key, "-") not in os.environ

    wanted = {**CONNECTION_DEFAULTS, "application_name": application_name}
    if len(hosts_of(conninfo)) > 1:
        wanted["target_session_attrs"] = "read-write"
    return make_conninfo(conninfo, **{k: v for k, v in wanted.items() if unset(k)})
