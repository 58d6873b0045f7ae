"""A call's arguments: the JSON object of a POST body (its exact text kept, so numbers keep every
digit), or the query keys of a GET or HEAD that name arguments; and the check that an argument
whose type is a number is a JSON number in a body and a plain decimal in a query string.
"""

import json
import re
from decimal import Decimal
from typing import Any, NoReturn

from litestar import Request

from wagerbase.database import Database
from wagerbase.errors import ApiError
from wagerbase.http.request_limits import json_depth, too_deep
from wagerbase.surfaces.postgrest.catalog import SCHEMA, Function, SchemaCache
from wagerbase.surfaces.postgrest.grammar import bad_query
from wagerbase.surfaces.postgrest.query import LOGIC_KEYS, RESERVED


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def body_arguments(body: bytes) -> tuple[str, dict[str, Any]]:
    """The JSON object of a POST call: its exact text (numbers keep every digit) and its values
    (numbers with a fraction as Decimals). Its depth was checked when the body was read
    (request_limits.BoundedRequest)."""
    if not body.strip():
        return "{}", {}
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(
            400,
            "PGRST102",
            "Empty or invalid json",
            details=str(exc),
        ) from exc
    if not isinstance(value, dict):
        raise ApiError(
            400,
            "PGRST102",
            "The request body must be a JSON object of named arguments",
            details=f"got a JSON {type(value).__name__.replace('dict', 'object')}",
        )
    return text, value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _numbers_only(value: Any, array: bool) -> bool:
    """A JSON number or null; for an array argument, arrays of them (any depth)."""
    if array and isinstance(value, list):
        return all(_numbers_only(item, array) for item in value)
    return _json_type(value) in ("number", "null")


# A number in a query string: digits, an optional minus and fraction; no spaces, signs, hex,
# underscores or exponents, which PostgreSQL's input functions would otherwise read. An array
# argument may also be an array literal of them, `{4,5}` (NULL for a null element).
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_ARRAY_LITERAL_PARTS = re.compile(r"[{},]")


def _plain_number(text: str, array: bool) -> bool:
    if PLAIN_DECIMAL.fullmatch(text):
        return True
    if not array or not text.startswith("{"):
        return False
    items = [item for item in _ARRAY_LITERAL_PARTS.split(text) if item]
    return all(PLAIN_DECIMAL.fullmatch(item) or item.upper() == "NULL" for item in items)


def check_numbers(function: Function, values: dict[str, Any], *, in_query: bool) -> None:
    """An argument whose type is a number must be a JSON number in a body, and plain digits in a
    query string (where every value is text): PostgreSQL's input functions would read more
    (`"  1000 "`, and from PostgreSQL 16 `"0x10"` and `"1_000"`), so anything else is refused
    at the edge, with the code PostgreSQL gives a value it cannot read (22P02, as for `"abc"`)."""
    for argument in function.arguments:
        if not argument.is_numeric or argument.name not in values:
            continue
        value = values[argument.name]
        if in_query:
            texts = value if isinstance(value, list) else [value]
            wrong = [text for text in texts if not _plain_number(text, argument.is_array)]
            if not wrong:
                continue
            expected, got = "a plain decimal number", repr(wrong[0][:40])
            hint = "Write digits, with an optional - and fraction: no spaces, +, hex or exponent."
        else:
            if _numbers_only(value, argument.is_array):
                continue
            expected = "an array of JSON numbers" if argument.is_array else "a JSON number"
            got = f"a JSON {_json_type(value)}"
            hint = f'Send {argument.name} as a JSON number: 1000, not "1000".'
        raise ApiError(
            400,
            "22P02",
            f'Argument "{argument.name}" must be {expected}',
            details=f"{SCHEMA}.{function.name} takes {argument.name} as "
            f"{argument.type_name.lstrip('_')}; got {got}",
            hint=hint,
        )


async def query_arguments(
    cache: SchemaCache, db: Database, request: Request[Any, Any, Any], name: str
) -> tuple[dict[str, Any], list[str]]:
    """The named arguments of a GET/HEAD call: the query keys that are argument names of `name`
    (the other keys filter the rows it returns). Repeated keys make an array argument."""
    overloads = await cache.overloads(db, name)
    by_name = {arg.name: arg for f in overloads for arg in f.arguments if arg.name}
    values: dict[str, Any] = {}
    for key, raw in request.query_params.multi_items():
        if key in RESERVED or key in LOGIC_KEYS or key not in by_name:
            continue
        argument = by_name[key]
        value: Any = raw
        if argument.is_json:
            message = too_deep(json_depth(raw.encode()), f'Argument "{key}"')
            if message is not None:
                raise bad_query(message)
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        if key in values:
            if not argument.type_name.startswith("_"):
                raise bad_query(f'argument "{key}" is given more than once')
            previous = values[key]
            values[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            values[key] = value
    return values, list(values)
