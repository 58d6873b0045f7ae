"""The migrator: brings a database up to the SQL of this package (the checkout's, or a wheel's
copy: resources.py), in one transaction.

Order (STYLE.md, SQL rule 1), all under one advisory lock, so nodes starting together take turns:

1. `sql/roles.sql`, then `sql/auth.sql`: idempotent, applied every time;
2. the bookkeeping schema `wagerbase_meta` (tables `migrations` and `layers`);
3. each `migrations/NNNN_name.sql` not yet recorded, by number. Migrations are forward-only: a
   recorded one whose file changed (or vanished) is refused;
4. the code layers, `rpc/*.sql`, then `policies/*.sql`, then `sql/console.sql` and
   `sql/seed.sql`, re-applied when their combined checksum changed or a migration was applied in
   this run.

Each file runs as one script (simple query protocol, no parameters, so `%` is never a placeholder).
Any error rolls back everything and is reported with the file, line and PostgreSQL's diagnostics.
"""

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import errors

from wagerbase.conninfo import for_component
from wagerbase.resources import sql_root

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key held by a running migration: the bytes of "Wagerbas" as a bigint.
LOCK_KEY = 0x5761676572626173
CODE_LAYER = "code"  # the row of wagerbase_meta.layers for rpc/, policies/, console and seed

_MIGRATION_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_]+)\.sql$")
_ROLE_RACE_RETRIES = 5

_META_DDL = b"""
create schema if not exists wagerbase_meta;
create table if not exists wagerbase_meta.migrations (
    version text primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
create table if not exists wagerbase_meta.layers (
    name text primary key,
    checksum text not null,
    applied_at timestamptz not null default now()
);
"""


