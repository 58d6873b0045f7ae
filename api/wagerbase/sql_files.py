"""SQL kept in `.sql` files beside the Python module that runs it, read once per process.

A file holds named statements, each introduced by a line `-- name: <name>` (aiosql's convention)
and running to the next such line; the comment lines right after the name say what the statement
is for. Parameters are psycopg's (`%(name)s`), so the files are read, never formatted.

    QUERIES = statements(__package__, "games.sql")   # at import: a missing file fails at once
    await conn.execute(QUERIES["game"], {"game_id": 3})

The files are package data: a wheel carries them next to their module (pyproject.toml).
"""

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

_NAME = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)[ \t]*$", re.MULTILINE)


class SqlFileError(ValueError):
    """A `.sql` file that names no statement, names one twice, or has text before the first."""


@cache
def statements(package: str | None, filename: str) -> Mapping[str, str]:
    """The named statements of `filename` in `package`, name -> text (without its name line)."""
    if not package:
        raise SqlFileError(f"{filename}: statements() needs the package it lies in")
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    return parse(text, f"{package}/{filename}")


def parse(text: str, where: str) -> Mapping[str, str]:
    """The named statements of a file's text (`where` names it in errors)."""
    names = list(_NAME.finditer(text))
    if not names:
        raise SqlFileError(f"{where}: no `-- name:` line")
    if text[: names[0].start()].strip():
        raise SqlFileError(f"{where}: text before the first `-- name:` line")
    found: dict[str, str] = {}
    for this, following in zip(names, [*names[1:], None], strict=True):
        name = this.group(1)
        if name in found:
            raise SqlFileError(f"{where}: {name} is named twice")
        body = text[this.end() : following.start() if following else len(text)].strip()
        if not body:
            raise SqlFileError(f"{where}: {name} is empty")
        found[name] = body + "\n"
    return MappingProxyType(found)
