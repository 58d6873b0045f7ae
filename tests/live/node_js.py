"""The official realtime-js client (supabase-js, in web/node_modules) run under Node by a test: a
script given to `node -e` in web/ (so require() finds web/node_modules) prints one JSON line per
thing it sees, and `NodeClient.until` waits for one. `node_binary` (tests/live/conftest.py) finds
Node, or skips."""

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.live.realtime_fixtures import WAIT
from tests.serving import REPO

WEB = REPO / "web"
Line = dict[str, Any]


class NodeClient:
    """The Node process's JSON lines, with `until` to wait for one."""

    def __init__(self, process: asyncio.subprocess.Process, stderr: Path) -> None:
        self.process = process
        self.stderr = stderr
        self.lines: list[Line] = []

    async def until(self, matches: Callable[[Line], bool], timeout: float = WAIT) -> Line:
        for seen in self.lines:
            if matches(seen):
                return seen
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                raw = await asyncio.wait_for(self.process.stdout.readline(), max(left, 0.01))
            except TimeoutError:
                raw = b""
            if not raw:
                shown = json.dumps(self.lines)[-4000:]
                raise AssertionError(
                    f"node: nothing matched; saw {shown}\nstderr: {self.stderr.read_text()[-2000:]}"
                )
            line: Line = json.loads(raw)
            self.lines.append(line)
            if matches(line):
                return line

    async def say(self, text: str) -> None:
        """A line on the script's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        await self.process.stdin.drain()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def start(node_binary: str, script: str, env: Mapping[str, str], stderr: Path) -> NodeClient:
    """Run `script` under Node in web/, with `env` added to the environment."""
    major = int(
        subprocess.check_output([node_binary, "-p", "process.versions.node"]).split(b".")[0]
    )
    flags = ["--experimental-websocket"] if major < 22 else []  # global WebSocket on Node 20
    with stderr.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            node_binary,
            *flags,
            "-e",
            script,
            cwd=WEB,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
    return NodeClient(process, stderr)
