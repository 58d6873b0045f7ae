# Sourced by scripts/test: the browser tests (tests/web) drive Debian's chromium. Install it when
# /usr/bin/chromium is missing: as root, or through sudo when there is one; else say what to do.

if [[ ! -x /usr/bin/chromium ]]; then
    if [[ "$(id -u)" == 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        echo "test: the browser tests need Debian's chromium at /usr/bin/chromium;" \
            "install it as root: apt-get update && apt-get install -y chromium" >&2
        exit 1
    fi
    echo "test: installing Debian's chromium for the browser tests"
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null
fi
