"""`wagerbase serve`: migrate (as DATABASE_URL's role), make sure the API's own login works
(authenticator.py), then serve the API with uvicorn, connected as that login, until
interrupted.

uvicorn speaks HTTP/1.1 through h11 with slow_clients.BoundedH11Protocol, which bounds a
request's head (16 KB, 100 headers) and times out a request whose headers
(WAGERBASE_HEADER_TIMEOUT) or unread body (WAGERBASE_BODY_TIMEOUT) do not arrive (docs/api.md,
"Limits of a request")."""

import logging
import sys

import uvicorn

from wagerbase import settings, slow_clients
from wagerbase.app import Config, create_app
from wagerbase.authenticator import ensure_login
from wagerbase.conninfo import redact
from wagerbase.migrate import migrate
from wagerbase.tokens import Tokens

log = logging.getLogger("wagerbase")


def keys(secret: str) -> dict[str, str]:
    """The anon and service keys for this secret (long-lived JWTs that carry only a role)."""
    tokens = Tokens(secret)
    return {"anon": tokens.role_key("anon"), "service_role": tokens.role_key("service_role")}


def serve(host: str, port: int) -> int:
    url = settings.database_url()
    embedded = settings.external_database_url() is None
    log.info("database %s", redact(url))
    print(migrate(url).summary(), file=sys.stderr)
    secret = settings.jwt_secret()
    login = settings.api_login(url, secret)
    ensure_login(url, login)
    log.info("the API connects as %s", redact(login.url))
    server = settings.embedded_server()

    def stop_embedded() -> None:
        # uvicorn ends the process with the signal that stopped it, so this runs in the lifespan
        if embedded and server.started_here:
            server.stop("fast")

    config = Config(database_url=login.url, jwt_secret=secret)
    app = create_app(config, on_shutdown=[stop_embedded])
    print(f"wagerbase: serving on http://{host}:{port}  (OpenAPI: /schema)", file=sys.stderr)
    print(f"wagerbase: anon key: {keys(secret)['anon']}", file=sys.stderr)
    logging.getLogger("wagerbase.http").setLevel(logging.INFO)
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=slow_clients.protocol(settings.header_timeout(), settings.body_timeout()),
        log_level="warning",
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    return 0
