"""Where the files that are not Python are: the SQL (`sql/`, `migrations/`, `rpc/`, `policies/`)
and the built web app (`web/dist`).

A wheel carries them inside the package, under `wagerbase/bundled/` (setup.py copies them there
when it builds one), so an installed `wagerbase serve` needs no checkout. Running from a checkout
(an editable install, the tests, `scripts/serve`), there is no bundle and they are read from the
checkout itself, so that an edit takes effect at the next migrate or request.
"""

from importlib import resources
from pathlib import Path

BUNDLE = "bundled"  # the folder of the package that a wheel's copies go in
SQL_FOLDERS = ("sql", "migrations", "rpc", "policies")
_CHECKOUT = Path(__file__).resolve().parents[2]  # api/wagerbase/resources.py -> the checkout


def bundle() -> Path | None:
    """The installed package's bundle, or None when this package runs from a checkout."""
    found = Path(str(resources.files("wagerbase") / BUNDLE))
    return found if found.is_dir() else None


def sql_root() -> Path:
    """The folder that holds SQL_FOLDERS."""
    return bundle() or _CHECKOUT


def web_dist() -> Path:
    """The built web app's folder (it may not be built yet, in a checkout)."""
    bundled = bundle()
    return bundled / "web" if bundled is not None else _CHECKOUT / "web" / "dist"
