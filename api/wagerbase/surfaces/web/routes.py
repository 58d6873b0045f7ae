"""The web app (web/, built by Vite into web/dist) served at `/`, and its run-time config.

- `GET /config.json`: what the browser needs to create its Supabase client: the anon key of this
  deployment (never baked into the build), and the node's row cap (`maxRows`), by which the app
  pages its reads.
- `GET /` and any other path that no surface claims: a file of the build when one matches, else
  `index.html`, so that client routes (`/markets/3`, `/wallet`) load the app (an SPA fallback).
  Paths under the API's own prefixes are never answered with the app: they stay 404s in JSON.
- When the build is missing, `/` answers 503 with how to build it, not a 500.
- Every page (`index.html`, the 503) carries CONTENT_SECURITY_POLICY: the app's scripts, styles,
  images and fonts come from this origin only, it calls (fetch and WebSocket) only this origin,
  nothing inline or evaluated runs, and no other site may frame it. The headers every answer
  carries (nosniff, no referrer, X-Frame-Options) are wagerbase.http.common.SECURITY_HEADERS.

`WAGERBASE_WEB_DIST` points at another build folder (default: `web/dist` of the repository).
"""

import mimetypes
import os
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.response import File

from wagerbase.resources import web_dist
from wagerbase.tokens import Tokens

# First path segments that belong to the API: a miss there is the API's 404, never the app.
API_PREFIXES = frozenset({"auth", "rest", "api", "realtime", "schema", "health", "ws"})

# What the built app needs (web/dist: module scripts, a stylesheet and the favicon, all under
# this origin; supabase-js's fetch and the realtime WebSocket to this origin; Chart.js draws on
# canvases), and nothing else. 'self' in connect-src covers ws:// and wss:// of the same host.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Wagerbase: web app not built</title></head>
<body>
<h1>The web app is not built yet</h1>
<p>The API is running (<a href="/schema/swagger">/schema/swagger</a>), but <code>{dist}</code>
holds no build. Build it with <code>scripts/serve</code> (which runs <code>npm ci</code> and the
build when needed), or by hand: <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>.</p>
</body></html>
"""


def dist_dir() -> Path:
    return Path(os.environ.get("WAGERBASE_WEB_DIST") or web_dist()).resolve()


@get("/config.json", summary="The web app's run-time config", tags=["web"], cache=False)
async def web_config(state: State) -> Response[dict[str, Any]]:
    tokens: Tokens = state.tokens
    return Response(
        {"anonKey": tokens.role_key("anon"), "maxRows": state.config.max_rows},
        headers={"Cache-Control": "no-store"},
    )


def _index(dist: Path) -> Response[Any]:
    index = dist / "index.html"
    if not index.is_file():
        return Response(
            NOT_BUILT.format(dist=dist),
            status_code=503,
            media_type="text/html",
            headers={"Cache-Control": "no-store", **PAGE_HEADERS},
        )
    return Response(
        index.read_bytes(),
        media_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-cache", **PAGE_HEADERS},
    )


@get(["/", "/{path:path}"], include_in_schema=False, cache=False)
async def web_app(request: Request[Any, Any, Any], path: str = "") -> Response[Any] | File:
    """A file of the build, or index.html for a client route."""
    relative = path.lstrip("/")
    if relative.split("/", 1)[0] in API_PREFIXES:
        raise NotFoundException(f"no route for {request.url.path}")
    dist = dist_dir()
    if relative:
        candidate = (dist / relative).resolve()
        if candidate.is_relative_to(dist) and candidate.is_file():
            immutable = candidate.is_relative_to(dist / "assets")
            media_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
            return File(
                candidate,
                media_type=media_type,
                content_disposition_type="inline",
                headers={
                    "Cache-Control": "public, max-age=31536000, immutable"
                    if immutable
                    else "no-cache"
                },
            )
        if "." in relative.rsplit("/", 1)[-1]:
            # a missing file (an old asset), not a client route: say so instead of the app
            raise NotFoundException(f"no file {request.url.path}")
    return _index(dist)


router = Router(path="/", route_handlers=[web_config, web_app])
