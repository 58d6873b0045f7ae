"""What the load generator's clients send (bench/loadgen.py): a Scenario, and the bytes of one
wager through /rest/v1 (as supabase-js sends it) or through BetMarket's /api (as its client
does)."""

from __future__ import annotations

import random
from dataclasses import dataclass

SURFACES = ("rest", "betmarket")
PATHS = {"rest": "/rest/v1/rpc/place_wager", "betmarket": "/api/bet"}


@dataclass(frozen=True)
class Scenario:
    """What every client of a scenario does: place `stake` on a random outcome of a random
    market of `markets` (first id, count, first outcome id, outcomes per market; the layout of
    bench/fixtures.MarketRange) through `surface`, for `warmup_s` and then `duration_s`."""

    surface: str
    host: str
    port: int
    anon_key: str
    markets: tuple[int, int, int, int]
    stake: int
    clients: int
    warmup_s: float
    duration_s: float
    seed: int
    run_id: str  # in every idempotency key with the scenario's name: no two scenarios share one
    drain_s: float = 60.0  # after the window, how long the requests in flight may take

    @property
    def name(self) -> str:
        return f"{self.surface}-c{self.clients}-{'hot' if self.markets[1] == 1 else 'spread'}"


def request_head(scenario: Scenario, token: str) -> bytes:
    """A request's head up to its Content-Length value: what supabase-js sends for
    `rpc('place_wager', ...)` (apikey, the bearer token, Content-Profile, X-Client-Info), or
    what BetMarket's client sends for a bet (the bearer token)."""
    host = f"Host: {scenario.host}:{scenario.port}\r\n"
    if scenario.surface == "rest":
        lines = (
            f"POST {PATHS['rest']} HTTP/1.1\r\n{host}"
            f"apikey: {scenario.anon_key}\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nContent-Profile: public\r\n"
            "X-Client-Info: supabase-js-web/2 (wagerbase bench)\r\nAccept: */*\r\n"
        )
    else:
        lines = (
            f"POST {PATHS['betmarket']} HTTP/1.1\r\n{host}Authorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
        )
    return (lines + "Content-Length: ").encode()


def request_body(scenario: Scenario, rng: random.Random, key: str) -> bytes:
    """One wager: a random market and outcome. /rest gets the engine's minor units and an
    idempotency key (the web app sends one with every wager); /api gets BetMarket's major units
    and no key (its client sends none; the node makes one). Neither names the odds it expects:
    under load the odds move between any quote and the wager, and a refusal would not be a
    placement."""
    first, count, outcome_first, outcomes = scenario.markets
    index = rng.randrange(count)
    position = rng.randrange(outcomes)
    if scenario.surface == "rest":
        outcome = outcome_first + index * outcomes + position
        return (
            f'{{"market_id":{first + index},"outcome_id":{outcome},'
            f'"stake":{scenario.stake},"idempotency_key":"{key}"}}'
        ).encode()
    amount = f"{scenario.stake // 100}.{scenario.stake % 100:02d}"
    return (
        f'{{"game_id":{first + index},"amount":{amount},"choice":"opt{position + 1}"}}'
    ).encode()
