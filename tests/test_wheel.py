"""A built wheel runs the product without the checkout: `pip wheel` builds it (with the SQL and
the built web app inside, setup.py), it is installed in a new virtual environment, and from a
folder outside the checkout its `wagerbase migrate` brings an empty database to exactly the
checkout's SQL and its `wagerbase serve` answers the API and serves the web app.

The new environment gets the dependencies from the test's own environment (a path file naming
its site-packages, whose own path files, the checkout's editable install among them, are not
read), so nothing is downloaded but the build's own tools, and nothing of the checkout is on its
path: the test fails if the package reads a file through the checkout.
"""

import ast
import os
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.pgserver import PgServer, unique_name
from tests.serving import REPO, Node, new_secret
from wagerbase.operations.migrate import find_layer_scripts, layers_checksum

pytestmark = pytest.mark.timeout(300)


def _sources(into: Path) -> Path:
    """The checkout's files as a fresh clone has them (tracked, or new and not ignored), and the
    built web app: the build then leaves nothing behind in the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = REPO / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    dist = REPO / "web" / "dist"
    assert (dist / "index.html").is_file(), "web/dist is not built (scripts/_web.sh builds it)"
    for source in dist.rglob("*"):
        if source.is_file():
            target = into / "web" / "dist" / source.relative_to(dist)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return into


@pytest.fixture(autouse=True)
def no_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel's processes must not find the checkout through a PYTHONPATH set for the tests."""
    monkeypatch.delenv("PYTHONPATH", raising=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new virtual environment with the wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    sources = _sources(root / "src")
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", str(sources), "--no-deps", "-q", "-w", str(wheels)], check=True)
    [wheel] = wheels.glob("wagerbase-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
    )
    return python


@pytest.fixture
def empty_database(pg_server: PgServer) -> Iterator[str]:
    name = unique_name("wb_wheel")
    url = pg_server.create_database(name, template="template0")
    try:
        yield url
    finally:
        pg_server.drop_database(name)


def test_the_installed_package_reads_nothing_from_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    where = subprocess.run(
        [
            str(installed),
            "-c",
            "import wagerbase, wagerbase.resources as r;"
            " print(wagerbase.__file__); print(r.sql_root()); print(r.web_dist())",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    venv = installed.parents[1]
    assert all(Path(path).is_relative_to(venv) for path in where), where
    assert not any(Path(path).is_relative_to(REPO) for path in where), where


def test_the_wheel_declares_every_library_the_package_imports(installed: Path) -> None:
    """A plain `pip install` of the wheel brings what `wagerbase serve` imports: each library
    the package imports directly is among the wheel's own requirements, not a development extra
    or some other library's dependency."""
    declared = subprocess.run(
        [
            str(installed),
            "-c",
            "import importlib.metadata as m, re;"
            " print('\\n'.join(re.split(r'[<>=!~;\\[ ]', r)[0].lower()"
            " for r in m.requires('wagerbase') or [] if 'extra ==' not in r))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    imported: set[str] = set()
    for path in (REPO / "api" / "wagerbase").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    libraries = sorted(imported - set(sys.stdlib_module_names) - {"wagerbase"})
    distributions = metadata.packages_distributions()
    undeclared = [
        name
        for name in libraries
        if not any(d.lower() in declared for d in distributions.get(name, [name]))
    ]
    assert libraries and undeclared == [], (undeclared, declared)


def test_the_wheel_migrates_an_empty_database_to_the_checkout_s_sql(
    installed: Path, empty_database: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database}
    done = subprocess.run(
        [str(installed.parent / "wagerbase"), "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    with psycopg.connect(empty_database) as conn:
        row = conn.execute(
            "select checksum from wagerbase_meta.layers where name = 'code'"
        ).fetchone()
        migrations = conn.execute("select count(*) from wagerbase_meta.migrations").fetchone()
    assert row == (layers_checksum(find_layer_scripts(REPO)),)
    assert migrations == (len(list((REPO / "migrations").glob("[0-9]*.sql"))),)


def test_the_wheel_serves_the_api_and_the_web_app(
    installed: Path, empty_database: str, tmp_path: Path
) -> None:
    node = Node(
        empty_database, new_secret(), tmp_path / "node.log", python=str(installed), cwd=tmp_path
    )
    node.start()
    try:
        page = httpx.get(f"{node.url}/", timeout=10)
        markets = httpx.get(
            f"{node.url}/rest/v1/markets",
            params={"select": "id,accepting_wagers,betmarket_game"},
            headers={"apikey": node.anon_key},
            timeout=10,
        )
        # BetMarket reads its statements from .sql files beside its modules: the wheel has them
        games = httpx.get(f"{node.url}/api/games", timeout=10)
    finally:
        node.stop()
    assert page.status_code == 200
    assert page.text == (REPO / "web" / "dist" / "index.html").read_text()
    assert markets.status_code == 200, markets.text
    assert markets.json() == []
    assert games.status_code == 200, games.text
    assert games.json() == {"games": []}
