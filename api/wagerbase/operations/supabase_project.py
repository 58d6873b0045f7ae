"""The same engine as a Supabase project: `wagerbase supabase` writes the Supabase CLI's layout in
`supabase/` from migrations/, rpc/, policies/ and sql/, and `wagerbase supabase --check` says
whether the folder is current (CI checks it: tests/supabase).

    supabase/config.toml             the project's settings for the CLI
    supabase/seed.sql                what `supabase db reset` loads after the migrations: nothing
    supabase/migrations/
      00000000000001_wagerbase_setup.sql      sql/roles.sql and sql/supabase.sql, before anything
      00000000010000_engine.sql               migrations/0001_engine.sql as it is, and so on
      00000000200001_wagerbase_code_<sum>.sql the code layers after the newest migration (0020)

The Wagerbase migrator applies the code layers (rpc/, policies/, the console) again whenever they
change; the Supabase CLI applies each migration once, by version. So the layers go as snapshots:
one file holding sql/roles.sql, sql/supabase.sql, rpc/*.sql, policies/*.sql and sql/console.sql,
named after their checksum and numbered after the newest migration. A change to the layers is a
new snapshot, and the one before becomes a stub that does nothing: a project that applied it
applies the new one too (the layers are idempotent: `create or replace`, views and policies
dropped and made again), and a new project applies every migration before the code, as the
migrator does (a migration never calls the code layers' functions). Each version stays, so the
CLI's history of an existing project always matches the folder.

Left out: sql/auth.sql. Supabase has its own `auth` schema, where a project may not create
functions; the engine uses Supabase's auth.uid(), auth.role(), auth.email() and auth.jwt() as they
are (docs/supabase.md says what differs) and keeps its own rules in `app`.
"""

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from wagerbase.operations.migrate import find_layer_scripts, find_migrations
from wagerbase.resources import sql_root

FOLDER = "supabase"
SETUP_VERSION = 1
_SNAPSHOT = re.compile(r"^(?P<version>\d{14})_wagerbase_code_(?P<sum>[0-9a-f]{12})\.sql$")
_PRELUDE = ("sql/roles.sql", "sql/supabase.sql")  # before the migrations, and atop each snapshot

CONFIG = """\
# The Supabase CLI's settings for the Wagerbase engine (written by `wagerbase supabase`).
# Deploy: `supabase link --project-ref <ref>`, then `supabase db push` (docs/supabase.md).
project_id = "wagerbase"

[api]
# what PostgREST exposes: the engine's views and functions live in `public`
schemas = ["public"]
extra_search_path = ["public"]
max_rows = 1000

[db]
major_version = 15

[realtime]
enabled = true

[auth]
enabled = true
"""

SEED = """\
-- Loaded by `supabase db reset` after the migrations (written by `wagerbase supabase`). The engine
-- needs no seed: its settings (app.config) come with its migrations. Demo users and markets are
-- `wagerbase seed-demo`'s, on a Wagerbase server.
"""


_STUB = """\
-- Written by `wagerbase supabase`: the engine's code as it was when this version was made. A later
-- snapshot holds the whole code and comes after it: a project that applied this version applies
-- that one too, so this one now does nothing.
select 1;
"""


def _generated(source: str) -> str:
    return f"-- Written by `wagerbase supabase` from {source}: edit that, not this.\n\n"


def _version(migration: int, step: int) -> str:
    return f"{migration:010d}{step:04d}"


@dataclass
class Project:
    """What `supabase/` should hold: file name (relative to the folder) -> text."""

    files: dict[str, str] = field(default_factory=dict)
    new_snapshot: str | None = None  # the snapshot this run adds, if the layers changed


def _concatenated(root: Path, names: list[str]) -> str:
    """The files one after another, each under its name; `reset all` between them, as the
    migrator runs each file with the settings of none before it."""
    parts = []
    for name in names:
        text = (root / name).read_text(encoding="utf-8").rstrip("\n")
        parts.append(f"-- ==== {name}\nreset all;\n\n{text}\n")
    return "\n".join(parts)


def plan(root: Path | None = None, folder: Path | None = None) -> Project:
    """The project for the SQL under `root`, given what `folder` (default root/supabase) holds
    already: its snapshots are kept, and a new one is added when the layers changed."""
    root = (root or sql_root()).resolve()
    folder = folder or root / FOLDER
    project = Project()
    project.files["config.toml"] = CONFIG
    project.files["seed.sql"] = SEED

    migrations = find_migrations(root)
    setup = _generated(" and ".join(_PRELUDE)) + _concatenated(root, list(_PRELUDE))
    project.files[f"migrations/{_version(0, SETUP_VERSION)}_wagerbase_setup.sql"] = setup
    for migration in migrations:
        name = f"migrations/{_version(int(migration.version), 0)}_{migration.name}.sql"
        text = migration.script.sql.decode("utf-8")
        project.files[name] = _generated(migration.script.rel) + text

    layers = [
        *_PRELUDE,
        *(s.rel for s in find_layer_scripts(root) if s.rel != "sql/seed.sql"),
    ]
    snapshot = _generated("the code layers: " + ", ".join(layers)) + _concatenated(root, layers)
    checksum = hashlib.sha256(snapshot.encode()).hexdigest()[:12]
    written = sorted(
        (match["version"], match["sum"], path.name)
        for path in (folder / "migrations").glob("*.sql")
        if (match := _SNAPSHOT.match(path.name))
    )
    newest = int(migrations[-1].version) if migrations else 0
    latest = written[-1] if written else None
    if latest is None or latest[1] != checksum or int(latest[0]) < int(_version(newest, 0)):
        steps = [int(v[10:]) for v, _, _ in written if int(v[:10]) == newest]
        name = f"migrations/{_version(newest, max(steps, default=0) + 1)}_wagerbase_code_"
        project.new_snapshot = f"{name}{checksum}.sql"
        current = project.new_snapshot
    else:
        current = f"migrations/{latest[2]}"
    for _, _, name in written:  # every version stays; the ones before the current do nothing
        project.files[f"migrations/{name}"] = _STUB
    project.files[current] = snapshot
    return project


def differences(root: Path | None = None) -> list[str]:
    """What `supabase/` lacks or holds otherwise than `wagerbase supabase` would write it; empty
    when it is current."""
    root = (root or sql_root()).resolve()
    folder = root / FOLDER
    project = plan(root)
    found = []
    if project.new_snapshot is not None:
        found.append(f"the code layers changed: {project.new_snapshot} is to be written")
    for name, text in project.files.items():
        path = folder / name
        if name == project.new_snapshot:
            continue
        if not path.is_file():
            found.append(f"{FOLDER}/{name} is missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"{FOLDER}/{name} differs from its source")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for name in sorted(present - set(project.files)):
        found.append(f"{FOLDER}/{name} is not written by `wagerbase supabase`")
    return found


def write(root: Path | None = None) -> list[str]:
    """Write `supabase/` (what changed only); the names written."""
    root = (root or sql_root()).resolve()
    folder = root / FOLDER
    written = []
    for name, text in plan(root).files.items():
        path = folder / name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(f"{FOLDER}/{name}")
    return written
