"""Physical backups and point-in-time restores, with PostgreSQL's own programs only.

`take_backup(url, dest)` (base_backup.py) runs `pg_basebackup -X stream` against the server (the
whole cluster: every database, role and setting), with a backup manifest of SHA-256 checksums,
verifies it with `pg_verifybackup` (and `pg_waldump` for the WAL of a tar backup), and leaves in
`dest`:

    basebackup/            pg_basebackup's output: base.tar.gz, pg_wal.tar.gz and backup_manifest
                           (format tar, the default), or a data directory (format plain)
    wagerbase-backup.json  what was backed up: when, the WAL range, the server, its WAL archive
    superuser-password     the embedded server's secrets (0600), when it was the source
    jwt-secret

`restore(backup, data_dir)` (restore.py) makes a new folder laid out as the embedded server's
(`pgdata/` and the secrets), checks the copy against the manifest, replays the WAL archive (the
server's own `archive_library = 'basic_archive'`, see docs/backups.md; wal_archive.py) up to a
target time or LSN, or to the archive's end, lets the server promote itself, and leaves it running
on a free port of 127.0.0.1. A restored copy never archives into the source's archive
(`archive_mode = 'off'` is appended to its postgresql.auto.conf) and never waits for the source's
synchronous standbys.

Both refuse (BackupRefused) before touching anything when what they are given is wrong.

This module holds what both know: the errors, LSNs and times, what a backup holds (its facts,
its manifest, its files), and running PostgreSQL's programs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import zlib
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from wagerbase.operations.embedded import BIN_PATH

BASE = "basebackup"
INFO = "wagerbase-backup.json"
SECRETS = ("superuser-password", "jwt-secret")
FORMATS = ("tar", "plain")
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


class BackupError(RuntimeError):
    """A backup or restore failed."""


class BackupRefused(BackupError):
    """A backup or restore was refused before it started: what it was given is wrong."""


# ---- LSNs and times -------------------------------------------------------------------------


def parse_lsn(text: str) -> int:
    """A WAL location 'X/Y' (hexadecimal) as an integer; BackupRefused when it is not one."""
    found = _LSN.match(text.strip())
    if found is None:
        raise BackupRefused(f"{text!r} is not a WAL location (an LSN such as 0/3000028)")
    return (int(found[1], 16) << 32) | int(found[2], 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its UTC offset; BackupRefused without one (it would be ambiguous)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BackupRefused(
            f"{text!r} is not a time (ISO 8601, e.g. 2026-11-21T06:15:24+00:00)"
        ) from None
    if when.tzinfo is None:
        raise BackupRefused(f"{text!r} has no UTC offset: add one (+00:00 for UTC)")
    return when


# ---- what a backup holds ----------------------------------------------------------------------


@dataclass(frozen=True)
class BackupInfo:
    """wagerbase-backup.json: the facts about one backup."""

    format: str
    label: str
    source: str  # the server's URL, password hidden
    user: str
    database: str
    server_version: str
    server_major: int
    system_identifier: str
    timeline: int
    start_lsn: str
    end_lsn: str
    wal_segment_size: int
    started_at: str  # the server's clock before the backup started
    ended_at: str  # the server's clock after it ended: a target time must not be earlier
    archive_mode: str
    archive_library: str
    archive_directory: str | None  # basic_archive's folder, when that is the archiver
    archive_command: str
    backup_seconds: float
    verify_seconds: float | None  # None: not verified (pg_verifybackup missing, or skipped)
    size_bytes: int
    secrets: bool  # superuser-password and jwt-secret came along (the embedded server's)

    def write(self, folder: Path) -> None:
        (folder / INFO).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> BackupInfo | None:
        try:
            data = json.loads((folder / INFO).read_text())
        except FileNotFoundError:
            return None
        except ValueError as error:
            raise BackupRefused(f"{folder / INFO} is not valid JSON: {error}") from None
        names = {field.name for field in fields(cls)}
        missing = names - data.keys()
        if missing:
            raise BackupRefused(f"{folder / INFO} lacks {', '.join(sorted(missing))}")
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class Backup:
    """A backup found on disk: pg_basebackup's folder, its format, manifest and our facts."""

    root: Path
    base: Path
    format: str
    manifest: dict[str, Any]
    info: BackupInfo | None

    @property
    def timeline(self) -> int:
        return int(self.manifest["WAL-Ranges"][0]["Timeline"])

    @property
    def start_lsn(self) -> int:
        return parse_lsn(self.manifest["WAL-Ranges"][0]["Start-LSN"])

    @property
    def end_lsn(self) -> int:
        return parse_lsn(self.manifest["WAL-Ranges"][-1]["End-LSN"])


