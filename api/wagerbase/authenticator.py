"""The API's login: the role an API node's connections log in as, and its password.

Every connection of an API node (its pool, the live-update hub, the scheduler, the side-effect
worker, a money call's resolving connection) logs in as `authenticator` (sql/roles.sql): a role
that owns nothing, can only switch to anon, authenticated or service_role for a request, and of
its own may only execute the functions of schema `server` (policies/05_server.sql). DATABASE_URL's
role, the schema's owner, only migrates and is used by the `wagerbase` commands that administer.

Where a node's login comes from (`settings.api_login`):
- `WAGERBASE_API_DATABASE_URL`, when set, is used as it is, and no password is ever set;
- otherwise DATABASE_URL's hosts, ports, database and options, with user `authenticator` and the
  password `WAGERBASE_AUTHENTICATOR_PASSWORD`, or, when that is unset, one derived from the JWT
  secret (an HMAC of it), which every node of a deployment already shares. Knowing the derived
  password gives nothing the secret does not: whoever holds the secret can sign service keys.

`wagerbase serve` logs in once with it before serving (`ensure_login`). When that fails and the
password is one of ours, it sets the role's password through DATABASE_URL's role and tries again.
The password is sent as a SCRAM verifier made here, so the clear text never reaches the server or
its log. Roles belong to the whole cluster: nodes of other databases may set the same password
at the same moment ('tuple concurrently updated'), which is retried; nodes that share a cluster
must share the password (the same JWT secret, or the same WAGERBASE_AUTHENTICATOR_PASSWORD), or
each sets its own and the others can no longer open connections.
"""

import base64
import hashlib
import hmac
import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from wagerbase.conninfo import for_component

log = logging.getLogger(__name__)

ROLE = "authenticator"
_DERIVATION = b"wagerbase authenticator password v1"
SET_ATTEMPTS = 5
APPLICATION_NAME = "wagerbase login"


class LoginError(RuntimeError):
    """The node cannot log in as its role, and setting the password did not help or was not
    allowed."""


@dataclass(frozen=True)
class ApiLogin:
    """How a node connects: `url` for every connection; `password` is the one `ensure_login` may
    give the role, None for an explicit WAGERBASE_API_DATABASE_URL (never changed)."""

    url: str
    password: str | None


def derived_password(jwt_secret: str) -> str:
    """The role's password when WAGERBASE_AUTHENTICATOR_PASSWORD is unset: an HMAC-SHA256 of a
    fixed label keyed by the JWT secret (URL-safe base64, 43 characters)."""
    digest = hmac.new(jwt_secret.encode(), _DERIVATION, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def as_authenticator(conninfo: str, password: str) -> str:
    """`conninfo` (a URL or key=value, any number of hosts) logging in as ROLE with `password`."""
    return make_conninfo(conninfo, user=ROLE, password=password)


def _log_in(url: str) -> psycopg.OperationalError | None:
    """None when a connection as the API's role opens, else why it did not."""
    try:
        psycopg.connect(for_component(url, APPLICATION_NAME)).close()
    except psycopg.OperationalError as exc:
        return exc
    return None


def _set_password(owner_url: str, password: str) -> None:
    """Give ROLE `password`, through the owner's connection. Another node (of any database of the
    cluster) setting it at the same moment makes PostgreSQL refuse one of the two ('tuple
    concurrently updated'): that one is sent again."""
    with psycopg.connect(for_component(owner_url, APPLICATION_NAME), autocommit=True) as conn:
        # hashed by libpq with the server's password_encryption: no clear text on the wire
        verifier = conn.pgconn.encrypt_password(password.encode(), ROLE.encode()).decode()
        statement = sql.SQL("alter role {} password {}").format(
            sql.Identifier(ROLE), sql.Literal(verifier)
        )
        for attempt in range(1, SET_ATTEMPTS + 1):
            try:
                conn.execute(statement)
                return
            except errors.InternalError_ as exc:
                if "concurrently" not in str(exc) or attempt == SET_ATTEMPTS:
                    raise
                time.sleep(0.1 * attempt)


def ensure_login(owner_url: str, login: ApiLogin) -> bool:
    """Make sure a node can log in with `login`: try it; when it fails and `login` has a password
    of ours, set the role's password through `owner_url` and try again. True when the password
    was set. Raises LoginError when the node still cannot log in."""
    failure = _log_in(login.url)
    if failure is None:
        return False
    if login.password is None:
        raise LoginError(f"cannot log in with WAGERBASE_API_DATABASE_URL: {failure}")
    try:
        _set_password(owner_url, login.password)
    except psycopg.Error as exc:
        raise LoginError(
            f"cannot log in as {ROLE} ({failure}), and DATABASE_URL's role may not set its "
            f"password ({exc}). Give that role the right (superuser, or CREATEROLE, and from "
            f"PostgreSQL 16 on admin option on {ROLE}), or set WAGERBASE_AUTHENTICATOR_PASSWORD "
            "to the role's password, or WAGERBASE_API_DATABASE_URL to a login of the API's own"
        ) from exc
    log.warning("set the password of role %s: the configured one did not let a node log in", ROLE)
    failure = _log_in(login.url)
    if failure is not None:
        raise LoginError(
            f"cannot log in as {ROLE} even with its password set: {failure}. Does pg_hba.conf "
            f"let {ROLE} in, with a password, from this host?"
        )
    return True
