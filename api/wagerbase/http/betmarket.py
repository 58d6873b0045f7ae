"""/api: BetMarket's REST contract (being built)."""

from litestar import Router

router = Router(path="/api", route_handlers=[], tags=["betmarket"])
