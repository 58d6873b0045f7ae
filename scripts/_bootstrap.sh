# Sourced by the scripts beside it: cd to the repository root and make sure .venv has the project
# and its dev tools installed. Reinstalls only when pyproject.toml changed since the last install.
# WAGERBASE_PYTHON picks the interpreter for a new .venv (default: python3.11, else python3).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ ! -x .venv/bin/python ]]; then
    python="${WAGERBASE_PYTHON:-}"
    if [[ -z "$python" ]]; then
        if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
    fi
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "bootstrap: $python is older than Python 3.11" >&2
        exit 1
    fi
    echo "bootstrap: creating .venv with $("$python" --version)"
    "$python" -m venv .venv
fi

stamp=.venv/.wagerbase-installed
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$wanted" ]]; then
    echo "bootstrap: installing the project and its dev tools into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --progress-bar off \
        -e '.[dev]'
    echo "$wanted" >"$stamp"
fi