@dataclass(frozen=True)
class Script:
    """One SQL file: where it is, what it holds, its sha256."""

    path: Path
    rel: str  # relative to the repository root, for messages
    sql: bytes
    checksum: str

    @classmethod
    def load(cls, path: Path, root: Path) -> "Script":
        data = path.read_bytes()
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        return cls(path=path, rel=rel, sql=data, checksum=hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Migration:
    version: str  # the numeric prefix as written, e.g. "0001"
    name: str
    script: Script


@dataclass
class MigrateResult:
    """What a run did."""

    applied: list[str] = field(default_factory=list)  # migration files applied, in order
    layers_applied: bool = False
    layers_checksum: str = ""
    layer_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        if self.applied:
            migrations = f"applied {len(self.applied)} migration(s): {', '.join(self.applied)}"
        else:
            migrations = "no migrations to apply"
        if self.layers_applied:
            layers = f"code layers re-applied ({len(self.layer_files)} file(s))"
        else:
            layers = "code layers unchanged"
        return f"{migrations}; {layers} [{self.seconds:.2f}s]"


class MigrationError(RuntimeError):
    """A migration could not run: a refused change, or a file that PostgreSQL rejected."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        sqlstate: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.sqlstate = sqlstate
        self.line = line
        self.column = column

    @classmethod
    def from_database(cls, script: Script, exc: psycopg.Error) -> "MigrationError":
        diag = exc.diag
        primary = diag.message_primary or str(exc).strip()
        parts = [f"{script.rel}: {diag.sqlstate or '?????'} {diag.severity or 'ERROR'}: {primary}"]
        line = column = None
        if diag.statement_position and diag.statement_position.isdigit():
            text = script.sql.decode("utf-8", errors="replace")
            line, column, source = _locate(text, int(diag.statement_position))
            parts.append(f"  at {script.rel}:{line}:{column}")
            parts.append(f"    {source}")
            parts.append(f"    {' ' * (column - 1)}^")
        for label, value in (
            ("DETAIL", diag.message_detail),
            ("HINT", diag.message_hint),
            ("QUERY", diag.internal_query),
            ("CONTEXT", diag.context),
        ):
            if value:
                parts.append(f"  {label}: {value.strip()}")
        return cls(
            "\n".join(parts), file=script.rel, sqlstate=diag.sqlstate, line=line, column=column
        )


def _locate(text: str, position: int) -> tuple[int, int, str]:
    """Line, column and source line of a 1-based character position in `text`."""
    before = text[: max(position - 1, 0)]
    line = before.count("\n") + 1
    start = before.rfind("\n") + 1
    end = text.find("\n", start)
    source = text[start : end if end != -1 else len(text)].expandtabs(1)
    return line, len(before) - start + 1, source


# ---- finding the files ----------------------------------------------------------------------


def find_migrations(root: Path) -> list[Migration]:
    """migrations/NNNN_name.sql, sorted by number; other .sql names are refused."""
    folder = root / "migrations"
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
        match = _MIGRATION_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        number = int(match["version"])
        if number in found:
            other = found[number].script.rel
            raise MigrationError(f"{path}: migration number {number} is also used by {other}")
        found[number] = Migration(match["version"], match["name"], Script.load(path, root))
    return [found[number] for number in sorted(found)]


def find_layer_scripts(root: Path) -> list[Script]:
    """rpc/*.sql, then policies/*.sql (each by file name), then the console helpers and seed data
    of sql/ (console.sql, seed.sql) where present."""
    paths = sorted((root / "rpc").glob("*.sql")) + sorted((root / "policies").glob("*.sql"))
    for name in ("console.sql", "seed.sql"):
        extra = root / "sql" / name
        if extra.is_file():
            paths.append(extra)
    return [Script.load(path, root) for path in paths]


def layers_checksum(scripts: list[Script]) -> str:
    """One checksum over the names, order and contents of the code layer files."""
    digest = hashlib.sha256()
    for script in scripts:
        digest.update(f"{script.rel}\0{script.checksum}\n".encode())
    return digest.hexdigest()


# ---- running them ---------------------------------------------------------------------------


def _execute(conn: psycopg.Connection[tuple[object, ...]], script: Script) -> None:
    """Run a whole file. Without parameters psycopg sends it as is: `%` stays `%`."""
    conn.execute("reset all")  # a file's `set` must not leak into the next file
    conn.execute(script.sql)


def _apply(conn: psycopg.Connection[tuple[object, ...]], script: Script) -> None:
    started = time.monotonic()
    try:
        _execute(conn, script)
    except psycopg.Error as exc:
        raise MigrationError.from_database(script, exc) from exc
    log.info("  %s (%.0f ms)", script.rel, (time.monotonic() - started) * 1000)


def _apply_roles(conn: psycopg.Connection[tuple[object, ...]], script: Script) -> None:
    """Roles are shared by every database of the cluster, so the advisory lock (which is per
    database) does not serialize them: a migration of another database may create the same role at
    the same moment. Retry on the resulting duplicate errors; the second pass finds the role."""
    started = time.monotonic()
    for attempt in range(1, _ROLE_RACE_RETRIES + 1):
        try:
            with conn.transaction():  # a savepoint
                _execute(conn, script)
        except (errors.UniqueViolation, errors.DuplicateObject, errors.InternalError_) as exc:
            racing = not isinstance(exc, errors.InternalError_) or "concurrently" in str(exc)
            if racing and attempt < _ROLE_RACE_RETRIES:
                log.info("  %s raced another migration; retrying", script.rel)
                time.sleep(0.1 * attempt)
                continue
            raise MigrationError.from_database(script, exc) from exc
        except psycopg.Error as exc:
            raise MigrationError.from_database(script, exc) from exc
        log.info("  %s (%.0f ms)", script.rel, (time.monotonic() - started) * 1000)
        return


def _check_recorded(
    recorded: dict[str, tuple[str, str]], migrations: list[Migration]
) -> list[Migration]:
    """The migrations still to apply; refuses edited or missing recorded ones."""
    by_version = {migration.version: migration for migration in migrations}
    for version, (name, checksum) in sorted(recorded.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"migration {version}_{name} is recorded in the database but its file is missing "
                "from migrations/; migrations are never removed"
            )
        if migration.script.checksum != checksum:
            raise MigrationError(
                f"{migration.script.rel} was edited after it was applied (recorded checksum "
                f"{checksum[:12]}, file {migration.script.checksum[:12]}); migrations are "
                "forward-only: put the change in a new migration",
                file=migration.script.rel,
            )
    return [migration for migration in migrations if migration.version not in recorded]


def migrate(url: str, *, root: Path | None = None) -> MigrateResult:
    """Bring the database at `url` up to the SQL under `root` (default: this package's own,
    resources.sql_root())."""
    root = (root or sql_root()).resolve()
    started = time.monotonic()
    roles = Script.load(root / "sql" / "roles.sql", root)
    auth = Script.load(root / "sql" / "auth.sql", root)
    migrations = find_migrations(root)
    layers = find_layer_scripts(root)
    checksum = layers_checksum(layers)
    result = MigrateResult(layers_checksum=checksum, layer_files=[s.rel for s in layers])

    # with several hosts, the primary (conninfo.for_component adds target_session_attrs)
    with psycopg.connect(
        for_component(url, "wagerbase migrate"), autocommit=False, client_encoding="UTF8"
    ) as conn:
        got = conn.execute("select pg_try_advisory_xact_lock(%s)", [LOCK_KEY]).fetchone()
        if got is None or not got[0]:
            log.info("waiting for another migration of this database to finish")
            conn.execute("select pg_advisory_xact_lock(%s)", [LOCK_KEY])

        log.info("roles and auth")
        _apply_roles(conn, roles)
        _apply(conn, auth)
        conn.execute(_META_DDL)

        rows = conn.execute("select version, name, checksum from wagerbase_meta.migrations")
        recorded = {str(v): (str(n), str(c)) for v, n, c in rows.fetchall()}
        pending = _check_recorded(recorded, migrations)
        if pending:
            log.info("applying %d migration(s)", len(pending))
        for migration in pending:
            _apply(conn, migration.script)
            conn.execute(
                "insert into wagerbase_meta.migrations (version, name, checksum)"
                " values (%s, %s, %s)",
                [migration.version, migration.name, migration.script.checksum],
            )
            result.applied.append(migration.script.path.name)

        row = conn.execute(
            "select checksum from wagerbase_meta.layers where name = %s", [CODE_LAYER]
        ).fetchone()
        if result.applied or row is None or row[0] != checksum:
            log.info("applying code layers (%d file(s))", len(layers))
            for script in layers:
                _apply(conn, script)
            conn.execute(
                "insert into wagerbase_meta.layers (name, checksum) values (%s, %s)"
                " on conflict (name) do update"
                " set checksum = excluded.checksum, applied_at = now()",
                [CODE_LAYER, checksum],
            )
            result.layers_applied = True
        else:
            log.info("code layers unchanged")
        conn.commit()

    result.seconds = time.monotonic() - started
    return result
