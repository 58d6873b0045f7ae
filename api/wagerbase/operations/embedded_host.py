"""What the embedded server (embedded.py) needs of this machine: as root, the system user its
programs run as and the permissions that user needs; files written whole, and secrets written
once; whether a postgres runs for a data folder; free ports on 127.0.0.1. And the embedded
server's error, raised here as there.

PostgreSQL refuses to run as root, so as root its programs run as the system user `wagerbase`,
created when missing, who owns the data folder and must reach and read the wheel's programs and
the shared libraries they load.
"""

import logging
import os
import pwd
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wagerbase.library_patches import (
    ensure_folder_permissions,
    ensure_prefix_permissions,
    wheel_libraries,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SERVER_USER = "wagerbase"  # the system user the server runs as when we are root

_permissions_done = False  # the wheel's folders are made readable once per process


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be set up, started or stopped."""


# ---- running as root --------------------------------------------------------------------------


def as_root() -> bool:
    return os.geteuid() == 0


def server_user() -> pwd.struct_passwd:
    """The system user, created when missing (by this process or a concurrent one)."""
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    log.info("creating system user %r to run PostgreSQL (it refuses to run as root)", SERVER_USER)
    done = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SERVER_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return pwd.getpwnam(SERVER_USER)  # created now, or by a concurrent process
    except KeyError:
        raise EmbeddedServerError(f"useradd {SERVER_USER} failed: {done.stderr.strip()}") from None


def give_to_server_user(path: Path) -> None:
    """As root: make `path` (itself only) the server user's; otherwise nothing."""
    if as_root():
        user = server_user()
        os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


def prepare_permissions(data_dir: Path, bin_path: Path) -> None:
    """As root: let the server user reach the data folder and read the programs of `bin_path`
    and the wheel's libraries (those once per process)."""
    global _permissions_done
    if not as_root():
        return
    give_to_server_user(data_dir)
    ensure_prefix_permissions(data_dir)
    if _permissions_done:
        return
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    install = bin_path.parent
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(install, read)
    ensure_folder_permissions(bin_path, read | execute)
    libs = wheel_libraries(bin_path)  # the shared libraries auditwheel moved
    if libs.is_dir():
        ensure_folder_permissions(libs, read)
    _permissions_done = True


# ---- files ------------------------------------------------------------------------------------


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file whole: readers see the old one or the new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def create_secret(path: Path, value: str) -> None:
    """Write a 0600 file (the server user's) unless it exists; concurrent writers agree on the
    first one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    give_to_server_user(tmp)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def read_secret(path: Path) -> str:
    return path.read_text().strip()


# ---- is it running? ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Postmaster:
    pid: int
    port: int | None
    state: str  # starting, stopping, ready, standby; '' while the server writes the file


def read_postmaster(pgdata: Path, *, remove_stale: bool = True) -> Postmaster | None:
    """The live server of a cluster, from its postmaster.pid; None if it does not run (a stale
    file is removed unless `remove_stale` is false)."""
    pid_file = pgdata / "postmaster.pid"
    try:
        lines = pid_file.read_text().splitlines()
    except FileNotFoundError:
        return None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None  # being written right now
    if not is_postgres(pid):
        if remove_stale:
            log.info("removing stale %s (pid %d is not a running postgres)", pid_file, pid)
            pid_file.unlink(missing_ok=True)
        return None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    state = lines[7].strip() if len(lines) > 7 else ""
    return Postmaster(pid=pid, port=port, state=state)


def is_postgres(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    proc = Path(f"/proc/{pid}")
    if not proc.parent.joinpath("self").exists():
        return True  # no /proc to ask: trust the pid
    try:
        # /proc/PID/stat is "PID (comm) STATE ...": a killed postmaster stays a zombie until reaped.
        comm, _, rest = (proc / "stat").read_text().partition(") ")
        return comm.endswith("(postgres") and rest[:1] not in ("Z", "X")
    except OSError:
        return False


# ---- ports ------------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port
