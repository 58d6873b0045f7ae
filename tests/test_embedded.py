"""The embedded server in a folder of its own: concurrent starts, restarts, a taken port."""

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from wagerbase.operations.embedded import HOST, EmbeddedServer

START_AND_REPORT = """
import json, sys
from wagerbase.operations.embedded import EmbeddedServer
server = EmbeddedServer(sys.argv[1])
url = server.start()
print(json.dumps({"url": url, "started_here": server.started_here}))
"""


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("embedded")
    try:
        yield folder
    finally:
        EmbeddedServer(folder).stop("immediate")


def test_processes_starting_at_once_share_one_server(data_dir: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", START_AND_REPORT, str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))

    assert len({report["url"] for report in reports}) == 1
    assert sorted(report["started_here"] for report in reports) == [False, False, True]
    with psycopg.connect(reports[0]["url"]) as conn:
        assert conn.execute("select current_database()").fetchone() == ("wagerbase",)
    assert (data_dir / "superuser-password").stat().st_mode & 0o777 == 0o600
    assert (data_dir / "jwt-secret").stat().st_mode & 0o777 == 0o600


def test_immediate_restart_keeps_committed_data(data_dir: Path) -> None:
    server = EmbeddedServer(data_dir)
    with psycopg.connect(server.start(), autocommit=True) as conn:
        conn.execute("create table if not exists kept (n int)")
        conn.execute("insert into kept values (1)")

    url = server.restart("immediate")

    assert server.started_here
    with psycopg.connect(url) as conn:
        assert conn.execute("select count(*) from kept").fetchone() == (1,)


def test_taken_port_moves_the_server(data_dir: Path) -> None:
    server = EmbeddedServer(data_dir)
    server.start()
    assert server.stop()
    old_port = server.status().port
    assert old_port is not None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # despite TIME_WAIT
        squatter.bind((HOST, old_port))
        squatter.listen()
        url = server.start()

    assert server.status().port != old_port
    assert server.status().running
    with psycopg.connect(url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
