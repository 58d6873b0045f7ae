# Sourced by scripts/test after _apt.sh: the HA tests (tests/ha) run three etcd members and three
# Patroni nodes. Install what they need when missing: Debian's etcd-server (its service is not
# used: the tests start their own members on free ports), and a venv for Patroni at .ha-venv built
# from /usr/bin/python3, which the non-root user running PostgreSQL can read (a Python under /root
# is not). The venv is rebuilt when tests/ha/requirements-patroni.txt changes. Without root or sudo,
# say what to do and go on: the HA tests then skip, saying what is missing.

ha_packages=()
command -v etcd >/dev/null 2>&1 || ha_packages+=(etcd-server)
if [[ ! -x /usr/bin/python3 ]]; then
    ha_packages+=(python3 python3-venv)
elif ! /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    ha_packages+=(python3-venv)
fi
if ((${#ha_packages[@]})); then
    apt_install "the HA tests" "${ha_packages[@]}" || echo "test: until then the HA tests skip" >&2
fi

ha_stamp=.ha-venv/.wagerbase-installed
ha_wanted="$(sha256sum tests/ha/requirements-patroni.txt | cut -d' ' -f1)"
if [[ "$(cat "$ha_stamp" 2>/dev/null || true)" != "$ha_wanted" ]] \
    && /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "test: installing Patroni into .ha-venv for the HA tests"
    rm -rf .ha-venv
    /usr/bin/python3 -m venv .ha-venv
    .ha-venv/bin/python -m pip install --quiet --disable-pip-version-check --progress-bar off \
        -r tests/ha/requirements-patroni.txt
    echo "$ha_wanted" >"$ha_stamp"
fi
