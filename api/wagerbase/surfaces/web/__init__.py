"""The web app's surface: the built app (web/dist) served at `/`, and its run-time config
(routes.py)."""

from wagerbase.surfaces.web.routes import CONTENT_SECURITY_POLICY, router

__all__ = ["CONTENT_SECURITY_POLICY", "router"]
