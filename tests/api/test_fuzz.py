"""A schema-driven fuzz run: schemathesis reads /schema (Litestar's OpenAPI document) and calls
every operation with generated input, as an anonymous caller, a bettor and an admin. It must find
no 5xx and no response that breaks its documented schema. Bounded by examples and time, and run
with a fixed seed so a failure reproduces; on its own node and database, so it disturbs nothing."""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.pgserver import PgServer
from tests.serving import Node, new_secret

EXAMPLES = 10
SECONDS = 40


@pytest.fixture(scope="module")
def fuzz_node(
    pg_server: PgServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    with pg_server.database_from(template_db, "wb_fuzz") as url:
        node = Node(url, new_secret(), tmp_path_factory.mktemp("fuzz") / "serve.log").start()
        try:
            yield node
        finally:
            node.stop()


def _token(node: Node, email: str, *, admin: bool) -> str:
    password = "fuzzing password 1"
    signed_up = httpx.post(
        f"{node.url}/auth/v1/signup", json={"email": email, "password": password}
    )
    assert signed_up.status_code == 200, signed_up.text
    if admin:
        with psycopg.connect(node.database_url, autocommit=True) as conn:
            conn.execute("select app._set_admin(%s, true)", [email])
    signed_in = httpx.post(
        f"{node.url}/auth/v1/token?grant_type=password",
        json={"email": email, "password": password},
    )
    assert signed_in.status_code == 200, signed_in.text
    token: str = signed_in.json()["access_token"]
    return token


@pytest.mark.parametrize("persona", ["anonymous", "bettor", "admin"])
def test_no_server_errors_and_every_answer_matches_its_schema(
    fuzz_node: Node, persona: str, tmp_path: Path
) -> None:
    headers: list[str] = []
    if persona != "anonymous":
        token = _token(fuzz_node, f"{persona}@fuzz.test", admin=persona == "admin")
        headers = ["-H", f"Authorization: Bearer {token}"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{fuzz_node.url}/schema/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            str(EXAMPLES),
            "--max-time",
            str(SECONDS),
            "--seed",
            "20261121",
            "--phases",
            "examples,coverage,fuzzing",
            "--report-dir",
            str(tmp_path),
            *headers,
        ],
        capture_output=True,
        text=True,
        timeout=SECONDS * 3,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