def find_backup(path: Path) -> Backup:
    if not path.is_dir():
        raise BackupRefused(f"there is no backup folder at {path}")
    base = path / BASE if (path / BASE).is_dir() else path
    manifest_file = base / "backup_manifest"
    if not manifest_file.is_file():
        raise BackupRefused(
            f"{path} holds no backup_manifest: not a backup of `wagerbase db backup` (nor of "
            "pg_basebackup with its manifest), or an incomplete one"
        )
    try:
        manifest = json.loads(manifest_file.read_text())
        manifest["WAL-Ranges"][0]["Timeline"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise BackupRefused(f"{manifest_file} is not a backup manifest") from None
    if (base / "PG_VERSION").is_file():
        fmt = "plain"
        if any((base / "pg_tblspc").iterdir()):
            raise BackupRefused(f"{path} has tablespaces, which restore does not handle")
    elif (base / "base.tar.gz").is_file() or (base / "base.tar").is_file():
        fmt = "tar"
        others = [p.name for p in base.iterdir() if ".tar" in p.name]
        extra = sorted(set(others) - {"base.tar", "base.tar.gz", "pg_wal.tar", "pg_wal.tar.gz"})
        if extra:
            raise BackupRefused(
                f"{path} holds {', '.join(extra)}: tablespaces, or a compression other than "
                "gzip, which restore does not handle"
            )
    else:
        raise BackupRefused(f"{base} holds neither a data directory nor base.tar[.gz]")
    return Backup(path, base, fmt, manifest, BackupInfo.read(path))


def tar_file(base: Path, name: str) -> Path | None:
    for candidate in (base / f"{name}.tar.gz", base / f"{name}.tar"):
        if candidate.is_file():
            return candidate
    return None


def pg_version_of(backup: Backup) -> int:
    """The major version of the cluster in a backup (its PG_VERSION file)."""
    if backup.format == "plain":
        return int((backup.base / "PG_VERSION").read_text().strip())
    archive = tar_file(backup.base, "base")
    assert archive is not None
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name.removeprefix("./") == "PG_VERSION":
                handle = tar.extractfile(member)
                assert handle is not None
                return int(handle.read().decode().strip())
    raise BackupRefused(f"{archive} has no PG_VERSION")


# ---- the programs -----------------------------------------------------------------------------


def programs_folder(bin_path: Path | str | None) -> Path:
    return Path(bin_path).expanduser().resolve() if bin_path is not None else BIN_PATH


def programs_major(bin_path: Path) -> int:
    """The PostgreSQL major version of the programs in `bin_path`."""
    program = bin_path / "pg_basebackup"
    if not program.is_file():
        raise BackupRefused(f"{bin_path} has no pg_basebackup: not a PostgreSQL bin folder")
    done = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=True)
    found = re.search(r"\(PostgreSQL\) (\d+)", done.stdout)
    if found is None:
        raise BackupError(f"cannot tell the version of {program}: {done.stdout.strip()}")
    return int(found[1])


def run_program(argv: list[str], *, env: dict[str, str] | None = None) -> str:
    """Run a client program (as ourselves); its output, or BackupError with it."""
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        if len(lines) > 30:
            lines = [*lines[:30], f"... and {len(lines) - 30} more lines"]
        output = "\n".join(lines)
        raise BackupError(f"{Path(argv[0]).name} exited with {done.returncode}:\n{output}")
    return done.stdout + done.stderr


def clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def unpack(backup: Backup, pgdata: Path) -> None:
    """The backup's files into the new pgdata (0700), the manifest left out."""
    try:
        _copy_out(backup, pgdata)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupError(f"cannot unpack {backup.base}: {error}") from None
    pgdata.chmod(0o700)


def _copy_out(backup: Backup, pgdata: Path) -> None:
    if backup.format == "plain":
        shutil.copytree(
            backup.base, pgdata, symlinks=True, ignore=shutil.ignore_patterns("backup_manifest")
        )
    else:
        pgdata.mkdir(mode=0o700)
        base = tar_file(backup.base, "base")
        wal = tar_file(backup.base, "pg_wal")
        assert base is not None
        with tarfile.open(base) as tar:
            tar.extractall(pgdata, filter="data")
        if wal is not None:
            with tarfile.open(wal) as tar:
                tar.extractall(pgdata / "pg_wal", filter="data")
