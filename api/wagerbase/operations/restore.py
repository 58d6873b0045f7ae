"""A point-in-time restore: `restore` (`wagerbase db restore`) into a new folder, the WAL archive
replayed to a target, the server promoted and left running (backup.py tells the whole story)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from wagerbase.operations.backup import (
    DEFAULT_SEGMENT_SIZE,
    SECRETS,
    BackupError,
    BackupRefused,
    find_backup,
    format_lsn,
    is_empty_folder,
    parse_lsn,
    pg_version_of,
    programs_folder,
    programs_major,
    run_program,
    unpack,
)
from wagerbase.operations.embedded import (
    DATABASE,
    HOST,
    SUPERUSER,
    EmbeddedServer,
    EmbeddedServerError,
)
from wagerbase.operations.wal_archive import archive_for, check_readable, scan_archive

RESTORE_TIMEOUT_S = 3600.0

# What the server logs about where a recovery went, shown after a restore.
_RECOVERY_LINES = re.compile(
    r"recovery stopping|last completed transaction|redo done|consistent recovery state"
    r"|selected new timeline|archive recovery complete|database system is ready"
)


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
    if data_dir.exists() and not is_empty_folder(data_dir):
        raise BackupRefused(
            f"{data_dir} exists and is not an empty folder: a restore goes into a new folder, "
            "never over a cluster"
        )
    backup = find_backup(Path(backup_path).expanduser().resolve())
    info = backup.info
    programs = programs_folder(bin_path)
    major = programs_major(programs)
    cluster_major = pg_version_of(backup)
    if cluster_major != major:
        raise BackupRefused(
            f"the backup is of PostgreSQL {cluster_major} and {programs} holds {major}'s "
            f"programs: pass the bin folder of PostgreSQL {cluster_major} (--pg-bin)"
        )

    warnings: list[str] = []
    archive_dir = archive_for(archive, info, warnings)
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
            check_readable(server, archive_dir)
        unpack(backup, server.pgdata)
        if verify and (programs / "pg_verifybackup").is_file():
            run_program(
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
