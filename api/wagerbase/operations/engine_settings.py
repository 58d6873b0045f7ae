"""The engine's settings from the command line (`wagerbase settings`): read them from the
`settings` view, change the money settings through `public.update_settings` (validated and logged
in the admin actions by the database, as the service role), or apply a named profile
(`app.settings_profile`: real-money or play-money). See docs/operations.md, "Play money or real
money"."""

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from wagerbase.sql_files import statements

QUERIES = statements(__package__, "engine_settings.sql")


def show(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Every setting a client may read, as the `settings` view shows it."""
    row = conn.execute(QUERIES["show"]).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE arguments as JSON values: `true`, `false` and numbers as such, anything else as a
    string (which update_settings refuses with the setting's name). Raises ValueError for an
    argument without `=`."""
    changes: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key:
            raise ValueError(f"not KEY=VALUE: {assignment!r}")
        try:
            changes[key] = json.loads(text)
        except json.JSONDecodeError:
            changes[key] = text
    return changes


def update(conn: psycopg.Connection[Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Change some money settings in one committed transaction; the settings after. Refused with
    `invalid_argument` (psycopg.Error) for an unknown setting or a wrong value."""
    with conn.transaction():
        conn.execute(QUERIES["as_service_role"])
        row = conn.execute(QUERIES["update_settings"], {"changes": Jsonb(changes)}).fetchone()
    assert row is not None
    result: dict[str, Any] = row[0]
    return result


def apply_profile(conn: psycopg.Connection[Any], name: str) -> dict[str, Any]:
    """The settings of profile `name` applied, as update would; refused for another name."""
    row = conn.execute(QUERIES["settings_profile"], {"name": name}).fetchone()
    assert row is not None
    return update(conn, row[0])
