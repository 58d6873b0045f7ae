"""Settings, read from the environment.

- `DATABASE_URL`: the PostgreSQL to use. When set, the embedded server is never started.
- `WAGERBASE_DATA_DIR`: the embedded server's data folder (default `.wagerbase/` in the cwd).
- `WAGERBASE_JWT_SECRET`: the secret that signs JWTs. Unset, the one generated and kept in the
  data folder is used; API nodes sharing one database must all be given the same secret.

The API's login (authenticator.py): DATABASE_URL's role owns the schema and is used only to
migrate and by the commands that administer; an API node's connections log in as the role
`authenticator`, which can do nothing but switch to a caller's role and call schema `server`.
- `WAGERBASE_API_DATABASE_URL`: the connection string the node uses, as it is (its role needs
  what authenticator has); `wagerbase serve` never changes a password then.
- Otherwise the node uses DATABASE_URL with user `authenticator` and the password
  `WAGERBASE_AUTHENTICATOR_PASSWORD`, or, unset, one derived from the JWT secret; `wagerbase
  serve` sets the role's password when logging in with it fails.

High availability (docs/api.md, "Unknown outcomes"):
- `DATABASE_URL` may name several hosts, as a URL (`postgresql://u:pw@h1:5432,h2:5432/db`) or
  in libpq's form (`host=h1,h2 port=5432,5432 dbname=db`). Every connection of the node (its
  pool, the live-update hub, the scheduler, migrations at start) adds, where the string and
  its PG* variable say nothing: `target_session_attrs=read-write` when there are several hosts
  (so each reaches the primary), `connect_timeout=5`, TCP keepalives (`keepalives=1
  keepalives_idle=5 keepalives_interval=2 keepalives_count=3`), `tcp_user_timeout=10000`
  (milliseconds) and an `application_name` (`wagerbase api`, `wagerbase resolve`, `wagerbase
  hub`, `wagerbase scheduler`, `wagerbase side-effect worker`, all as authenticator;
  `wagerbase migrate` as DATABASE_URL's role; `wagerbase login` for serve's check of the login
  at start). WAGERBASE_API_DATABASE_URL may name
  several hosts in the same way.
- `WAGERBASE_OUTCOME_WINDOW` (seconds, default 10): how long a money call whose outcome is
  unknown (its connection died during COMMIT) is issued again with its idempotency key, with
  backoff, before the client gets a 503 naming the key. 0: at once. It should outlast a
  failover (2 to 5 s for a crashed primary with Patroni; about 20 s for a lost node).
- `WAGERBASE_DRAIN_SECONDS` (seconds, default 30): at shutdown, how long the node waits for money
  calls still in flight; then their connections are closed (never cancelled) and each is logged.
- `WAGERBASE_BATCH_MOST` (default 64): the most placements on one market decided in one
  transaction (placements.py); 1 decides every placement alone.

Limits (docs/api.md, "Limits of a request"):
- `WAGERBASE_MAX_ROWS` (default 1000): the most rows one read of /rest/v1 answers (a view, or the
  rows a function returns), whatever its `limit`, as PostgREST's `db-max-rows`.
- `WAGERBASE_HEADER_TIMEOUT` (seconds, default 10): how long a request's headers may take to
  arrive; then the connection is answered 408 and closed (slow_clients.py).
- `WAGERBASE_BODY_TIMEOUT` (seconds, default 30): how long a request's body may take to arrive
  after its headers; then 408, and the connection is closed.

Workers (server.py; docs/operations.md, "Workers"):
- `WAGERBASE_WORKERS` (default: the number of CPUs): the worker processes of `wagerbase serve`,
  each with its own event loop, pool, hub and scheduler; `--workers` overrides it. The node's
  limits (its pool's lanes, sockets, channels, hashing threads) are divided among them.

Live sockets (docs/live.md, "Fan-out"):
- `WAGERBASE_WS_COMPRESSION` (default off): `on` accepts the permessage-deflate that browsers
  offer, with context takeover: odds messages about ten times smaller on the wire, compressed
  for each socket on its own. Off, every socket's frame of a message is the same bytes, made once.

Abuse (docs/api.md, "Limits"; docs/operations.md):
- `WAGERBASE_TRUSTED_PROXIES`: comma-separated addresses and CIDR networks of the proxies in front
  of the node (none by default). A request from one of them is counted against the right-most
  address of X-Forwarded-For that is not one of them (http/client_address.py); any other request
  against its socket peer. A value that is not an address or a network stops the node at start.
- `WAGERBASE_HASH_THREADS` (default: the number of CPUs) and `WAGERBASE_HASH_QUEUE` (default 8 a
  thread): password hashes run at once, and waiting, before a sign-in or sign-up is refused with
  429 (hashing.py).

Sign-in with OpenID Connect (docs/operations.md): `WAGERBASE_OIDC_PROVIDERS` and each provider's
`WAGERBASE_OIDC_<NAME>_ISSUER`, `_CLIENT_ID`, `_SECRET`, `_SCOPES`, read by oidc_config.py.

Where users are sent back, for providers and mails alike (site_urls.py): `WAGERBASE_SITE_URL`
(GoTrue's SITE_URL), `WAGERBASE_ADDITIONAL_REDIRECT_URLS` (its allow list: comma-separated URLs
or `*`/`**` patterns) and `WAGERBASE_API_EXTERNAL_URL` (the API's URL as browsers reach it).

Mail: password recovery and sign-in by email (mail.py, email_sign_in.py; docs/operations.md,
"Mail"). Off, and /recover and /otp refused with 400 `email_provider_disabled`, until both
`WAGERBASE_SMTP_HOST` and `WAGERBASE_SITE_URL` are set.
- `WAGERBASE_SMTP_HOST`, `WAGERBASE_SMTP_PORT` (default 587; 465 with `tls`),
  `WAGERBASE_SMTP_USER` and `WAGERBASE_SMTP_PASSWORD` (a login only when the user is set),
  `WAGERBASE_SMTP_SENDER` (the From, default `Wagerbase <noreply@localhost>`),
  `WAGERBASE_SMTP_SECURITY` (`starttls`, the default; `tls`; `none`: plain text),
  `WAGERBASE_SMTP_TIMEOUT` (seconds, default 10: the most one mail may take).
- `WAGERBASE_OTP_EXPIRY` (seconds, default 3600) and `WAGERBASE_SMTP_MAX_FREQUENCY` (seconds,
  default 60): how long a mailed code or link works, and the least time between two mails to
  one address (GoTrue's defaults).
"""

