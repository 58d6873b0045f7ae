"""A base backup: `take_backup` (`wagerbase db backup`), verified (backup.py says what it leaves
in its folder)."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from datetime import UTC
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from wagerbase.conninfo import libpq_env, redact
from wagerbase.operations.backup import (
    BASE,
    DEFAULT_SEGMENT_SIZE,
    FORMATS,
    INFO,
    SECRETS,
    Backup,
    BackupError,
    BackupInfo,
    BackupRefused,
    clean_env,
    find_backup,
    format_lsn,
    is_empty_folder,
    programs_folder,
    programs_major,
    run_program,
    tar_file,
    unpack,
)
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.sql_files import statements

QUERIES = statements(__package__, "base_backup.sql")


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
    if dest.exists() and not is_empty_folder(dest):
        raise BackupRefused(f"{dest} exists and is not an empty folder: back up into a new one")
    programs = programs_folder(bin_path)
    major = programs_major(programs)
    params = conninfo_to_dict(url)
    with psycopg.connect(url, autocommit=True) as conn:
        server_major = conn.info.server_version // 10000
        if server_major != major:
            raise BackupRefused(
                f"the server is PostgreSQL {server_major} and {programs} holds {major}'s "
                f"programs: pass the bin folder of PostgreSQL {server_major} (--pg-bin)"
            )
        facts = conn.execute(QUERIES["server_facts"]).fetchone()
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
    env = {**clean_env(), **libpq_env(url), "PGAPPNAME": "wagerbase backup"}
    try:
        began = time.monotonic()
        run_program(argv, env=env)
        backup_seconds = time.monotonic() - began
        with psycopg.connect(url, autocommit=True) as conn:
            ended = conn.execute(QUERIES["server_clock"]).fetchone()
        assert ended is not None
        backup = find_backup(dest)
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


def _verify_backup(backup: Backup, programs: Path, major: int) -> None:
    """pg_verifybackup: every file against the manifest's checksums, and the WAL the backup needs
    read by pg_waldump. PostgreSQL 18's reads tar files itself, but not their WAL, which is read
    from a scratch copy; an older one verifies a scratch copy of the whole backup."""
    verifier = str(programs / "pg_verifybackup")
    if backup.format == "plain":
        run_program([verifier, "--quiet", str(backup.base)])
        return
    if major < 18:
        with tempfile.TemporaryDirectory(prefix=".verify-", dir=backup.root) as scratch:
            unpack(backup, Path(scratch) / "pgdata")
            manifest = f"--manifest-path={backup.base / 'backup_manifest'}"
            run_program([verifier, "--quiet", manifest, str(Path(scratch) / "pgdata")])
        return
    run_program([verifier, "--quiet", "--no-parse-wal", str(backup.base)])
    wal = tar_file(backup.base, "pg_wal")
    if wal is None:
        raise BackupError(f"{backup.base} has no pg_wal.tar[.gz] (taken without -X stream?)")
    with tempfile.TemporaryDirectory(prefix="wagerbase-wal-") as scratch:
        with tarfile.open(wal) as tar:
            tar.extractall(scratch, filter="data")
        _check_wal(programs, Path(scratch), backup)


def _check_wal(programs: Path, wal_dir: Path, backup: Backup) -> None:
    """pg_waldump reads every record the backup needs (start to end LSN), checking their CRCs."""
    run_program(
        [
            str(programs / "pg_waldump"),
            "--quiet",
            f"--path={wal_dir}",
            f"--timeline={backup.timeline}",
            f"--start={format_lsn(backup.start_lsn)}",
            f"--end={format_lsn(backup.end_lsn)}",
        ]
    )
