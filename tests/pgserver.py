"""The test server and helpers to make and drop its databases (used by conftest.py)."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from wagerbase.conninfo import with_dbname
from wagerbase.operations.embedded import EmbeddedServer

MAINTENANCE_DB = "postgres"

Connection = psycopg.Connection[tuple[Any, ...]]


@dataclass(frozen=True)
class PgServer:
    """The test server: `url` connects as a superuser (or DATABASE_URL's role)."""

    url: str
    embedded: EmbeddedServer | None

    def url_for(self, dbname: str) -> str:
        return with_dbname(self.url, dbname)

    def admin(self) -> Connection:
        """An autocommit connection to the maintenance database, for create/drop database."""
        return psycopg.connect(self.url_for(MAINTENANCE_DB), autocommit=True)

    def create_database(self, name: str, *, template: str | None = None) -> str:
        query = sql.SQL("create database {}").format(sql.Identifier(name))
        if template is not None:
            query += sql.SQL(" template {}").format(sql.Identifier(template))
        with self.admin() as admin:
            admin.execute(query)
        return self.url_for(name)

    @contextmanager
    def database_from(self, template: str, prefix: str) -> Iterator[str]:
        """A new database copied from `template`, named `prefix` and a random suffix, dropped
        after the block; yields its URL."""
        name = unique_name(prefix)
        url = self.create_database(name, template=template)
        try:
            yield url
        finally:
            self.drop_database(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, terminating its connections (and un-marking it as a template)."""
        ident = sql.Identifier(name)
        with self.admin() as admin:
            found = admin.execute(
                "select datistemplate from pg_catalog.pg_database where datname = %s", [name]
            ).fetchone()
            if found is None:
                return
            if found[0]:
                admin.execute(sql.SQL("alter database {} is_template false").format(ident))
            admin.execute(sql.SQL("drop database {} with (force)").format(ident))


def unique_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"
