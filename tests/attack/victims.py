"""The users of the token attacks (test_forged_tokens.py, test_tokens_of_gone_users.py): bettor A,
whose token is forged, bettor B, whose id an edited token borrows, and an admin who makes the
games; `victims` (tests/attack/conftest.py) makes them once per module."""

from dataclasses import dataclass

import httpx

from tests.api.betmarket_client import User


@dataclass
class Victims:
    a: User  # bettor A, whose token is forged
    b: User  # bettor B, whose id an edited token borrows
    boss: User  # an admin, who makes the marker games
    http: httpx.Client
