# Sourced by the scripts that need Debian packages. `apt_install WHAT PACKAGE...` installs them as
# root, or through sudo when there is one; otherwise it says what to do and returns 1.

apt_install() {
    local what="$1"
    shift
    local as_root=()
    if [[ "$(id -u)" != 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "test: $what need $*; install them as root:" \
                "apt-get update && apt-get install -y $*" >&2
            return 1
        fi
        as_root=(sudo)
    fi
    echo "test: installing $* for $what"
    "${as_root[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$@" >/dev/null
}
