"""Settings, read from the environment.

- `DATABASE_URL`: the PostgreSQL to use. When set, the embedded server is never started.
- `WAGERBASE_DATA_DIR`: the embedded server's data folder (default `.wagerbase/` in the cwd).
- `WAGERBASE_JWT_SECRET`: the secret that signs JWTs. Unset, the one generated and kept in the
  data folder is used; API nodes sharing one database must all be given the same secret.

High availability (docs/api.md, "Unknown outcomes"):
- `DATABASE_URL` may name several hosts, as a URL (`postgresql://u:pw@h1:5432,h2:5432/db`) or
  in libpq's form (`host=h1,h2 port=5432,5432 dbname=db`). Every connection of the node (its
  pool, the live-update LISTEN, the scheduler, migrations at start) adds, where the string and
  its PG* variable say nothing: `target_session_attrs=read-write` when there are several hosts
  (so each reaches the primary), `connect_timeout=5`, TCP keepalives (`keepalives=1
  keepalives_idle=5 keepalives_interval=2 keepalives_count=3`), `tcp_user_timeout=10000`
  (milliseconds) and an `application_name` (`wagerbase api`, `wagerbase resolve`, `wagerbase
  hub`, `wagerbase scheduler`, `wagerbase side-effect worker`, `wagerbase migrate`).
- `WAGERBASE_OUTCOME_WINDOW` (seconds, default 10): how long a money call whose outcome is
  unknown (its connection died during COMMIT) is issued again with its idempotency key, with
  backoff, before the client gets a 503 naming the key. 0: at once. It should outlast a
  failover (2 to 5 s for a crashed primary with Patroni; about 20 s for a lost node).
- `WAGERBASE_DRAIN_SECONDS` (seconds, default 30): at shutdown, how long the node waits for money
  calls still in flight; then their connections are closed (never cancelled) and each is logged.

Abuse (docs/api.md, "Limits"; docs/operations.md):
- `WAGERBASE_TRUSTED_PROXIES`: comma-separated addresses and CIDR networks of the proxies in front
  of the node (none by default). A request from one of them is counted against the right-most
  address of X-Forwarded-For that is not one of them (http/client_address.py); any other request
  against its socket peer. A value that is not an address or a network stops the node at start.
- `WAGERBASE_HASH_THREADS` (default: the number of CPUs) and `WAGERBASE_HASH_QUEUE` (default 8 a
  thread): password hashes run at once, and waiting, before a sign-in or sign-up is refused with
  429 (hashing.py).
"""

import os
from pathlib import Path

from wagerbase import money_calls
from wagerbase.embedded import EmbeddedServer
from wagerbase.http.client_address import Network, parse_networks

DEFAULT_DATA_DIR = ".wagerbase"

_servers: dict[Path, EmbeddedServer] = {}


def external_database_url() -> str | None:
    """DATABASE_URL, or None when the embedded server is to be used."""
    return os.environ.get("DATABASE_URL") or None


def data_dir() -> Path:
    return Path(os.environ.get("WAGERBASE_DATA_DIR") or DEFAULT_DATA_DIR).expanduser().resolve()


def embedded_server() -> EmbeddedServer:
    """The embedded server of the configured data folder (one object per folder and process)."""
    folder = data_dir()
    if folder not in _servers:
        _servers[folder] = EmbeddedServer(folder)
    return _servers[folder]


def database_url() -> str:
    """DATABASE_URL if set; otherwise start the embedded server (if needed) and return its URL."""
    return external_database_url() or embedded_server().start()


def jwt_secret() -> str:
    return os.environ.get("WAGERBASE_JWT_SECRET") or embedded_server().jwt_secret()


def outcome_window() -> float:
    """WAGERBASE_OUTCOME_WINDOW in seconds (0 or more), else 10."""
    return _seconds("WAGERBASE_OUTCOME_WINDOW", money_calls.DEFAULT_WINDOW_SECONDS)


def drain_seconds() -> float:
    """WAGERBASE_DRAIN_SECONDS in seconds (0 or more), else 30."""
    return _seconds("WAGERBASE_DRAIN_SECONDS", money_calls.DEFAULT_DRAIN_SECONDS)


def trusted_proxies() -> tuple[Network, ...]:
    """WAGERBASE_TRUSTED_PROXIES as networks (none when unset). Raises ValueError."""
    return parse_networks(os.environ.get("WAGERBASE_TRUSTED_PROXIES", ""))


def _seconds(name: str, default: float) -> float:
    """A number of seconds from the environment; `default` when unset, not a number or below 0."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= 0 else default