import os
from pathlib import Path

from wagerbase import money_calls, placements, slow_clients
from wagerbase.authenticator import ApiLogin, as_authenticator, derived_password
from wagerbase.http.client_address import Network, parse_networks
from wagerbase.mail import SECURITIES, MailSettings
from wagerbase.operations.embedded import EmbeddedServer

DEFAULT_DATA_DIR = ".wagerbase"
DEFAULT_MAX_ROWS = 1000
_ON = frozenset({"1", "true", "yes", "on"})

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


def api_login(owner_url: str, secret: str) -> ApiLogin:
    """How the API's connections log in: WAGERBASE_API_DATABASE_URL as it is; else `owner_url`
    as authenticator with WAGERBASE_AUTHENTICATOR_PASSWORD or the password derived from
    `secret` (the JWT secret)."""
    explicit = os.environ.get("WAGERBASE_API_DATABASE_URL")
    if explicit:
        return ApiLogin(explicit, password=None)
    password = os.environ.get("WAGERBASE_AUTHENTICATOR_PASSWORD") or derived_password(secret)
    return ApiLogin(as_authenticator(owner_url, password), password)


def workers() -> int:
    """WAGERBASE_WORKERS, a whole number of processes (1 or more), else the number of CPUs."""
    return _count("WAGERBASE_WORKERS", os.cpu_count() or 1)


