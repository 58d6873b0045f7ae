"""Processes by pid, read from /proc, for stopping PostgreSQL processes that no parent of ours
will reap (Patroni daemonizes postgres; a killed postmaster leaves its backends behind).

A `Proc` is a pid and the process's start time: signalling it does nothing once that process is
gone, even if the pid was given to another one since.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after `comm` (state first), or None when there is no pid."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


@dataclass(frozen=True)
class Proc:
    pid: int
    started: int  # clock ticks after boot (field 22 of /proc/PID/stat)

    @classmethod
    def of(cls, pid: int) -> Proc | None:
        fields = _stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return None
        return cls(pid, int(fields[19]))

    def alive(self) -> bool:
        fields = _stat(self.pid)
        return (
            fields is not None and fields[0] not in ("Z", "X") and int(fields[19]) == self.started
        )

    def cmdline(self) -> str:
        try:
            return (PROC / str(self.pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def descendants(self) -> list[Proc]:
        """Its children, their children, and so on."""
        parents = {self.pid}
        found: list[Proc] = []
        table = []
        for entry in PROC.iterdir():
            if entry.name.isdigit():
                fields = _stat(int(entry.name))
                if fields is not None:
                    table.append((int(entry.name), int(fields[1])))
        grew = True
        while grew:
            grew = False
            for pid, ppid in table:
                if ppid in parents and pid not in parents:
                    child = Proc.of(pid)
                    parents.add(pid)
                    grew = True
                    if child is not None:
                        found.append(child)
        return found


def wait_gone(processes: list[Proc], timeout: float) -> list[Proc]:
    """Wait until none of `processes` is alive or `timeout` passed; returns those still alive."""
    deadline = time.monotonic() + timeout
    alive = [p for p in processes if p.alive()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if p.alive()]
    return alive
