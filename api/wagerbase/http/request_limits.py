"""The shape limits of a request: how deep, wide and long what a client sends may be.

Without them a request could exhaust a recursive parser (Python's JSON and msgspec raise
RecursionError, the query grammar recursed into itself), PostgreSQL's target list (1,664 columns)
or the planner. Each limit broken is a 400 that names the limit and its value, in the surface's own
error body (docs/rest.md, "Limits", and docs/api.md, "Limits of a request"). They are far above
what any client of this API sends (supabase-js, the web app, BetMarket's client):

- `MAX_LOGIC_DEPTH`: `or=`/`and=` trees nest at most this many levels (`or`, `and`, `not.or` and
  `not.and` each count as one; the top-level `or=(..)` is the first);
- `MAX_CONDITIONS`: filter conditions in one query string, those inside logic trees included;
- `MAX_SELECT_COLUMNS`: columns one `select=` may ask for (a `*` counts as every column it stands
  for; a lone `*` is always allowed);
- `MAX_ORDER_TERMS`: terms of `order=`, all `order` keys together;
- `MAX_EMBED_DEPTH`: resources embedded in `select` nest at most this many levels
  (`markets?select=*,outcomes(*,wagers(*))` is two);
- `MAX_EMBEDS`: resources embedded in one `select`, at every level together;
- `EMBEDDED_ROWS_PER_PAGE`: an answer holds at most this many embedded rows (every level
  together) for each row of the node's row cap (`WAGERBASE_MAX_ROWS`): 10,000 by default;
- `MAX_JSON_DEPTH`: arrays and objects nest at most this many levels in a JSON body (every body of
  every surface, read through `BoundedRequest`) and in a JSON argument of a query string.
"""

import re
from itertools import accumulate
from typing import Any

from litestar import Request
from litestar.exceptions import ValidationException

MAX_LOGIC_DEPTH = 8
MAX_CONDITIONS = 100
MAX_SELECT_COLUMNS = 100
MAX_ORDER_TERMS = 16
MAX_EMBED_DEPTH = 3
MAX_EMBEDS = 8
EMBEDDED_ROWS_PER_PAGE = 10
MAX_JSON_DEPTH = 32

# A JSON string (its escapes skipped), or an unterminated one, which runs to the end: each string
# is scanned once, so the scan stays linear whatever the text.
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*+"|"[\s\S]*', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _open in b"[{":
    _STEP[_open] = 1
for _close in b"]}":
    _STEP[_close] = -1


def json_depth(text: bytes) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings are text, not
    nesting), without parsing it: 0 for a scalar, 1 for `[]` or `{}`. Linear in the text (a few
    milliseconds for 64 KB), so it can run before any parser that recurses."""
    brackets = _STRINGS.sub(b"", text).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def too_deep(depth: int, what: str = "The JSON body") -> str | None:
    """The refusal's message when `depth` is over MAX_JSON_DEPTH, else None."""
    if depth <= MAX_JSON_DEPTH:
        return None
    return (
        f"{what} nests {depth} levels of arrays and objects: at most {MAX_JSON_DEPTH} are "
        "accepted (the JSON nesting limit)"
    )


class BoundedRequest(Request[Any, Any, Any]):
    """The app's request class: its body (which every surface reads through `body()`, whether
    Litestar decodes it or a handler parses it) is refused with a 400 ValidationException when it
    nests deeper than MAX_JSON_DEPTH, before any parser sees it. Each surface answers the 400 in
    its own error body (PostgREST's PGRST102, GoTrue's validation_failed, BetMarket's error)."""

    async def body(self) -> bytes:
        body = await super().body()
        message = too_deep(json_depth(body))
        if message is not None:
            raise ValidationException(detail=message)
        return body
