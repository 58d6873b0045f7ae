"""Physical backups and point-in-time restores, with PostgreSQL's own programs only.

`take_backup(url, dest)` runs `pg_basebackup -X stream` against the server (the whole cluster:
every database, role and setting), with a backup manifest of SHA-256 checksums, verifies it with
`pg_verifybackup` (and `pg_waldump` for the WAL of a tar backup), and leaves in `dest`:

    basebackup/            pg_basebackup's output: base.tar.gz, pg_wal.tar.gz and backup_manifest
                           (format tar, the default), or a data directory (format plain)
    wagerbase-backup.json  what was backed up: when, the WAL range, the server, its WAL archive
    superuser-password     the embedded server's secrets (0600), when it was the source
    jwt-secret

`restore(backup, data_dir)` makes a new folder laid out as the embedded server's (`pgdata/` and
the secrets), checks the copy against the manifest, replays the WAL archive (the server's own
`archive_library = 'basic_archive'`, see docs/backups.md) up to a target time or LSN, or to the
archive's end, lets the server promote itself, and leaves it running on a free port of 127.0.0.1.
A restored copy never archives into the source's archive (`archive_mode = 'off'` is appended to
its postgresql.auto.conf) and never waits for the source's synchronous standbys.

Both refuse (BackupRefused) before touching anything when what they are given is wrong.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from contextlib import suppress
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from wagerbase.conninfo import libpq_env, redact
from wagerbase.operations.embedded import (
    BIN_PATH,
    DATABASE,
    HOST,
    SUPERUSER,
    EmbeddedServer,
    EmbeddedServerError,
)

BASE = "basebackup"
INFO = "wagerbase-backup.json"
SECRETS = ("superuser-password", "jwt-secret")
FORMATS = ("tar", "plain")
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
RESTORE_TIMEOUT_S = 3600.0

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$")
# What the server logs about where a recovery went, shown after a restore.
_RECOVERY_LINES = re.compile(
    r"recovery stopping|last completed transaction|redo done|consistent recovery state"
    r"|selected new timeline|archive recovery complete|database system is ready"
)


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
class _Backup:
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


def _find_backup(path: Path) -> _Backup:
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
    return _Backup(path, base, fmt, manifest, BackupInfo.read(path))


def _tar(base: Path, name: str) -> Path | None:
    for candidate in (base / f"{name}.tar.gz", base / f"{name}.tar"):
        if candidate.is_file():
            return candidate
    return None


def _pg_version_of(backup: _Backup) -> int:
    """The major version of the cluster in a backup (its PG_VERSION file)."""
    if backup.format == "plain":
        return int((backup.base / "PG_VERSION").read_text().strip())
    archive = _tar(backup.base, "base")
    assert archive is not None
    with tarfile.open(archive) as tar:
        for member in tar:
            if member.name.removeprefix("./") == "PG_VERSION":
                handle = tar.extractfile(member)
                assert handle is not None
                return int(handle.read().decode().strip())
    raise BackupRefused(f"{archive} has no PG_VERSION")


# ---- the programs -----------------------------------------------------------------------------


def _programs(bin_path: Path | str | None) -> Path:
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


def _run(argv: list[str], *, env: dict[str, str] | None = None) -> str:
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


def _clean_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


# ---- backup -----------------------------------------------------------------------------------


def _is_empty_folder(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


def _size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def take_backup(
    url: str,
    dest: Path | str,
    *,
    fmt: str = "tar",
    bin_path: Path | str | None = None,
    secrets_of: EmbeddedServer | None = None,
    verify: bool = True,
) -> BackupInfo:
    """A verified base backup of the server `url` connects to, in the new folder `dest`.

    Callers: an operator (the `wagerbase db backup` command), as a role with REPLICATION (the
    superuser). `secrets_of`: the embedded server whose secrets to keep with the backup.
    Raises BackupRefused (dest not new and empty, unknown format, programs of another major
    version than the server's) and BackupError (pg_basebackup or the verification failed; what it
    wrote is removed).
    """
    dest = Path(dest).expanduser().resolve()
    if fmt not in FORMATS:
        raise BackupRefused(f"unknown format {fmt!r}: {' or '.join(FORMATS)}")
    if dest.exists() and not _is_empty_folder(dest):
        raise BackupRefused(f"{dest} exists and is not an empty folder: back up into a new one")
    programs = _programs(bin_path)
    major = programs_major(programs)
    params = conninfo_to_dict(url)
    with psycopg.connect(url, autocommit=True) as conn:
        server_major = conn.info.server_version // 10000
        if server_major != major:
            raise BackupRefused(
                f"the server is PostgreSQL {server_major} and {programs} holds {major}'s "
                f"programs: pass the bin folder of PostgreSQL {server_major} (--pg-bin)"
            )
        facts = conn.execute(
            """select current_setting('server_version'), system_identifier::text,
                      current_setting('archive_mode'), current_setting('archive_library'),
                      current_setting('basic_archive.archive_directory', true),
                      current_setting('archive_command'),
                      (select setting::bigint from pg_catalog.pg_settings
                       where name = 'wal_segment_size'),
                      current_database(), current_user, clock_timestamp()
               from pg_catalog.pg_control_system()"""
        ).fetchone()
    assert facts is not None
    (version, system_id, archive_mode, library, directory, command, segment, db, user, started) = (
        facts
    )
    created = not dest.exists()
    dest.mkdir(mode=0o700, parents=True, exist_ok=True)
    base = dest / BASE
    label = f"wagerbase {started.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    argv = [
        str(programs / "pg_basebackup"),
        f"--pgdata={base}",
        f"--format={fmt}",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--manifest-checksums=SHA256",
        f"--label={label}",
        "--no-password",
    ]
    if fmt == "tar":
        argv.append("--compress=gzip")
    env = {**_clean_env(), **libpq_env(url), "PGAPPNAME": "wagerbase backup"}
    try:
        began = time.monotonic()
        _run(argv, env=env)
        backup_seconds = time.monotonic() - began
        with psycopg.connect(url, autocommit=True) as conn:
            ended = conn.execute("select clock_timestamp()").fetchone()
        assert ended is not None
        backup = _find_backup(dest)
        verify_seconds = None
        if verify and (programs / "pg_verifybackup").is_file():
            began = time.monotonic()
            _verify_backup(backup, programs, major)
            verify_seconds = time.monotonic() - began
        kept = False
        if secrets_of is not None:
            for name in SECRETS:
                source = secrets_of.data_dir / name
                if source.is_file():
                    shutil.copyfile(source, dest / name)
                    (dest / name).chmod(0o600)
                    kept = True
        info = BackupInfo(
            format=fmt,
            label=label,
            source=redact(url),
            user=str(params.get("user") or user),
            database=str(params.get("dbname") or db),
            server_version=version,
            server_major=server_major,
            system_identifier=system_id,
            timeline=backup.timeline,
            start_lsn=format_lsn(backup.start_lsn),
            end_lsn=format_lsn(backup.end_lsn),
            wal_segment_size=int(segment or DEFAULT_SEGMENT_SIZE),
            started_at=started.isoformat(),
            ended_at=ended[0].isoformat(),
            archive_mode=archive_mode,
            archive_library=library,
            archive_directory=(directory or None) if library == "basic_archive" else None,
            archive_command=command,
            backup_seconds=round(backup_seconds, 3),
            verify_seconds=None if verify_seconds is None else round(verify_seconds, 3),
            size_bytes=_size_of(base),
            secrets=kept,
        )
        info.write(dest)
    except BaseException:
        for name in (BASE, INFO, *SECRETS):
            target = dest / name
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
            else:
                target.unlink(missing_ok=True)
        if created:
            dest.rmdir()
        raise
    return info


def _verify_backup(backup: _Backup, programs: Path, major: int) -> None:
    """pg_verifybackup: every file against the manifest's checksums, and the WAL the backup needs
    read by pg_waldump. PostgreSQL 18's reads tar files itself, but not their WAL, which is read
    from a scratch copy; an older one verifies a scratch copy of the whole backup."""
    verifier = str(programs / "pg_verifybackup")
    if backup.format == "plain":
        _run([verifier, "--quiet", str(backup.base)])
        return
    if major < 18:
        with tempfile.TemporaryDirectory(prefix=".verify-", dir=backup.root) as scratch:
            _unpack(backup, Path(scratch) / "pgdata")
            manifest = f"--manifest-path={backup.base / 'backup_manifest'}"
            _run([verifier, "--quiet", manifest, str(Path(scratch) / "pgdata")])
        return
    _run([verifier, "--quiet", "--no-parse-wal", str(backup.base)])
    wal = _tar(backup.base, "pg_wal")
    if wal is None:
        raise BackupError(f"{backup.base} has no pg_wal.tar[.gz] (taken without -X stream?)")
    with tempfile.TemporaryDirectory(prefix="wagerbase-wal-") as scratch:
        with tarfile.open(wal) as tar:
            tar.extractall(scratch, filter="data")
        _check_wal(programs, Path(scratch), backup)


def _check_wal(programs: Path, wal_dir: Path, backup: _Backup) -> None:
    """pg_waldump reads every record the backup needs (start to end LSN), checking their CRCs."""
    _run(
        [
            str(programs / "pg_waldump"),
            "--quiet",
            f"--path={wal_dir}",
            f"--timeline={backup.timeline}",
            f"--start={format_lsn(backup.start_lsn)}",
            f"--end={format_lsn(backup.end_lsn)}",
        ]
    )


# ---- the WAL archive --------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveScan:
    """The WAL a restore can replay: the backup's own segments, then the archive's (of the
    backup's timeline or a later one) for as long as they follow each other without a gap."""

    segments: int  # archived segments from the backup's start on
    end_lsn: int  # where the gap-free run ends
    first_missing: str | None  # the segment missing before later ones, if any


def scan_archive(
    archive: Path, timeline: int, start_lsn: int, end_lsn: int, segment_size: int
) -> ArchiveScan:
    per_id = 0x100000000 // segment_size
    archived: set[int] = set()
    for path in archive.iterdir():
        found = _SEGMENT.match(path.name)
        if found is not None and not found[4] and int(found[1], 16) >= timeline:
            archived.add(int(found[2], 16) * per_id + int(found[3], 16))
    first = start_lsn // segment_size
    present = archived | set(range(first, end_lsn // segment_size + 1))
    number = first
    while number in present:
        number += 1
    missing = None
    if any(n > number for n in archived):
        missing = f"{timeline:08X}{number // per_id:08X}{number % per_id:08X}"
    return ArchiveScan(
        segments=sum(1 for n in archived if n >= first),
        end_lsn=number * segment_size,
        first_missing=missing,
    )


# ---- restore ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Restored:
    """A restored server, running."""

    data_dir: Path
    port: int
    url: str  # with the password when the backup kept the secrets, else without
    has_password: bool
    target: str
    recovery: list[str]  # the server's own lines on where the replay went
    warnings: list[str]
    seconds: float


def restore(
    backup_path: Path | str,
    data_dir: Path | str,
    *,
    archive: Path | str | None = None,
    target_time: datetime | None = None,
    target_lsn: str | None = None,
    bin_path: Path | str | None = None,
    verify: bool = True,
    timeout: float = RESTORE_TIMEOUT_S,
) -> Restored:
    """Restore a backup into the new folder `data_dir` and start it: to `target_time` or
    `target_lsn` (inclusive) by replaying the WAL archive, or to the archive's end without a target
    (to the backup's own end when there is no archive).

    Callers: an operator (the `wagerbase db restore` command). The archive is `archive`, else the
    one the backup names when it is on this machine.
    Raises BackupRefused (data_dir not new, no manifest, a target before the backup's end or
    beyond the archive's, a target without an archive, a backup of another major version than
    the programs) and BackupError (the copy does not match its manifest, or the server could not
    recover to the target; the folder it made is removed).
    """
    if target_time is not None and target_lsn is not None:
        raise BackupRefused("give one target: a time or an LSN")
    data_dir = Path(data_dir).expanduser().resolve()
    if data_dir.exists() and not _is_empty_folder(data_dir):
        raise BackupRefused(
            f"{data_dir} exists and is not an empty folder: a restore goes into a new folder, "
            "never over a cluster"
        )
    backup = _find_backup(Path(backup_path).expanduser().resolve())
    info = backup.info
    programs = _programs(bin_path)
    major = programs_major(programs)
    cluster_major = _pg_version_of(backup)
    if cluster_major != major:
        raise BackupRefused(
            f"the backup is of PostgreSQL {cluster_major} and {programs} holds {major}'s "
            f"programs: pass the bin folder of PostgreSQL {cluster_major} (--pg-bin)"
        )

    warnings: list[str] = []
    archive_dir = _archive_for(archive, info, warnings)
    settings: dict[str, str] = {}
    target = "the end of the backup"
    if target_lsn is not None:
        lsn = parse_lsn(target_lsn)
        if lsn < backup.end_lsn:
            raise BackupRefused(
                f"target LSN {format_lsn(lsn)} is before the end of the backup "
                f"({format_lsn(backup.end_lsn)}): restore an older backup"
            )
        settings["recovery_target_lsn"] = format_lsn(lsn)
        target = f"LSN {format_lsn(lsn)}"
    if target_time is not None:
        if target_time.tzinfo is None:
            raise BackupRefused("the target time needs a UTC offset")
        if info is not None and target_time < datetime.fromisoformat(info.ended_at):
            raise BackupRefused(
                f"target time {target_time.isoformat()} is before the end of the backup "
                f"({info.ended_at}): restore an older backup"
            )
        settings["recovery_target_time"] = target_time.isoformat()
        target = f"time {target_time.isoformat()}"
    if settings and archive_dir is None:
        raise BackupRefused(
            "a target needs the WAL archive, and "
            + (
                "the backup names none"
                if info is None or not info.archive_directory
                else f"the one the backup names ({info.archive_directory}) is not here"
            )
            + ": pass --archive DIR"
        )
    if archive_dir is not None:
        segment_size = info.wal_segment_size if info else DEFAULT_SEGMENT_SIZE
        scan = scan_archive(
            archive_dir, backup.timeline, backup.start_lsn, backup.end_lsn, segment_size
        )
        if scan.first_missing is not None:
            warnings.append(
                f"the archive lacks segment {scan.first_missing}: the replay stops before it"
            )
        if target_lsn is not None and parse_lsn(target_lsn) >= scan.end_lsn:
            raise BackupRefused(
                f"target LSN {target_lsn} is beyond the end of the archive "
                f"({format_lsn(scan.end_lsn)})"
            )
        if not settings:
            target = "the end of the archive"

    began = time.monotonic()
    server = EmbeddedServer(data_dir, bin_path=programs)
    created = not data_dir.exists()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if archive_dir is not None:
            server.give_to_server_user(data_dir)
            _check_readable(server, archive_dir)
        _unpack(backup, server.pgdata)
        if verify and (programs / "pg_verifybackup").is_file():
            _run(
                [
                    str(programs / "pg_verifybackup"),
                    "--quiet",
                    f"--manifest-path={backup.base / 'backup_manifest'}",
                    str(server.pgdata),
                ]
            )
        if info is not None and info.secrets:
            for name in SECRETS:
                if (backup.root / name).is_file():
                    shutil.copyfile(backup.root / name, data_dir / name)
                    (data_dir / name).chmod(0o600)
        _append_overrides(server.pgdata)
        run_settings = {"logging_collector": "off"}
        if archive_dir is not None:
            (server.pgdata / "recovery.signal").write_text("")
            restore_command = f"cp {shlex.quote(str(archive_dir))}/%f %p"
            run_settings |= {
                "restore_command": restore_command,
                "recovery_target_action": "promote",
                "recovery_target_timeline": "latest",
                "hot_standby": "on",
                **settings,
            }
        server.give_to_server_user(data_dir)
        log_size = server.log_file.stat().st_size if server.log_file.exists() else 0
        try:
            port = server.start_existing(run_settings)
        except EmbeddedServerError as error:
            raise BackupError(_recovery_failure(str(error), target)) from None
        _wait_until_promoted(server, timeout, log_size, target)
        recovery = [
            line.strip()
            for line in _log_since(server.log_file, log_size).splitlines()
            if _RECOVERY_LINES.search(line)
        ]
    except BaseException:
        with suppress(EmbeddedServerError, OSError):
            server.stop("immediate")
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            for child in data_dir.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
    database = info.database if info else DATABASE
    if (data_dir / "superuser-password").is_file():
        url = server.url_for(database)
    else:
        user = info.user if info else SUPERUSER
        url = f"postgresql://{user}@{HOST}:{port}/{database}"
    return Restored(
        data_dir=data_dir,
        port=port,
        url=url,
        has_password=(data_dir / "superuser-password").is_file(),
        target=target,
        recovery=recovery,
        warnings=warnings,
        seconds=time.monotonic() - began,
    )


def _archive_for(
    archive: Path | str | None, info: BackupInfo | None, warnings: list[str]
) -> Path | None:
    if archive is not None:
        folder = Path(archive).expanduser().resolve()
        if not folder.is_dir():
            raise BackupRefused(f"there is no WAL archive folder at {folder}")
        return folder
    if info is not None and info.archive_directory:
        folder = Path(info.archive_directory)
        if folder.is_dir():
            return folder
        warnings.append(f"the backup's WAL archive {folder} is not here: not replayed")
    return None


def _check_readable(server: EmbeddedServer, archive: Path) -> None:
    """The server runs restore_command as its user: it must read the archive and its files."""
    paths = [archive, *sorted(p for p in archive.iterdir() if _SEGMENT.match(p.name))[:1]]
    test = ["test", "-x", str(archive)]
    for path in paths:
        test += ["-a", "-r", str(path)]
    if server.run(test, check=False).returncode != 0:
        raise BackupRefused(
            f"the server's OS user cannot read the WAL archive {archive}: let it, or copy the "
            "archive to a folder it can read and pass --archive"
        )


def _unpack(backup: _Backup, pgdata: Path) -> None:
    """The backup's files into the new pgdata (0700), the manifest left out."""
    try:
        _copy_out(backup, pgdata)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise BackupError(f"cannot unpack {backup.base}: {error}") from None
    pgdata.chmod(0o700)


def _copy_out(backup: _Backup, pgdata: Path) -> None:
    if backup.format == "plain":
        shutil.copytree(
            backup.base, pgdata, symlinks=True, ignore=shutil.ignore_patterns("backup_manifest")
        )
    else:
        pgdata.mkdir(mode=0o700)
        base = _tar(backup.base, "base")
        wal = _tar(backup.base, "pg_wal")
        assert base is not None
        with tarfile.open(base) as tar:
            tar.extractall(pgdata, filter="data")
        if wal is not None:
            with tarfile.open(wal) as tar:
                tar.extractall(pgdata / "pg_wal", filter="data")


def _append_overrides(pgdata: Path) -> None:
    """Settings every later start of the copy keeps (ALTER SYSTEM's file, read last): it must not
    archive into the source's WAL archive, nor wait for the source's synchronous standbys, and
    reads the pg_hba.conf and pg_ident.conf it came with (Patroni points at the source's paths)."""
    lines = [
        f"# added by `wagerbase db restore` at {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        "archive_mode = 'off'",
        "synchronous_standby_names = ''",
    ]
    for setting, name in (("hba_file", "pg_hba.conf"), ("ident_file", "pg_ident.conf")):
        if (pgdata / name).is_file():
            lines.append(f"{setting} = '{pgdata / name}'")
    auto = pgdata / "postgresql.auto.conf"
    existing = auto.read_text() if auto.exists() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    auto.write_text(existing + "\n".join(lines) + "\n")


def _wait_until_promoted(
    server: EmbeddedServer, timeout: float, log_size: int, target: str
) -> None:
    """Until the control file says 'in production': the server has left recovery (it records
    that after it lets writes in). A hot standby's postmaster.pid says 'ready' already."""
    deadline = time.monotonic() + timeout
    controldata = [str(server.bin_path / "pg_controldata"), "-D", str(server.pgdata)]
    while True:
        if server.state() is None:
            raise BackupError(_recovery_failure(_log_since(server.log_file, log_size), target))
        done = subprocess.run(controldata, capture_output=True, text=True, check=False)
        if re.search(r"^Database cluster state:\s+in production$", done.stdout, re.MULTILINE):
            return
        if time.monotonic() > deadline:
            log = _log_since(server.log_file, log_size)[-4000:]
            raise BackupError(
                f"the replay to {target} did not finish within {timeout:.0f} s; the server was "
                f"stopped. Its log:\n{log}"
            )
        time.sleep(0.2)


def _recovery_failure(log: str, target: str) -> str:
    lines = [
        line.strip()
        for line in log.splitlines()
        if re.search(r"FATAL|PANIC|ERROR|recovery|redo", line) and "cp: cannot stat" not in line
    ]
    hint = ""
    if "recovery ended before configured recovery target was reached" in log:
        hint = (
            f"\nThe archive holds no commit after {target}: restore without a target to "
            "replay all of it, or give an earlier target."
        )
    return "the restored server did not recover:\n" + "\n".join(lines[-20:]) + hint


def _log_since(path: Path, offset: int) -> str:
    try:
        with open(path, errors="replace") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return ""
