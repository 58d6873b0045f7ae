"""The official supabase-js under Node (web/node_modules, the web app's own copy), for the tests
of what only supabase-js shows: Node and its flags, and a script's run, whose one JSON object on
stdout is what each call gave."""

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.serving import REPO

WEB = REPO / "web"


def node_command() -> list[str]:
    """Node and its flags (skips the test without Node): supabase-js makes its realtime client at
    once, which needs a global WebSocket (a flag on Node 20)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the web app needs Node.js 20)")
    if not (WEB / "node_modules" / "@supabase" / "supabase-js").is_dir():
        subprocess.run(["bash", "-c", "source scripts/_web.sh"], cwd=REPO, check=True)
    major = int(subprocess.check_output([node, "-p", "process.versions.node"]).split(b".")[0])
    return [node, "--experimental-websocket"] if major < 22 else [node]


def run_script(
    node_binary: list[str], script: str, env: dict[str, str], timeout: float = 120
) -> dict[str, Any]:
    """Run `script` in web/ (so require() finds supabase-js) with `env` added to the
    environment; the JSON object it printed."""
    done = subprocess.run(
        [*node_binary, "-e", script],
        cwd=WEB,
        env={**os.environ, **env},
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    seen: dict[str, Any] = json.loads(done.stdout)
    return seen
