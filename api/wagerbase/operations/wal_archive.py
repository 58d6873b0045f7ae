"""The WAL archive a restore replays (restore.py): which one, whether the server can read it,
and how far its segments run without a gap."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from wagerbase.operations.backup import BackupInfo, BackupRefused
from wagerbase.operations.embedded import EmbeddedServer

_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$")


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


def archive_for(
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


def check_readable(server: EmbeddedServer, archive: Path) -> None:
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
