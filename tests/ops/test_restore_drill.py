"""The restore drill: a base backup and the WAL archive bring the engine back to any moment after
the backup, exactly, and nothing else.

On a server of its own, archiving its WAL as docs/backups.md says (ALTER SYSTEM archive_mode,
archive_library = 'basic_archive', a restart): migrate, then users, markets, deposits, wagers,
withdrawals and settlements, each a committed call of an engine function as a real user (as the
API makes it). `wagerbase db backup`, then more of them, a target time, more, a target LSN, more,
and the last segment archived. Every committed call is journaled with its phase, and the engine's
state (accounts, ledger, wagers, markets, settlements, users) is recorded at each target and at
the end.

Each restore goes into a new folder with `wagerbase db restore` and is checked on the restored
server: every call committed before its target is there, none after it, the state is the one
recorded at the target, and the engine's invariants hold. Then what a restore refuses: a folder
that is not new (the live one), no manifest, targets before the backup or beyond the archive, a
target without an archive, and a backup whose files differ from its manifest.

The workload, the journal, the recorded states and the checks of a restored server are in
tests/ops/drill.py.
"""

import io
import os
import shutil
import tarfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.ops.drill import (
    AFTER_LSN,
    BEFORE_BACKUP,
    BEFORE_LSN,
    BEFORE_TIME,
    FIXED,
    PHASES,
    ROW_OF,
    Committed,
    Drill,
    Workload,
    archive_the_last_segment,
    assert_restored,
    restore,
    server_now,
    state_of,
)
from wagerbase.operations.backup import BackupInfo
from wagerbase.operations.cli import main
from wagerbase.operations.embedded import EmbeddedServer
from wagerbase.operations.migrate import migrate


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    folder = tmp_path_factory.mktemp("drill")
    server = EmbeddedServer(folder / "data")
    url = server.start()
    try:
        migrate(url)
        archive = folder / "wal-archive"
        archive.mkdir()
        server.give_to_server_user(archive)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("alter system set archive_mode = on")
            conn.execute("alter system set archive_library = 'basic_archive'")
            conn.execute(f"alter system set basic_archive.archive_directory = '{archive}'")
        server.restart()

        journal: list[Committed] = []
        work = Workload(url, journal)
        try:
            for name in ("admin", "alice", "bob"):
                work.user(name, admin=name == "admin")
            work.market("Derby", "fixed_odds", ["Red", "Blue", "Green"], FIXED)
            work.market("Final", "parimutuel", ["Home", "Away"], {"rake_bps": 500})
            work.call("alice", "deposit", amount=5_000)
            work.call("bob", "deposit", amount=7_000)
            work.bet("alice", "Derby", 0, 1_200)
            work.bet("bob", "Final", 1, 900)

            with pytest.MonkeyPatch.context() as env:
                env.delenv("DATABASE_URL", raising=False)
                env.setenv("WAGERBASE_DATA_DIR", str(server.data_dir))
                assert main(["db", "backup", str(folder / "backup")]) == 0
            info = BackupInfo.read(folder / "backup")
            assert info is not None and info.archive_directory == str(archive)
            found = Drill(server, archive, folder / "backup", info, journal=journal)

            work.phase = BEFORE_TIME
            work.user("carol")
            work.call("carol", "deposit", amount=3_000)
            work.bet("alice", "Final", 0, 700)
            work.call("bob", "withdraw", amount=1_500)
            work.market("Cup", "fixed_odds", ["Yes", "No"], FIXED)
            work.bet("carol", "Cup", 1, 400)
            found.states[BEFORE_TIME] = state_of(url)
            found.target_time = server_now(url, "clock_timestamp()")

            work.phase = BEFORE_LSN
            work.settle("Final", 1)
            work.bet("bob", "Cup", 0, 600)
            work.call("alice", "deposit", amount=2_500)
            work.bet("carol", "Derby", 2, 800)
            found.states[BEFORE_LSN] = state_of(url)
            found.target_lsn = server_now(url, "pg_current_wal_insert_lsn()")

            work.phase = AFTER_LSN
            work.user("dave")
            work.call("dave", "deposit", amount=4_000)
            work.bet("dave", "Derby", 1, 1_000)
            work.settle("Derby", 0)
            work.call("alice", "withdraw", amount=2_000)
            found.states[AFTER_LSN] = state_of(url)
        finally:
            work.close()
        archive_the_last_segment(url)
        yield found
    finally:
        server.stop("immediate")


@pytest.fixture
def new_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "restored"
    try:
        yield folder
    finally:
        if (folder / "pgdata" / "PG_VERSION").exists():
            EmbeddedServer(folder).stop("immediate")


def test_the_drill_committed_calls_in_every_phase(drill: Drill) -> None:
    """The journal the restores are checked against has calls of every kind on both sides of
    each target, so no check below can pass by comparing nothing."""
    for phase in PHASES:
        assert any(done.phase == phase for done in drill.journal), phase
    assert {done.function for done in drill.journal} == set(ROW_OF)
    states = [drill.states[BEFORE_TIME], drill.states[BEFORE_LSN], drill.states[AFTER_LSN]]
    assert states[0] != states[1] != states[2]