def ws_compression() -> bool:
    """WAGERBASE_WS_COMPRESSION: on (1, true, yes, on) or off (anything else, and unset)."""
    return os.environ.get("WAGERBASE_WS_COMPRESSION", "").strip().lower() in _ON


def outcome_window() -> float:
    """WAGERBASE_OUTCOME_WINDOW in seconds (0 or more), else 10."""
    return _seconds("WAGERBASE_OUTCOME_WINDOW", money_calls.DEFAULT_WINDOW_SECONDS)


def drain_seconds() -> float:
    """WAGERBASE_DRAIN_SECONDS in seconds (0 or more), else 30."""
    return _seconds("WAGERBASE_DRAIN_SECONDS", money_calls.DEFAULT_DRAIN_SECONDS)


def trusted_proxies() -> tuple[Network, ...]:
    """WAGERBASE_TRUSTED_PROXIES as networks (none when unset). Raises ValueError."""
    return parse_networks(os.environ.get("WAGERBASE_TRUSTED_PROXIES", ""))


def batch_most() -> int:
    """WAGERBASE_BATCH_MOST, a whole number of placements (1 or more), else 64."""
    return _count("WAGERBASE_BATCH_MOST", placements.DEFAULT_MOST)


def max_rows() -> int:
    """WAGERBASE_MAX_ROWS, a whole number of rows (1 or more), else 1000."""
    return _count("WAGERBASE_MAX_ROWS", DEFAULT_MAX_ROWS)


def header_timeout() -> float:
    """WAGERBASE_HEADER_TIMEOUT in seconds (above 0), else 10."""
    return _seconds(
        "WAGERBASE_HEADER_TIMEOUT", slow_clients.DEFAULT_HEADER_TIMEOUT_SECONDS, positive=True
    )


def body_timeout() -> float:
    """WAGERBASE_BODY_TIMEOUT in seconds (above 0), else 30."""
    return _seconds(
        "WAGERBASE_BODY_TIMEOUT", slow_clients.DEFAULT_BODY_TIMEOUT_SECONDS, positive=True
    )


def mail() -> MailSettings:
    """The WAGERBASE_SMTP_* settings, WAGERBASE_OTP_EXPIRY and WAGERBASE_SMTP_MAX_FREQUENCY.
    Raises ValueError for a security that is none of starttls, tls and none."""
    security = os.environ.get("WAGERBASE_SMTP_SECURITY", "").strip().lower() or "starttls"
    for known in SECURITIES:
        if security == known:
            break
    else:
        raise ValueError(f"WAGERBASE_SMTP_SECURITY must be one of {', '.join(SECURITIES)}")
    defaults = MailSettings()
    return MailSettings(
        host=os.environ.get("WAGERBASE_SMTP_HOST", "").strip() or None,
        port=_count("WAGERBASE_SMTP_PORT", 465 if known == "tls" else defaults.port),
        user=os.environ.get("WAGERBASE_SMTP_USER") or None,
        password=os.environ.get("WAGERBASE_SMTP_PASSWORD") or None,
        sender=os.environ.get("WAGERBASE_SMTP_SENDER", "").strip() or defaults.sender,
        security=known,
        timeout=_seconds("WAGERBASE_SMTP_TIMEOUT", defaults.timeout, positive=True),
        otp_expiry=_count("WAGERBASE_OTP_EXPIRY", defaults.otp_expiry),
        max_frequency=int(_seconds("WAGERBASE_SMTP_MAX_FREQUENCY", defaults.max_frequency)),
    )


def _count(name: str, default: int) -> int:
    """A whole number (1 or more) from the environment; `default` when unset or anything else."""
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and int(raw) >= 1 else default


def _seconds(name: str, default: float, *, positive: bool = False) -> float:
    """A number of seconds from the environment; `default` when unset, not a number, below 0
    (or, when it must be `positive`, 0)."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 or (value == 0 and not positive) else default
