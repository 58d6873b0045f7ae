"""Settings, read from the environment.

- `DATABASE_URL`: the PostgreSQL to use. When set, the embedded server is never started.
- `WAGERBASE_DATA_DIR`: the embedded server's data folder (default `.wagerbase/` in the cwd).
- `WAGERBASE_JWT_SECRET`: the secret that signs JWTs. Unset, the one generated and kept in the
  data folder is used; API nodes sharing one database must all be given the same secret.
"""

import os
from pathlib import Path

from wagerbase.embedded import EmbeddedServer

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
