"""The build, beyond pyproject.toml: a wheel also carries what `wagerbase serve` needs that is not
Python, the SQL (sql/, migrations/, rpc/, policies/) and the built web app (web/dist), copied into
the package as wagerbase/bundled/ (wagerbase.resources reads them from there). An editable
install copies nothing: it reads them from the checkout."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SQL_FOLDERS = ("sql", "migrations", "rpc", "policies")  # as wagerbase.resources.SQL_FOLDERS


class BuildWithBundle(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        dist = ROOT / "web" / "dist"
        if not (dist / "index.html").is_file():
            raise SystemExit("web/dist holds no build: run `npm ci && npm run build` in web/")
        bundle = Path(self.build_lib) / "wagerbase" / "bundled"
        shutil.rmtree(bundle, ignore_errors=True)
        for folder in SQL_FOLDERS:
            shutil.copytree(ROOT / folder, bundle / folder)
        shutil.copytree(dist, bundle / "web")


setup(cmdclass={"build_py": BuildWithBundle})
