"""BetMarket's surface: its REST contract at /api (../shared/BETMARKET_API.md) on top of the
engine.

A BetMarket game is a two-outcome fixed-odds market: `opt1` and `opt2` are its outcomes at
positions 1 and 2. Every handler parses, authenticates, calls one engine function or reads one
view, and shapes the answer; the engine decides everything about money.

Money and odds are JSON numbers in major units here and minor units (bigint) in the engine; the
conversion happens only at this edge and exactly: request bodies are decoded from their bytes
straight into `Decimal` (never through a float), an amount must be a whole number of minor units,
and answers are written from whole minor units (exact for any amount below 10^13).

- `bodies.py`: what is sent (strict decoding, amounts into minor units); `answers.py`: what is
  answered (major units, odds, the answers' structs and their OpenAPI descriptions);
- `errors.py`: the error ladder, BetMarket's `{"error": ...}` for every refusal and error;
- `calls.py`: its statements and how they are run (reads as the caller, money calls);
- the routes: `auth.py` (/api/auth, and the guard of signed-in routes), `games.py`, `bets.py`,
  `balance.py`, `admin.py`; `router.py` gathers them;
- /ws, its live updates: `ws.py` (the socket) and `ws_messages.py` (hub events as its messages).
"""

from wagerbase.surfaces.betmarket.router import router
from wagerbase.surfaces.betmarket.ws import betmarket_ws

__all__ = ["betmarket_ws", "router"]
