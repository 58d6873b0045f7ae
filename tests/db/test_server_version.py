"""The suite runs on the PostgreSQL it was asked for: the embedded server's (18), or the programs
WAGERBASE_TEST_PG_BIN names (scripts/test runs the database suite again on Debian's 15)."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.pgserver import Connection
from wagerbase import settings
from wagerbase.operations.embedded import BIN_PATH


@pytest.mark.skipif(
    settings.external_database_url() is not None,
    reason="DATABASE_URL names the server: no programs were asked for",
)
def test_the_server_is_the_major_version_of_the_programs_asked_for(conn: Connection) -> None:
    programs = Path(os.environ.get("WAGERBASE_TEST_PG_BIN") or BIN_PATH)
    said = subprocess.run(
        [str(programs / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"\(PostgreSQL\) (\d+)", said)
    assert found, said
    row = conn.execute("select current_setting('server_version_num')::int / 10000").fetchone()
    assert row == (int(found.group(1)),)