def test_a_restore_to_a_time_has_what_committed_before_it_and_nothing_after(
    drill: Drill, new_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = restore(capsys, str(drill.backup), str(new_dir), "--target-time", drill.target_time)
    assert_restored(url, drill, (BEFORE_BACKUP, BEFORE_TIME), BEFORE_TIME)


def test_a_restore_to_an_lsn_has_what_committed_before_it_and_nothing_after(
    drill: Drill, new_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = restore(capsys, str(drill.backup), str(new_dir), "--target-lsn", drill.target_lsn)
    assert_restored(url, drill, (BEFORE_BACKUP, BEFORE_TIME, BEFORE_LSN), BEFORE_LSN)


def test_a_restore_to_the_end_of_the_archive_has_every_committed_call(
    drill: Drill,
    new_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = restore(capsys, str(drill.backup), str(new_dir))
    assert_restored(url, drill, PHASES, AFTER_LSN)

    # the restored folder is an embedded server's: the usual commands work on it
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("WAGERBASE_DATA_DIR", str(new_dir))
    assert main(["db", "check"]) == 0
    assert "invariants hold" in capsys.readouterr().out
    assert main(["db", "url"]) == 0
    assert capsys.readouterr().out.strip() == url
    # and it never archives into the source's archive
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("show archive_mode").fetchone() == ("off",)


Refusal = Callable[[Drill, Path], list[str]]

REFUSALS: dict[str, tuple[Refusal, str]] = {
    "into the live server's folder": (
        lambda d, new: [str(d.backup), str(d.server.data_dir)],
        "is not an empty folder",
    ),
    "from a folder without a manifest": (
        lambda d, new: [str(d.archive), str(new)],
        "holds no backup_manifest",
    ),
    "to a time before the backup ended": (
        lambda d, new: [str(d.backup), str(new), "--target-time", d.info.started_at],
        "before the end of the backup",
    ),
    "to an LSN before the backup ended": (
        lambda d, new: [str(d.backup), str(new), "--target-lsn", d.info.start_lsn],
        "before the end of the backup",
    ),
    "to an LSN beyond the archive": (
        lambda d, new: [str(d.backup), str(new), "--target-lsn", "FF/0"],
        "beyond the end of the archive",
    ),
    "to a time without its UTC offset": (
        lambda d, new: [str(d.backup), str(new), "--target-time", "2030-01-01T00:00:00"],
        "no UTC offset",
    ),
    "to something that is not an LSN": (
        lambda d, new: [str(d.backup), str(new), "--target-lsn", "12:00"],
        "not a WAL location",
    ),
    "with an archive that is not there": (
        lambda d, new: [str(d.backup), str(new), "--archive", str(new.parent / "nowhere")],
        "no WAL archive folder",
    ),
    "to a target with no archive to replay (pg_basebackup's folder alone)": (
        lambda d, new: [str(d.backup / "basebackup"), str(new), "--target-lsn", d.target_lsn],
        "a target needs the WAL archive",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_restore_refuses_bad_input_and_touches_nothing(
    case: str, drill: Drill, new_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_args, message = REFUSALS[case]
    live_files = sorted(p.name for p in drill.server.pgdata.iterdir())
    capsys.readouterr()
    assert main(["db", "restore", *make_args(drill, new_dir)]) == 2
    err = capsys.readouterr().err
    assert "refused" in err and message in err, err
    assert not new_dir.exists()
    assert sorted(p.name for p in drill.server.pgdata.iterdir()) == live_files
    assert drill.server.is_running()


@pytest.mark.skipif(os.geteuid() != 0, reason="the server runs as another user only as root")
def test_a_restore_refuses_an_archive_the_server_cannot_read(
    drill: Drill, tmp_path: Path, new_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = tmp_path / "private-archive"
    shutil.copytree(drill.archive, private)  # root's now: its segments are 0600
    capsys.readouterr()
    assert main(["db", "restore", str(drill.backup), str(new_dir), "--archive", str(private)]) == 2
    assert "cannot read the WAL archive" in capsys.readouterr().err
    assert not new_dir.exists()


def test_a_backup_refuses_a_folder_that_is_not_empty(
    drill: Drill, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("WAGERBASE_DATA_DIR", str(drill.server.data_dir))
    before = sorted(p.name for p in drill.backup.iterdir())
    assert main(["db", "backup", str(drill.backup)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in drill.backup.iterdir()) == before


def test_a_target_after_the_last_archived_commit_fails_and_leaves_no_folder(
    drill: Drill, new_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    later = (datetime.fromisoformat(drill.target_time) + timedelta(days=365)).isoformat()
    capsys.readouterr()
    assert main(["db", "restore", str(drill.backup), str(new_dir), "--target-time", later]) == 1
    err = capsys.readouterr().err
    assert "recovery ended before configured recovery target was reached" in err, err
    assert not new_dir.exists()


def test_a_backup_whose_files_differ_from_its_manifest_is_not_restored(
    drill: Drill, tmp_path: Path, new_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(drill.backup, tampered)
    base = tampered / "basebackup" / "base.tar.gz"
    changed = _rewrite_member(base, "postgresql.conf", lambda text: text.replace(b"#", b";", 1))
    assert changed
    capsys.readouterr()
    assert main(["db", "restore", str(tampered), str(new_dir)]) == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "postgresql.conf" in err, err
    assert not new_dir.exists()


def _rewrite_member(archive: Path, name: str, change: Callable[[bytes], bytes]) -> bool:
    """Rewrite a tar.gz with one member's bytes changed (same size); whether it was found."""
    found = False
    rewritten = archive.with_name(f"{uuid.uuid4().hex}.tmp")
    with tarfile.open(archive) as source, tarfile.open(rewritten, "w:gz") as target:
        for member in source:
            data = source.extractfile(member) if member.isfile() else None
            if data is not None and member.name.removeprefix("./") == name:
                content = change(data.read())
                assert len(content) == member.size
                target.addfile(member, io.BytesIO(content))
                found = True
            else:
                target.addfile(member, data)
    rewritten.replace(archive)
    return found
