"""The HTTP surfaces: GoTrue (/auth/v1), PostgREST (/rest/v1), BetMarket (/api)."""
